/**
 * The Psyche backend (Nous Research's centralized server and DisTrO clients; SPEC §12).
 *
 * A recipe becomes the coordinator's `state.toml` plus one server and one client per
 * island. The shared runner (`internal/Runner.ts`) writes the file, streams every line
 * as progress and enforces the deadline; this module's supervision starts the server
 * first (the run waits until its port accepts connections), then the clients, each
 * with its own identity key, and watches for the end. The run ends when a client logs
 * `Saving to <dir>/<run_id>-step<N>` for the final step and the safetensors are on
 * disk: the adapter then stops the server and the clients itself (whether they exit on
 * their own is not documented; the run is `Finished` only after the cooldown that
 * announced the final checkpoint, so a client exiting 0 before that announcement is
 * `CheckpointMalformed` at once). A non-zero exit of any process, such an early exit,
 * the deadline, or interruption kill them all. The claimed loss is the mean over
 * clients of each client's last finite JSON loss line.
 *
 * What Psyche reads and prints (its coordinator state, command lines, log lines) lives
 * in `internal/PsycheFormat.ts`, with the facts from the framework's sources it relies on.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Duration, Effect, Either, Schema } from "effect"
import * as NodePath from "node:path"
import * as Artifact from "../domain/Artifact.js"
import { BackendFailed, CheckpointMalformed, type RecipeUnsupported } from "../domain/Errors.js"
import type { Recipe } from "../domain/Recipe.js"
import type { Requirement } from "./ClusterKind.js"
import * as Format from "./internal/PsycheFormat.js"
import {
  backendSpec,
  commonOptionFields,
  type CommonSettings,
  commonSettings,
  type Defaults,
  IntIn,
  knobRules,
  mean,
  NonEmpty,
  type RecipeField,
  runName,
  U32_MAX,
  withDefaults
} from "./internal/RealBackend.js"
import * as Runner from "./internal/Runner.js"
import * as Subprocess from "./internal/Subprocess.js"

/** What Psyche reads and prints (its coordinator state, command lines, identities, log lines). */
export * from "./internal/PsycheFormat.js"

/** The backend's name in errors. */
export const BACKEND = "psyche"

/** The cluster id recorded in artifacts. */
export const clusterId = BACKEND

/** The options of `{"kind":"psyche",…}` (SPEC §14); every field is optional. */
export const PsycheOptions = Schema.Struct({
  ...commonOptionFields,
  /** The server executable (default `psyche-centralized-server`). */
  server: Schema.optional(NonEmpty),
  /** The client executable (default `psyche-centralized-client`). */
  client: Schema.optional(NonEmpty),
  /** The Hugging Face repo of the initial model (`[model.LLM.checkpoint.Hub] repo_id`). */
  modelRepo: Schema.optional(NonEmpty),
  /** Training steps (rounds); Psyche needs at least 4 (default 25000). */
  totalSteps: Schema.optional(IntIn(Format.MIN_ROUNDS_PER_EPOCH, U32_MAX)),
  /** Samples per client per step; the global batch is islands × batchSize (default 8). */
  batchSize: Schema.optional(IntIn(1, 65535)),
  /** `max_seq_len` (default 2048). */
  seqLength: Schema.optional(IntIn(1, U32_MAX)),
  /** DisTrO's `compression_chunk`: tiles are chunk × chunk (default 64; at most 255 so topk fits a u16). */
  chunk: Schema.optional(IntIn(1, 255)),
  /** The server's port (default 20000). */
  port: Schema.optional(IntIn(1, 65535)),
  /**
   * How long to wait for the server to accept connections before starting the clients
   * anyway (default 10 s): clients start as soon as the port answers, and a server that
   * never answers on it is still given its clients.
   */
  serverStartSeconds: Schema.optional(
    Schema.Number.pipe(Schema.filter((x) => (Number.isFinite(x) && x >= 0) || "must be a finite number >= 0"))
  )
})
export type PsycheOptions = typeof PsycheOptions.Type

