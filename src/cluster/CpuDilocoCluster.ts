/**
 * The `cpu-diloco` backend (SPEC §13, §14): real DiLoCo training on this machine's CPU.
 *
 * A recipe becomes one run config for the package's own trainer (`trainmarket-trainer`,
 * `src/trainer/bin.ts`), written into a fresh run directory; the trainer is launched
 * with an argument vector and supervised by the runner the framework backends share
 * (`internal/Runner.ts`): its JSON Lines progress is streamed to the optional
 * `TrainingProgress` sink (step, loss, bytes sent), a run past its deadline is killed
 * and reported as `TrainingTimeout`, interruption kills it, a missing executable is
 * `BackendUnavailable`, a non-zero exit `BackendFailed`, and a run that leaves no valid
 * final `done` event or no readable checkpoint of the recipe it was given
 * `CheckpointMalformed`. The trainer is deterministic, so the same recipe and seed give
 * the same checkpoint bytes. The loss it reports is provenance only: the checkpoint
 * scorer (`scorer/CheckpointScorer.ts`) re-scores the weights on held-out data.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Either, Schema } from "effect"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { CheckpointMalformed, ClusterInvalid } from "../domain/Errors.js"
import type { Recipe } from "../domain/Recipe.js"
import { type Checkpoint, decodeCheckpoint } from "../trainer/Checkpoint.js"
import { DataOption, DataSpec, decodeDataSpec, MAX_CONTEXT, openDataSource } from "../trainer/DataSource.js"
import { encodeRunConfig, MAX_ISLANDS, runDefaults } from "../trainer/RunConfig.js"
import type { Requirement } from "./ClusterKind.js"
import {
  backendSpec,
  commonOptionFields,
  type CommonSettings,
  commonSettings,
  IntIn,
  jsonObject,
  knobRules,
  NonEmpty,
  withDefaults
} from "./internal/RealBackend.js"
import * as Runner from "./internal/Runner.js"
import type * as Subprocess from "./internal/Subprocess.js"

export { DataOption }

/** The backend's name in errors. */
export const BACKEND = "cpu-diloco"

/** The cluster id recorded in artifacts. */
export const clusterId = BACKEND

/** The options of `{"kind":"cpu-diloco",…}`; every field is optional (defaults train one recipe in seconds). */
export const CpuDilocoOptions = Schema.Struct({
  ...commonOptionFields,
  /**
   * The trainer to run: an executable path (run directly, so it needs a shebang) or a
   * name on `PATH`. Default: this package's `dist/trainer/bin.js`, run with this Node.
   */
  executable: Schema.optional(NonEmpty),
  /** Inner steps per island; rounds = ceil(budget / innerSteps) (default 256). */
  budget: Schema.optional(IntIn(1, 1_000_000)),
  /** Targets per inner step per island (default 32). */
  batchSize: Schema.optional(IntIn(1, 4096)),
  /** Symbols of context per prediction (default 4). */
  context: Schema.optional(IntIn(1, MAX_CONTEXT)),
  /** Hidden ReLU units (default 128). */
  hidden: Schema.optional(IntIn(1, 4096)),
  /** Embedding width per symbol (default 16). */
  embed: Schema.optional(IntIn(1, 1024)),
  /** Training data (default: the seeded order-2 Markov chain over 8 symbols, data seed 0). */
  data: Schema.optional(DataOption)
})
export type CpuDilocoOptions = typeof CpuDilocoOptions.Type

/** The cluster spec `{"kind":"cpu-diloco",…}`; unknown fields are rejected. */
export const CpuDilocoSpec = backendSpec("cpu-diloco", CpuDilocoOptions, "CpuDilocoSpec")
export type CpuDilocoSpec = typeof CpuDilocoSpec.Type

/**
 * Default deadline of one run: the default config trains in seconds, so a run still
 * going after ten minutes of a bigger config is stuck rather than slow; raise it with
 * `deadlineSeconds` for long budgets.
 */
export const DEFAULT_DEADLINE_SECONDS = 600

/** How the trainer is launched: the program, and the arguments before `--config <file>`. */
export interface Launcher {
  readonly command: string
  readonly prefix: ReadonlyArray<string>
  /** A file that must exist before launching (the trainer script Node runs), if any. */
  readonly script: string | undefined
}

