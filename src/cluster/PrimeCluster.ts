/**
 * The `prime` backend (Prime Intellect's DiLoCo trainer, formerly ZeroBand; SPEC §12).
 *
 * A recipe becomes one TOML config read by `src/zeroband/train.py` (passed as
 * `@config.toml`) plus one `torchrun` job per island, launched concurrently with the
 * `GLOBAL_*` environment DiLoCo uses to find its peers. The shared runner
 * (`internal/Runner.ts`) does the rest: every line is progress, the first island to
 * fail fails the run and the others are killed, a deadline kills them all. The result
 * is parsed from what the islands log — each island's last `step: n, loss: x` line
 * (the claimed loss is their mean) and `Saved checkpoint to <path>` — and the
 * checkpoint is checked on disk. Everything here is a claim for provenance; the
 * referee re-scores.
 *
 * What prime reads and prints (its TOML config, the launch line, its log lines) lives
 * in `internal/PrimeFormat.ts`, with the facts from the framework's sources it relies on.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Either, Schema } from "effect"
import * as NodePath from "node:path"
import * as Artifact from "../domain/Artifact.js"
import { CheckpointMalformed, type ClusterInvalid, type RecipeUnsupported } from "../domain/Errors.js"
import type { Recipe } from "../domain/Recipe.js"
import type { Requirement } from "./ClusterKind.js"
import * as Format from "./internal/PrimeFormat.js"
import {
  backendSpec,
  commonOptionFields,
  type CommonSettings,
  commonSettings,
  type Defaults,
  incoherent,
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

/** What prime reads and prints (its TOML config, launch line, step arithmetic, log lines). */
export * from "./internal/PrimeFormat.js"

/** The backend's name in errors. */
export const BACKEND = "prime"

/** The cluster id recorded in artifacts. */
export const clusterId = BACKEND

/** The options of `{"kind":"prime",…}` (SPEC §14); every field is optional. */
export const PrimeOptions = Schema.Struct({
  ...commonOptionFields,
  /** The argv prefix that starts one island (default `["torchrun"]`). */
  launcher: Schema.optional(Schema.NonEmptyArray(NonEmpty)),
  /** The prime checkout the islands run in (default: the current directory). */
  workdir: Schema.optional(NonEmpty),
  /** GPUs (torchrun workers) per island (default 1). */
  gpusPerIsland: Schema.optional(IntIn(1, 1024)),
  /** `name_model` (default `150M`). */
  model: Schema.optional(Format.ModelPreset),
  /** `type_model` (default `llama3`). */
  modelType: Schema.optional(Format.ModelType),
  /** `[optim] batch_size`, samples per island per step (default 512). */
  batchSize: Schema.optional(IntIn(1, 2 ** 31 - 1)),
  /** `[train] micro_bs` (default 16). */
  microBatch: Schema.optional(IntIn(1, 2 ** 31 - 1)),
  /** `[optim] total_steps`, inner steps, rounded up to a multiple of `innerSteps` (default 88000). */
  totalSteps: Schema.optional(IntIn(1, U32_MAX)),
  /** `[data] seq_length` (default 2048). */
  seqLength: Schema.optional(IntIn(1, 2 ** 31 - 1)),
  /** `[data] dataset_name_or_paths` (default `datasets/fineweb-edu`). */
  dataset: Schema.optional(NonEmpty),
  /** `[data] fake` (default false). */
  fakeData: Schema.optional(Schema.Boolean),
  /** First port of the run: the global store, then one rendezvous port per island (default 10000). */
  basePort: Schema.optional(IntIn(1, 65535))
})
export type PrimeOptions = typeof PrimeOptions.Type

/** The cluster spec `{"kind":"prime",…}`; unknown fields are rejected. */
export const PrimeSpec = backendSpec("prime", PrimeOptions, "PrimeSpec")
export type PrimeSpec = typeof PrimeSpec.Type

/** The defaults of the prime options (the framework's own defaults where it has one). */
export const defaults: Defaults<PrimeOptions> = {
  launcher: ["torchrun"],
  workdir: ".",
  gpusPerIsland: 1,
  model: "150M",
  modelType: "llama3",
  batchSize: 512,
  microBatch: 16,
  totalSteps: 88_000,
  seqLength: 2048,
  dataset: "datasets/fineweb-edu",
  fakeData: false,
  basePort: 10_000
}

/** The prime options with defaults applied and paths made absolute. */
export interface PrimeSettings extends CommonSettings, Defaults<PrimeOptions> {}

/**
 * Apply defaults and check what prime would reject at startup: the batch must split
 * evenly over an island's GPUs and then into micro-batches.
 */
