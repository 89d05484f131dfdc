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
 * Facts used (from the framework's sources): the `Coordinator` / `CoordinatorConfig`
 * fields and `check()` rules of `shared/coordinator` (`rounds_per_epoch >= 4`,
 * `witness_nodes <= min_clients`, at most 100 clients, u16 batch sizes); progress.step
 * starts at 1, grows after each round, and the run is `Finished` after the cooldown in
 * which `step >= total_steps`; the `ConstantLR` and `Distro` definitions of
 * `shared/core` (`compression_topk`/`compression_chunk` are u16); the `Http` data
 * location with `Shuffle::Seeded([u8; 32])`; the client's `train` arguments and
 * `RAW_IDENTITY_SECRET_KEY` (32 bytes as hex) in `shared/client/src/cli.rs`; the
 * `integration_test_log_marker = "loss"` JSON lines; cooldown's
 * `Saving to <checkpoint_dir>/<run_id>-step<step>` (written by the epoch's checkpointer).
 */
import { FileSystem, Path } from "@effect/platform"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Duration, Effect, Either, Schema } from "effect"
import * as NodeNet from "node:net"
import * as NodePath from "node:path"
import * as Toml from "smol-toml"
import * as Artifact from "../domain/Artifact.js"
import { BackendFailed, CheckpointMalformed, type RecipeUnsupported } from "../domain/Errors.js"
import { wrapU64 } from "../domain/Money.js"
import type { Recipe } from "../domain/Recipe.js"
import type { Requirement } from "./ClusterKind.js"
import {
  asRecord,
  backendSpec,
  commonOptionFields,
  type CommonSettings,
  commonSettings,
  type Defaults,
  IntIn,
  jsonObject,
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

/** The backend's name in errors. */
export const BACKEND = "psyche"

/** The cluster id recorded in artifacts. */
export const clusterId = BACKEND

/** Psyche's coordinator holds at most this many clients (`SOLANA_MAX_NUM_CLIENTS`). */
export const MAX_CLIENTS = 100

/** Psyche needs at least this many rounds per epoch (its overlapped pipeline). */
export const MIN_ROUNDS_PER_EPOCH = 4

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
  totalSteps: Schema.optional(IntIn(MIN_ROUNDS_PER_EPOCH, U32_MAX)),
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

/**
 * Settings no option exposes, fixed at the values of Psyche's example configs: the
 * coordinator's timings (seconds), one witness, no verification, and the public
 * fineweb-edu set tokenized for llama2 (matching the default model).
 */
export const fixed = {
  warmupTime: 30,
  cooldownTime: 30,
  maxRoundTrainTime: 30,
  roundWitnessTime: 1,
  witnessNodes: 1,
  compressionDecay: 0.999,
  clipGradNorm: 1.0,
  dataBucket: "nous-pretraining-public-us",
  dataDirectory: "fineweb-edu-tokenized-llama2"
} as const

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

/** The coordinator state Psyche's server reads; integers are `bigint` so they serialise as TOML integers. */
export interface PsycheState {
  readonly run_id: string
  readonly run_state: "WaitingForMembers"
  readonly config: {
    readonly warmup_time: bigint
    readonly cooldown_time: bigint
    readonly rounds_per_epoch: bigint
    readonly max_round_train_time: bigint
    readonly round_witness_time: bigint
    readonly min_clients: bigint
    readonly init_min_clients: bigint
    readonly verification_percent: bigint
    readonly witness_nodes: bigint
    readonly global_batch_size_start: bigint
    readonly global_batch_size_end: bigint
    readonly global_batch_size_warmup_tokens: bigint
    readonly total_steps: bigint
  }
  readonly model: {
    readonly LLM: {
      readonly architecture: "HfLlama"
      readonly data_type: "Pretraining"
      readonly max_seq_len: bigint
      readonly cold_start_warmup_steps: bigint
      readonly checkpoint: { readonly Hub: { readonly repo_id: string } }
      readonly data_location: {
        readonly Http: {
          readonly token_size_in_bytes: "TwoBytes"
          readonly shuffle: { readonly Seeded: ReadonlyArray<bigint> }
          readonly location: { readonly Gcp: { readonly bucket_name: string; readonly filter_directory: string } }
        }
      }
      readonly lr_schedule: {
        readonly Constant: { readonly base_lr: number; readonly warmup_steps: bigint; readonly warmup_init_lr: number }
      }
      readonly optimizer: {
        readonly Distro: {
          readonly clip_grad_norm: number
          readonly compression_decay: number
          readonly compression_chunk: bigint
          readonly compression_topk: bigint
          readonly quantize_1bit: boolean
        }
      }
    }
  }
}

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
  readonly state: PsycheState
  readonly toml: string
  readonly statePath: string
  readonly server: { readonly command: string; readonly args: ReadonlyArray<string> }
  readonly clients: ReadonlyArray<ClientLaunch>
  /** The step of the final checkpoint (`<run_id>-step<finalStep>`). */
  readonly finalStep: number
  readonly notApplied: ReadonlyArray<RecipeField>
}

/** DisTrO keeps `topk` values of every chunk × chunk tile: topk = max(1, round(keepFraction × chunk²)). */
export const compressionTopk = (keepFraction: number, chunk: number): number =>
  Math.max(1, Math.round(keepFraction * chunk * chunk))

/** LR warmup: at most 1000 steps and a tenth of the run, so the recipe's lr is reached. */
export const warmupSteps = (totalSteps: number): number => Math.min(1000, Math.floor(totalSteps / 10))

const u64le = (value: bigint): Uint8Array => {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, wrapU64(value), true)
  return bytes
}