/** The cluster spec `{"kind":"psyche",…}`; unknown fields are rejected. */
export const PsycheSpec = backendSpec("psyche", PsycheOptions, "PsycheSpec")
export type PsycheSpec = typeof PsycheSpec.Type

/** The defaults of the Psyche options (values from Psyche's own example configs where it has them). */
export const defaults: Defaults<PsycheOptions> = {
  server: "psyche-centralized-server",
  client: "psyche-centralized-client",
  modelRepo: "emozilla/llama2-20m-init",
  totalSteps: 25_000,
  batchSize: 8,
  seqLength: 2048,
  chunk: 64,
  port: 20_000,
  serverStartSeconds: 10
}

/** The Psyche options with defaults applied. */
export interface PsycheSettings extends CommonSettings, Defaults<PsycheOptions> {}

/** Apply the defaults of the Psyche options. */
export const settings = (options: PsycheOptions, path: Path.Path): PsycheSettings => ({
  ...commonSettings(options, path),
  ...withDefaults(defaults, options)
})

/** What a Psyche cluster needs installed (checked by `trainmarket backends check`): the server and the client. */
export const requirements = (options: PsycheSettings): ReadonlyArray<Requirement> => [
  { kind: "executable", what: "server", command: options.server, versionArgs: ["--version"] },
  { kind: "executable", what: "client", command: options.client, versionArgs: ["--version"] }
]

/** How one client is launched. */
export interface ClientLaunch {
  readonly island: number
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** `RAW_IDENTITY_SECRET_KEY`: passed in the environment, never on the command line. */
  readonly env: Readonly<Record<string, string>>
  readonly checkpointDir: string
}

/** Everything one Psyche run needs. */
export interface PsychePlan {
  readonly runId: string
  readonly state: Format.PsycheState
  readonly toml: string
  readonly statePath: string
  readonly server: { readonly command: string; readonly args: ReadonlyArray<string> }
  readonly clients: ReadonlyArray<ClientLaunch>
  /** The step of the final checkpoint (`<run_id>-step<finalStep>`). */
  readonly finalStep: number
  readonly notApplied: ReadonlyArray<RecipeField>
}

/**
 * Check a recipe against what Psyche can express (pure): `innerSteps` other than 1
 * and `outerLr` (always) cannot be expressed — DisTrO syncs every step and has no
 * outer optimizer — so they are `RecipeUnsupported` unless ignored; islands beyond
 * Psyche's client and batch limits are refused whatever is ignored. Returns the
 * knobs left unapplied.
 */
export const unappliedKnobs = knobRules<PsycheSettings>(BACKEND, [
  {
    field: "innerSteps",
    check: (recipe) =>
      recipe.innerSteps === 1 ? undefined :
        `DisTrO synchronises every step; Psyche has no sync interval to set to ${recipe.innerSteps}`
  },
  {
    field: "outerLr",
    check: () =>
      "DisTrO applies the decoded update with the schedule's learning rate; Psyche has no outer optimizer or outer learning rate"
  },
  {
    field: "islands",
    hard: true,
    check: (recipe) =>
      recipe.islands <= Format.MAX_CLIENTS ? undefined :
        `Psyche's coordinator holds at most ${Format.MAX_CLIENTS} clients, not ${recipe.islands}`
  },
  {
    field: "islands",
    hard: true,
    check: (recipe, options) =>
      recipe.islands * options.batchSize <= 65535 ? undefined :
        `the global batch ${recipe.islands} × ${options.batchSize} exceeds Psyche's limit of 65535`
  }
])

/**
 * Map a recipe onto Psyche's state and launch (pure). Knobs: `islands` -> clients
 * (`min_clients` = `init_min_clients`), `innerLr` -> the constant schedule's `base_lr`,
 * `keepFraction` -> `compression_topk` of each chunk² tile; see `unappliedKnobs` for
 * what cannot be expressed.
 */