export const settings = (options: PrimeOptions, path: Path.Path): Either.Either<PrimeSettings, ClusterInvalid> => {
  const own = withDefaults(defaults, options)
  const resolved: PrimeSettings = { ...commonSettings(options, path), ...own, workdir: path.resolve(own.workdir) }
  const { batchSize, gpusPerIsland, microBatch, basePort } = resolved
  if (batchSize % gpusPerIsland !== 0) {
    return Either.left(incoherent(BACKEND, `batchSize ${batchSize} is not divisible by gpusPerIsland ${gpusPerIsland}`))
  }
  const perGpu = batchSize / gpusPerIsland
  if (perGpu % microBatch !== 0) {
    return Either.left(incoherent(BACKEND, `microBatch ${microBatch} does not divide the ${perGpu} samples on each GPU`))
  }
  if (basePort + gpusPerIsland > 65535) {
    return Either.left(incoherent(BACKEND, `basePort ${basePort} leaves no room for the island ports`))
  }
  return Either.right(resolved)
}

/**
 * What a prime cluster needs installed (checked by `trainmarket backends check`): the
 * launcher (asked for `--version` in the checkout), the checkout and its training
 * script (these two are also checked before every run).
 */
export const requirements = (options: PrimeSettings): ReadonlyArray<Requirement> => [
  {
    kind: "executable",
    what: "launcher",
    command: options.launcher[0],
    versionArgs: [...options.launcher.slice(1), "--version"],
    cwd: options.workdir
  },
  { kind: "path", what: "working directory", path: options.workdir },
  { kind: "path", what: "training script", path: NodePath.join(options.workdir, Format.TRAIN_SCRIPT) }
]

/** How one island is launched. */
export interface IslandLaunch {
  readonly island: number
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  /** The island's own config file (`@<file>`) and its text: the run's settings, with the island's checkpoint directory. */
  readonly configPath: string
  readonly toml: string
  /** The island's own checkpoint directory (`[ckpt] path` of its config). */
  readonly checkpointPath: string
  readonly rendezvousPort: number
}

/** Everything one prime run needs: the islands with their config files, what was not applied. */
export interface PrimePlan {
  readonly runName: string
  /** The run's config; island i's file differs only in `[ckpt] path` (its own directory). */
  readonly document: Format.PrimeDocument
  readonly islands: ReadonlyArray<IslandLaunch>
  /** Inner steps the run trains (`total_steps`, a multiple of `inner_steps`). */
  readonly totalSteps: number
  /** Where each island's final checkpoint lands (`<ckpt path>/step_<totalSteps>`). */
  readonly finalCheckpoints: ReadonlyArray<string>
  readonly notApplied: ReadonlyArray<RecipeField>
}

/**
 * Check a recipe against what prime can express (pure): `keepFraction` 1 maps to
 * `compression = "no"`; any other value cannot be expressed (`RecipeUnsupported`
 * unless ignored, then it runs uncompressed). Islands whose ports would pass 65535, or
 * a step count too large for a config, are refused whatever is ignored. Returns the
 * knobs left unapplied.
 */
export const unappliedKnobs = knobRules<PrimeSettings>(BACKEND, [
  {
    field: "keepFraction",
    check: (recipe) =>
      recipe.keepFraction === 1 ? undefined : `prime's [diloco] compression is only "no" or "uint8" (int8 quantisation of ` +
        `the whole pseudo-gradient); it cannot keep a fraction ${recipe.keepFraction} of it`
  },
  {
    field: "islands",
    hard: true,
    check: (recipe, options) => {
      const lastPort = options.basePort + options.gpusPerIsland + recipe.islands - 1
      return lastPort <= 65535 ? undefined : `${recipe.islands} islands need rendezvous ports up to ${lastPort} from ` +
        `basePort ${options.basePort}, past 65535`
    }
  },
  {
    field: "innerSteps",
    hard: true,
    check: (recipe, options) =>
      Number.isSafeInteger(Format.roundedTotalSteps(options.totalSteps, recipe.innerSteps)) ? undefined :
        `rounding totalSteps up to a multiple of innerSteps ${recipe.innerSteps} gives more steps than a config can hold`
  }
])

/**
 * Map a recipe onto prime's config and launch (pure). Knobs: `innerSteps` ->
 * `[diloco] inner_steps`, `outerLr` -> `[diloco] outer_lr`, `innerLr` -> `[optim.optim] lr`,
 * `islands` -> one torchrun job per island, `keepFraction` -> `[diloco] compression`
 * (see `unappliedKnobs`). Each island reads its own copy of the config whose `[ckpt]
 * path` is its own directory, so islands on one machine never write the same files,
 * and its command line is exactly the framework's launch line (data rank and world size).
 */
export const primeConfig = (
  recipe: Recipe,
  seed: bigint,
  options: PrimeSettings,
  runDir: string
): Either.Either<PrimePlan, RecipeUnsupported> =>
  Either.map(unappliedKnobs(recipe, options), (notApplied) => {
    const totalSteps = Format.roundedTotalSteps(options.totalSteps, recipe.innerSteps)
    const name = runName(Artifact.ref({ recipe, trainSeed: seed }))
    const checkpointBase = NodePath.join(runDir, "ckpt")
    const islands = Array.from({ length: recipe.islands }, (_, island): IslandLaunch => {
      const checkpointPath = NodePath.join(checkpointBase, `island-${island}`)
      const configPath = NodePath.join(runDir, `config-island-${island}.toml`)
      const line = Format.islandLine(options.launcher, options.gpusPerIsland, options.basePort, island, recipe.islands, configPath)
      const own = Format.document(recipe, options, { name, totalSteps, checkpointPath })
      return { island, ...line, cwd: options.workdir, configPath, toml: Format.toml(own), checkpointPath }
    })
    return {
      runName: name,
      document: Format.document(recipe, options, { name, totalSteps, checkpointPath: checkpointBase }),
      islands,
      totalSteps,
      finalCheckpoints: islands.map((launch) => NodePath.join(launch.checkpointPath, `step_${totalSteps}`)),
      notApplied
    }
  })