/**
 * The data shuffle seed (`Shuffle::Seeded([u8; 32])`): the train seed as 8
 * little-endian bytes followed by 24 zero bytes, so the train seed decides the data order.
 */
export const shuffleSeed = (seed: bigint): ReadonlyArray<number> => [...u64le(seed), ...new Array<number>(24).fill(0)]

/**
 * Client `index`'s identity (`RAW_IDENTITY_SECRET_KEY`, 64 hex digits): SHA-256 of
 * `trainmarket.psyche.identity.v1`, the seed (u64 LE) and the index (u32 LE).
 * Deterministic per run and distinct per client.
 */
export const identityKey = (seed: bigint, index: number): string => {
  const tag = new TextEncoder().encode("trainmarket.psyche.identity.v1")
  const indexBytes = new Uint8Array(4)
  new DataView(indexBytes.buffer).setUint32(0, index, true)
  return bytesToHex(sha256(new Uint8Array([...tag, ...u64le(seed), ...indexBytes])))
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
      recipe.islands <= MAX_CLIENTS ? undefined :
        `Psyche's coordinator holds at most ${MAX_CLIENTS} clients, not ${recipe.islands}`
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
    const islands = recipe.islands
    const globalBatch = islands * options.batchSize
    const runId = runName(Artifact.ref({ recipe, trainSeed: seed }))
    const rounds = Math.max(MIN_ROUNDS_PER_EPOCH, options.totalSteps)
    const statePath = NodePath.join(runDir, "state.toml")
    const state: PsycheState = {
      run_id: runId,
      run_state: "WaitingForMembers",
      config: {
        warmup_time: BigInt(fixed.warmupTime),
        cooldown_time: BigInt(fixed.cooldownTime),
        rounds_per_epoch: BigInt(rounds),
        max_round_train_time: BigInt(fixed.maxRoundTrainTime),
        round_witness_time: BigInt(fixed.roundWitnessTime),
        min_clients: BigInt(islands),
        init_min_clients: BigInt(islands),
        verification_percent: 0n,
        witness_nodes: BigInt(Math.min(fixed.witnessNodes, islands)),
        global_batch_size_start: BigInt(globalBatch),
        global_batch_size_end: BigInt(globalBatch),
        global_batch_size_warmup_tokens: 0n,
        total_steps: BigInt(rounds)
      },
      model: {
        LLM: {
          architecture: "HfLlama",
          data_type: "Pretraining",
          max_seq_len: BigInt(options.seqLength),
          cold_start_warmup_steps: 0n,
          checkpoint: { Hub: { repo_id: options.modelRepo } },
          data_location: {
            Http: {
              token_size_in_bytes: "TwoBytes",
              shuffle: { Seeded: shuffleSeed(seed).map(BigInt) },
              location: { Gcp: { bucket_name: fixed.dataBucket, filter_directory: fixed.dataDirectory } }
            }
          },
          lr_schedule: {
            Constant: { base_lr: recipe.innerLr, warmup_steps: BigInt(warmupSteps(rounds)), warmup_init_lr: 0 }
          },
          optimizer: {
            Distro: {
              clip_grad_norm: fixed.clipGradNorm,
              compression_decay: fixed.compressionDecay,
              compression_chunk: BigInt(options.chunk),
              compression_topk: BigInt(compressionTopk(recipe.keepFraction, options.chunk)),
              quantize_1bit: false
            }
          }
        }
      }
    }
    const serverAddress = `localhost:${options.port}`
    return {
      runId,
      state,
      toml: Toml.stringify(state, { numbersAsFloat: true }),
      statePath,
      server: {
        command: options.server,
        args: ["run", "--state", statePath, "--server-port", String(options.port), "--tui", "false"]
      },
      clients: Array.from({ length: islands }, (_, island): ClientLaunch => {
        const checkpointDir = NodePath.join(runDir, `client-${island}`)
        return {
          island,
          command: options.client,
          args: ["train", "--run-id", runId, "--server-addr", serverAddress, "--logs", "json", "--checkpoint-dir", checkpointDir],
          env: { RAW_IDENTITY_SECRET_KEY: identityKey(seed, island) },
          checkpointDir
        }
      }),
      finalStep: rounds,
      notApplied
    }
  })