export const psycheConfig = (
  recipe: Recipe,
  seed: bigint,
  options: PsycheSettings,
  runDir: string
): Either.Either<PsychePlan, RecipeUnsupported> =>
  Either.map(unappliedKnobs(recipe, options), (notApplied) => {
    const runId = runName(Artifact.ref({ recipe, trainSeed: seed }))
    const rounds = Math.max(Format.MIN_ROUNDS_PER_EPOCH, options.totalSteps)
    const statePath = NodePath.join(runDir, "state.toml")
    const state = Format.coordinatorState(recipe, seed, options, { runId, rounds })
    return {
      runId,
      state,
      toml: Format.toml(state),
      statePath,
      server: { command: options.server, args: Format.serverArgs(statePath, options.port) },
      clients: Array.from({ length: recipe.islands }, (_, island): ClientLaunch => {
        const checkpointDir = NodePath.join(runDir, `client-${island}`)
        return {
          island,
          command: options.client,
          args: Format.clientArgs(runId, `localhost:${options.port}`, checkpointDir),
          env: { RAW_IDENTITY_SECRET_KEY: Format.identityKey(seed, island) },
          checkpointDir
        }
      }),
      finalStep: rounds,
      notApplied
    }
  })

/** What the clients said so far. */
export interface RunLog {
  /** Per client: the last finite loss line. */
  readonly losses: ReadonlyMap<number, Format.LossLine>
  /** The final checkpoint a client announced. */
  readonly final: string | undefined
  /** Every checkpoint announced. */
  readonly saved: ReadonlyArray<string>
}

/** Read one output line (pure): clients' loss and `Saving to` lines; the server's lines are progress only. */
export const parseLine = (log: RunLog, line: Subprocess.OutputLine, plan: PsychePlan): Runner.Parsed<RunLog> => {
  const island = line.island
  if (island === undefined) return { state: log }
  const loss = Format.parseLossLine(line.text)
  const saving = Format.parseSavingLine(line.text)
  const step = saving === undefined ? undefined : Format.checkpointStep(saving, plan.runId)
  const isFinal = step !== undefined && step >= plan.finalStep
  return {
    state: {
      losses: loss !== undefined && Number.isFinite(loss.loss) ? new Map(log.losses).set(island, loss) : log.losses,
      saved: saving === undefined ? log.saved : [...log.saved, saving],
      final: isFinal ? saving : log.final
    },
    progress: { island, ...(loss === undefined ? {} : { step: loss.step, loss: loss.loss }) }
  }
}

/** The safetensors in a checkpoint directory with their total size, when there are any. */
const safetensorsSize = (checkpoint: string): Effect.Effect<number | undefined, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const entries = yield* fs.readDirectory(checkpoint)
    const tensors = entries.filter((entry) => entry.endsWith(".safetensors"))
    if (tensors.length === 0) return undefined
    let total = 0
    for (const entry of tensors) {
      const info = yield* fs.stat(NodePath.join(checkpoint, entry))
      total += Number(info.size)
    }
    return total > 0 ? total : undefined
  }).pipe(Effect.orElseSucceed(() => undefined))

/** Wait until the checkpoint's safetensors exist and their size holds still between two looks (real time). */
const awaitWritten = (checkpoint: string): Effect.Effect<string, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    let previous: number | undefined
    for (;;) {
      const size = yield* safetensorsSize(checkpoint)
      if (size !== undefined && size === previous) return checkpoint
      previous = size
      yield* Effect.sleep(Duration.millis(100))
    }
  }).pipe(Subprocess.onRealClock)

const malformed = (reason: string) => new CheckpointMalformed({ backend: BACKEND, reason })

/**
 * Start the server, then (once its port answers, or after `serverStartSeconds`) the
 * clients, and wait for the end: the final checkpoint announced and written. A process
 * exiting non-zero fails the run; a client (or the server) exiting 0 before the final
 * checkpoint was announced fails it at once; if every client exits, the final
 * checkpoint must hold safetensors. Returns the final checkpoint.
 */