/** What one island logged so far: its last step line and every checkpoint it saved. */
export interface IslandOutcome {
  readonly lastStep: Format.StepLine | undefined
  readonly checkpoints: ReadonlyArray<string>
}

/** What the islands logged so far, by island. */
export type PrimeState = ReadonlyMap<number, IslandOutcome>

/**
 * Read one line of an island (pure). Prime logs to stderr; a line of the same shape on
 * stdout (another logger setup) counts too.
 */
export const parseLine = (
  state: PrimeState,
  line: { readonly island: number | undefined; readonly text: string }
): Runner.Parsed<PrimeState> => {
  const island = line.island ?? 0
  const step = Format.parseStepLine(line.text)
  const checkpoint = Format.parseCheckpointLine(line.text)
  const outcome = state.get(island) ?? { lastStep: undefined, checkpoints: [] }
  const next = step !== undefined
    ? { ...outcome, lastStep: step }
    : checkpoint !== undefined
    ? { ...outcome, checkpoints: [...outcome.checkpoints, checkpoint] }
    : undefined
  return {
    state: next === undefined ? state : new Map(state).set(island, next),
    progress: { island, ...(step === undefined ? {} : { step: step.step, loss: step.loss }) }
  }
}

const malformed = (reason: string) => new CheckpointMalformed({ backend: BACKEND, reason })

/** `CheckpointMalformed` unless `checkpoint` is a directory. */
const requireDirectory = (checkpoint: string): Effect.Effect<void, CheckpointMalformed, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(checkpoint)).pipe(
    Effect.map((info) => info.type === "Directory"),
    Effect.orElseSucceed(() => false),
    Effect.flatMap((isDirectory) =>
      isDirectory ? Effect.void : Effect.fail(malformed(`the reported checkpoint ${checkpoint} is not a directory on disk`))
    )
  )

/**
 * The run's result: every island logged a finite last loss (the claim is their mean)
 * and saved the final step's checkpoint, which is a directory on disk; the artifact
 * points at island 0's.
 */
const finish = ({ plan, settings: resolved, state }: Runner.Outcome<PrimeSettings, PrimePlan, PrimeState, void>) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const losses: Array<number> = []
    for (const launch of plan.islands) {
      const outcome = state.get(launch.island)
      const last = outcome?.lastStep
      if (last === undefined) {
        return yield* malformed(`island ${launch.island} exited 0 without a "[Rank 0] step: n, loss: x" line`)
      }
      if (!Number.isFinite(last.loss)) {
        return yield* malformed(`island ${launch.island}'s last loss (step ${last.step}) is ${last.loss}, not a finite number`)
      }
      losses.push(last.loss)
      const saved = outcome?.checkpoints.at(-1)
      const expected = plan.finalCheckpoints[launch.island] ?? ""
      if (saved === undefined) {
        return yield* malformed(`island ${launch.island} never logged "Saved checkpoint to <path>" (expected ${expected})`)
      }
      if (path.resolve(resolved.workdir, saved) !== expected) {
        return yield* malformed(`island ${launch.island}'s last checkpoint is ${saved}, not the final step's ${expected}`)
      }
      yield* requireDirectory(expected)
    }
    return { trainLoss: mean(losses), checkpoint: plan.finalCheckpoints[0] ?? "" }
  })

/** The prime backend as the shared runner runs it: one TOML file and one torchrun job per island. */
export const backend: Runner.Backend<PrimeOptions, PrimeSettings, PrimePlan, PrimeState, void> = {
  name: BACKEND,
  settings: (options) => Effect.flatMap(Path.Path, (path) => settings(options, path)),
  requirements,
  unapplied: unappliedKnobs,
  plan: primeConfig,
  files: (plan) => plan.islands.map((island) => ({ path: island.configPath, text: island.toml })),
  initial: new Map(),
  parse: parseLine,
  total: (plan) => plan.totalSteps,
  supervise: ({ plan, runAll }) =>
    runAll(plan.islands.map(({ island, command, args, env, cwd }) => ({ label: `island ${island}`, island, command, args, env, cwd }))),
  finish
}

/** Build the prime cluster (options already decoded); incoherent options are `ClusterInvalid`. */
export const make = Runner.make(backend)

/** The prime cluster with chosen options (decoded from `{"kind":"prime",…}` or built in code). */
export const layerWith = Runner.layerWith(backend)

/** The prime cluster with every default: the bare spec `{"kind":"prime"}` (torchrun in the current directory). */
export const layer = layerWith({})

/** `{"kind":"prime",…}` in the registry of cluster kinds (`ClusterSpec.ts`). */
export const kind = Runner.kind(BACKEND, PrimeSpec, backend)