/** The cpu-diloco options with defaults applied and paths made absolute. */
export interface CpuDilocoSettings extends CommonSettings {
  readonly launcher: Launcher
  readonly budget: number
  readonly batchSize: number
  readonly context: number
  readonly hidden: number
  readonly embed: number
  readonly data: DataSpec
}

/**
 * Where the package's own trainer lives, relative to this module: `dist/trainer/bin.js`
 * seen from `dist/cluster/CpuDilocoCluster.js` (the library), from `dist/bin.js` (the bundled
 * CLI), and from `src/cluster/CpuDilocoCluster.ts` (the source tree, e.g. under a test runner).
 */
export const trainerCandidates = (moduleUrl: string = import.meta.url): ReadonlyArray<string> =>
  ["../trainer/bin.js", "./trainer/bin.js", "../../dist/trainer/bin.js"].map((relative) =>
    fileURLToPath(new URL(relative, moduleUrl))
  )

/** The package's own trainer script: the first candidate that exists (the first one when none does). */
export const defaultTrainer: Effect.Effect<string, never, FileSystem.FileSystem> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const candidates = trainerCandidates()
  for (const file of candidates) {
    if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) return file
  }
  return candidates[0] ?? "dist/trainer/bin.js"
})

/** Apply the defaults, resolve paths, and check the data source opens; bad options are `ClusterInvalid`. */
export const settings = (
  options: CpuDilocoOptions
): Effect.Effect<CpuDilocoSettings, ClusterInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const decoded = decodeDataSpec(options.data ?? { kind: "markov" })
    if (Either.isLeft(decoded)) return yield* new ClusterInvalid({ reason: `${BACKEND} data: ${decoded.left.message}` })
    const data: DataSpec = decoded.right.kind === "text"
      ? { kind: "text", path: path.resolve(decoded.right.path) }
      : decoded.right
    // A text file that cannot be read, or has too few characters, is refused before any run.
    yield* Either.mapLeft(openDataSource(data), (error) => new ClusterInvalid({ reason: `${BACKEND} data: ${error.message}` }))
    const launcher: Launcher = options.executable === undefined
      ? yield* Effect.map(defaultTrainer, (script) => ({ command: process.execPath, prefix: [script], script }))
      : {
        command: options.executable.includes("/") ? path.resolve(options.executable) : options.executable,
        prefix: [],
        script: undefined
      }
    const { budget, batchSize, context, hidden, embed } = runDefaults
    const model: Pick<CpuDilocoSettings, "budget" | "batchSize" | "context" | "hidden" | "embed"> = { budget, batchSize, context, hidden, embed }
    return {
      ...commonSettings({ ...options, deadlineSeconds: options.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS }, path),
      ...withDefaults(model, options),
      launcher,
      data
    }
  })

/**
 * What a cpu-diloco cluster needs installed, in the form `trainmarket backends check`
 * reads: the trainer executable, or the package's own trainer script (also checked
 * before every run).
 */
export const requirements = (options: CpuDilocoSettings): ReadonlyArray<Requirement> =>
  options.launcher.script === undefined
    ? [{ kind: "executable", what: "trainer", command: options.launcher.command, versionArgs: ["--help"] }]
    : [{ kind: "path", what: "trainer script", path: options.launcher.script, hint: "build the package: npm run build" }]

/** The run config file the trainer reads (its JSON form), for a recipe, seed and output directory. */
export const runConfig = (recipe: Recipe, seed: bigint, options: CpuDilocoSettings, outDir: string) =>
  encodeRunConfig({
    recipe,
    seed,
    outDir,
    budget: options.budget,
    batchSize: options.batchSize,
    context: options.context,
    hidden: options.hidden,
    embed: options.embed,
    data: options.data,
    outerMomentum: runDefaults.outerMomentum,
    weightDecay: runDefaults.weightDecay,
    devTokens: runDefaults.devTokens,
    backend: runDefaults.backend
  })