const supervise = ({ plan, runDir, settings: resolved, start, state, when }: Runner.Supervision<PsycheSettings, PsychePlan, RunLog>) =>
  Effect.gen(function*() {
    const server = yield* start({ label: "server", command: plan.server.command, args: plan.server.args, cwd: runDir })
    yield* Effect.raceFirst(
      Effect.raceFirst(
        Subprocess.waitForPort("localhost", resolved.port),
        Effect.sleep(Duration.millis(Math.round(resolved.serverStartSeconds * 1000))).pipe(Subprocess.onRealClock)
      ),
      Effect.flatMap(server.exited, (exit) =>
        Effect.fail(
          new BackendFailed({
            backend: `${BACKEND} (server)`,
            exitCode: exit.exitCode,
            stderrTail: exit.stderrTail === "" ? "the server exited before accepting clients" : exit.stderrTail
          })
        ))
    )
    const clients = yield* Effect.forEach(plan.clients, ({ island, command, args, env }) =>
      start({ label: `client ${island}`, island, command, args, env, cwd: runDir }))
    // The final checkpoint written to disk ends the run...
    const finished = Effect.flatMap(when((log) => log.final), awaitWritten)
    // ...unless a process fails first, or a client exits before the final checkpoint
    // was announced (its output is read to the end before `succeeded` completes, so
    // an announcement it made itself counts), or every client exits and the final
    // checkpoint holds no safetensors.
    const finalOf = (label: string) =>
      Effect.flatMap(state, (log) =>
        log.final !== undefined ? Effect.succeed(log.final) : Effect.fail(
          malformed(
            `${label} exited before the final step ${plan.finalStep}'s checkpoint was saved` +
              (log.saved.length === 0 ? " (no \"Saving to\" line at all)" : ` (saved: ${log.saved.join(", ")})`)
          )
        ))
    // The server never exits by itself: if it does, the run ends with the final
    // checkpoint it had (still checked on disk), or fails now rather than at the deadline.
    const serverWatch = Effect.flatMap(server.succeeded, () => Effect.flatMap(finalOf("the server"), awaitWritten))
    const clientsWatch = Effect.zipRight(
      Effect.forEach(clients, (client) => Effect.flatMap(client.succeeded, () => finalOf(client.label)), {
        concurrency: "unbounded",
        discard: true
      }),
      Effect.gen(function*() {
        const final = yield* finalOf("every client")
        if ((yield* safetensorsSize(final)) !== undefined) return final
        return yield* malformed(`the final checkpoint ${final} holds no safetensors`)
      })
    )
    return yield* Effect.raceFirst(finished, Effect.raceFirst(serverWatch, clientsWatch))
  })

/** The Psyche backend as the shared runner runs it: `state.toml`, a server, one client per island. */
export const backend: Runner.Backend<PsycheOptions, PsycheSettings, PsychePlan, RunLog, string> = {
  name: BACKEND,
  settings: (options) => Effect.map(Path.Path, (path) => settings(options, path)),
  requirements,
  unapplied: unappliedKnobs,
  plan: psycheConfig,
  files: (plan) => [{ path: plan.statePath, text: plan.toml }],
  directories: (plan) => plan.clients.map((client) => client.checkpointDir),
  initial: { losses: new Map(), final: undefined, saved: [] },
  parse: parseLine,
  total: (plan) => plan.finalStep,
  supervise,
  finish: ({ state, done }) => {
    const losses = [...state.losses.values()].map((line) => line.loss)
    return losses.length === 0
      ? Effect.fail(malformed("no client logged a finite \"integration_test_log_marker\":\"loss\" line"))
      : Effect.succeed({ trainLoss: mean(losses), checkpoint: done })
  }
}

/** Build the Psyche cluster (options already decoded). */
export const make = Runner.make(backend)

/** The Psyche cluster with chosen options (decoded from `{"kind":"psyche",…}` or built in code). */
export const layerWith = Runner.layerWith(backend)

/** The Psyche cluster with every default: the bare spec `{"kind":"psyche"}` (the executables on `PATH`). */
export const layer = layerWith({})

/** `{"kind":"psyche",…}` in the registry of cluster kinds (`ClusterSpec.ts`). */
export const kind = Runner.kind(BACKEND, PsycheSpec, backend)