/** A parsed JSON loss line of a client. */
export interface LossLine {
  readonly step: number
  /** NaN when the client logged no loss for the round (`null` in JSON). */
  readonly loss: number
}

/** The fields of a JSON log line: tracing's flattened fields, or its nested `fields` object. */
const jsonFields = (line: string): Readonly<Record<string, unknown>> | undefined => {
  const top = jsonObject(line)
  const nested = asRecord(top?.fields)
  return nested === undefined ? top : { ...top, ...nested }
}

/** Parse a client's `"integration_test_log_marker":"loss"` JSON line. */
export const parseLossLine = (line: string): LossLine | undefined => {
  const fields = jsonFields(line)
  if (fields === undefined || fields.integration_test_log_marker !== "loss") return undefined
  const step = fields.step
  if (typeof step !== "number" || !Number.isInteger(step)) return undefined
  const loss = fields.loss
  return { step, loss: typeof loss === "number" ? loss : Number.NaN }
}

const SAVING = /^Saving to (.+)$/

/** Parse `Saving to <path>`, as a JSON log line's message or as plain text. */
export const parseSavingLine = (line: string): string | undefined => {
  const fields = jsonFields(line)
  const message = fields === undefined ? line.trim() : fields.message
  if (typeof message !== "string") return undefined
  const match = SAVING.exec(message.trim()) ?? (fields === undefined ? /Saving to (\S.*)$/.exec(line.trim()) : null)
  return match?.[1]?.trim()
}

/** The step of a checkpoint directory `<dir>/<runId>-step<N>`, if it is this run's. */
export const checkpointStep = (checkpoint: string, runId: string): number | undefined => {
  const match = /-step(\d+)$/.exec(NodePath.basename(checkpoint))
  return match !== null && NodePath.basename(checkpoint) === `${runId}-step${match[1]}` ? Number(match[1]) : undefined
}

/** What the clients said so far. */
export interface RunLog {
  /** Per client: the last finite loss line. */
  readonly losses: ReadonlyMap<number, LossLine>
  /** The final checkpoint a client announced. */
  readonly final: string | undefined
  /** Every checkpoint announced. */
  readonly saved: ReadonlyArray<string>
}

/** Read one output line (pure): clients' loss and `Saving to` lines; the server's lines are progress only. */
export const parseLine = (log: RunLog, line: Subprocess.OutputLine, plan: PsychePlan): Runner.Parsed<RunLog> => {
  const island = line.island
  if (island === undefined) return { state: log }
  const loss = parseLossLine(line.text)
  const saving = parseSavingLine(line.text)
  const step = saving === undefined ? undefined : checkpointStep(saving, plan.runId)
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

/** Whether something accepts TCP connections on `host:port` now. */
const accepting = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    return Effect.sync(() => socket.destroy())
  })

/** Wait until the server's port accepts connections (polling in real time). */
const waitForPort = (host: string, port: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (!(yield* accepting(host, port))) yield* Effect.sleep(Duration.millis(50))
  }).pipe(Subprocess.onRealClock)

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
        waitForPort("localhost", resolved.port),
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