/**
 * The recipes this trainer can run (pure): every knob is expressed exactly, but one
 * process simulates at most `MAX_ISLANDS` islands (each holds weights, moments and a
 * residual in memory), whatever the `ignore` option says. Nothing is ever left unapplied.
 */
export const unappliedKnobs = knobRules<CpuDilocoSettings>(BACKEND, [{
  field: "islands",
  hard: true,
  check: (recipe) =>
    recipe.islands <= MAX_ISLANDS ? undefined :
      `the CPU trainer simulates at most ${MAX_ISLANDS} islands in one process, not ${recipe.islands}`
}])

/** The trainer's final `done` event: the fields the cluster relies on (others are ignored). */
export const DoneEvent = Schema.Struct({
  event: Schema.Literal("done"),
  trainLoss: Schema.Number,
  checkpoint: NonEmpty
})
export type DoneEvent = typeof DoneEvent.Type

/** A progress line of the trainer, as far as the cluster reads it. */
export type TrainerLine =
  | { readonly kind: "start"; readonly entropyFloor: number | undefined }
  | { readonly kind: "step"; readonly step: number; readonly loss: number; readonly bytesSent: number }
  | { readonly kind: "sync"; readonly step: number; readonly bytesSent: number }
  | { readonly kind: "done"; readonly event: unknown }
  | { readonly kind: "other" }

const finiteNumber = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined

/** Read one stdout line of the trainer (pure): step and sync progress, the final event, or anything else. */
export const parseTrainerLine = (text: string): TrainerLine => {
  const fields = jsonObject(text)
  if (fields === undefined) return { kind: "other" }
  const step = finiteNumber(fields.step)
  const bytesSent = fields.event === "sync" ? finiteNumber(fields.bytesSentTotal) : finiteNumber(fields.bytesSent)
  if (fields.event === "done") return { kind: "done", event: fields }
  if (fields.event === "start") return { kind: "start", entropyFloor: finiteNumber(fields.entropyFloor) }
  if (fields.event === "step" && step !== undefined && bytesSent !== undefined && typeof fields.loss === "number") {
    return { kind: "step", step, loss: fields.loss, bytesSent }
  }
  if (fields.event === "sync" && step !== undefined && bytesSent !== undefined) return { kind: "sync", step, bytesSent }
  return { kind: "other" }
}

const sameNumber = (value: unknown, expected: number): boolean => typeof value === "number" && Object.is(value, expected)

/** Whether a checkpoint's provenance names the recipe and seed the run was given. */
const trainedFor = (checkpoint: Checkpoint, recipe: Recipe, seed: bigint): boolean => {
  const fields = jsonObject(checkpoint.training["recipe"] ?? "")
  return fields !== undefined && checkpoint.training["seed"] === seed.toString() &&
    sameNumber(fields.islands, recipe.islands) && sameNumber(fields.innerSteps, recipe.innerSteps) &&
    sameNumber(fields.innerLr, recipe.innerLr) && sameNumber(fields.outerLr, recipe.outerLr) &&
    sameNumber(fields.keepFraction, recipe.keepFraction)
}

/** What the trainer's output said so far. */
export interface RunOutput {
  readonly done: unknown
  readonly lastLine: string | undefined
  /** The latest step loss, repeated on sync progress so a status line keeps showing it. */
  readonly lastLoss: number | undefined
}

/**
 * Read one output line (pure). stdout carries the trainer's JSON Lines: step progress
 * (loss, bytes sent), sync progress (bytes sent, with the last step's loss), the final
 * event; stderr lines are progress only.
 */
export const parseLine = (output: RunOutput, line: Subprocess.OutputLine): Runner.Parsed<RunOutput> => {
  if (line.stream === "stderr") return { state: output }
  const parsed = parseTrainerLine(line.text)
  const next: RunOutput = {
    done: parsed.kind === "done" ? parsed.event : output.done,
    lastLine: line.text.trim() === "" ? output.lastLine : line.text,
    lastLoss: parsed.kind === "step" ? parsed.loss : output.lastLoss
  }
  return {
    state: next,
    progress: parsed.kind === "start"
      ? (parsed.entropyFloor === undefined ? {} : { entropyFloor: parsed.entropyFloor })
      : parsed.kind === "step"
      ? { step: parsed.step, loss: parsed.loss, bytesSent: parsed.bytesSent }
      : parsed.kind === "sync"
      ? { step: parsed.step, bytesSent: parsed.bytesSent, ...(next.lastLoss === undefined ? {} : { loss: next.lastLoss }) }
      : {}
  }
}

const malformed = (reason: string) => new CheckpointMalformed({ backend: BACKEND, reason })

/**
 * The run's result: the trainer's final `done` event with a finite loss, and the
 * checkpoint it names, readable and trained for this recipe and seed.
 */
const finish = ({ recipe, seed, runDir, state }: Runner.Outcome<CpuDilocoSettings, CpuDilocoPlan, RunOutput, void>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (state.done === undefined) {
      return yield* malformed(
        "the trainer exited 0 without a final {\"event\":\"done\"} line" +
          (state.lastLine === undefined ? " (it printed nothing)" : ` (last line: ${state.lastLine.slice(0, 200)})`)
      )
    }
    const done = yield* Schema.decodeUnknown(DoneEvent)(state.done).pipe(
      Effect.mapError(() => malformed("the final done event lacks a numeric trainLoss or a checkpoint path"))
    )
    if (!Number.isFinite(done.trainLoss)) {
      return yield* malformed(`the final done event's trainLoss is ${done.trainLoss}, not a finite number`)
    }
    const checkpoint = path.resolve(runDir, done.checkpoint)
    const bytes = yield* fs.readFile(checkpoint).pipe(
      Effect.mapError((error) =>
        malformed(
          error._tag === "SystemError" && error.reason === "NotFound"
            ? `the reported checkpoint ${checkpoint} does not exist`
            : `the reported checkpoint ${checkpoint} cannot be read (${error.message})`
        )
      )
    )
    const loaded = yield* Either.mapLeft(
      decodeCheckpoint(bytes),
      (error) => malformed(`the checkpoint ${checkpoint} is not valid: ${error.message}`)
    )
    if (!trainedFor(loaded, recipe, seed)) {
      return yield* malformed(`the checkpoint ${checkpoint} was not trained for this recipe and seed`)
    }
    return { trainLoss: done.trainLoss, checkpoint }
  })

/** One trainer run: its config file and what it holds. */
export interface CpuDilocoPlan {
  readonly configPath: string
  readonly config: ReturnType<typeof runConfig>
}

/** The cpu-diloco backend as the shared runner runs it: `run.json` in the run directory, one trainer process. */
export const backend: Runner.Backend<CpuDilocoOptions, CpuDilocoSettings, CpuDilocoPlan, RunOutput, void> = {
  name: BACKEND,
  settings,
  requirements,
  unapplied: unappliedKnobs,
  plan: (recipe, seed, resolved, runDir) =>
    Either.right({ configPath: NodePath.join(runDir, "run.json"), config: runConfig(recipe, seed, resolved, runDir) }),
  files: (plan) => [{ path: plan.configPath, text: `${JSON.stringify(plan.config, null, 2)}\n` }],
  initial: { done: undefined, lastLine: undefined, lastLoss: undefined },
  parse: parseLine,
  total: (plan) => plan.config.budget,
  supervise: ({ settings: resolved, plan, runDir, runAll }) =>
    runAll([{
      label: "trainer",
      command: resolved.launcher.command,
      args: [...resolved.launcher.prefix, "--config", plan.configPath],
      cwd: runDir
    }]),
  finish
}

/** Build the cpu-diloco cluster (options already decoded); unusable options are `ClusterInvalid`. */
export const make = Runner.make(backend)

/** The cpu-diloco cluster with chosen options (decoded from `{"kind":"cpu-diloco",…}` or built in code). */
export const layerWith = Runner.layerWith(backend)

/** The cpu-diloco cluster with every default: the bare spec `{"kind":"cpu-diloco"}`. */
export const layer = layerWith({})

/** `{"kind":"cpu-diloco",…}` in the registry of cluster kinds; its `data` is what a checkpoint scorer beside it holds out from. */
export const kind = Runner.kind(BACKEND, CpuDilocoSpec, backend, (spec) => spec.data)
