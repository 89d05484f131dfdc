/**
 * The shared runner of the subprocess backends (SPEC §12). A backend is a descriptor
 * (`Backend`) of pure parts — its options' defaults and checks, the knobs it cannot
 * express, the plan of a run, a line parser, the result — plus how its processes are
 * supervised; `make` does the rest, in this order, for every run:
 *
 * 1. the recipe is validated and the seed taken as u64 (`backendCluster`);
 * 2. knobs the backend cannot express: `RecipeUnsupported`, or `notApplied` when the
 *    options `ignore` them — before anything is created or started;
 * 3. the paths it needs (a checkout, a script) exist, else `BackendUnavailable`;
 * 4. a fresh run directory (`Runs.make`: the backend's `checkpointDir` or the user's
 *    cache), the plan for it, its config files and directories written;
 * 5. launch under supervision (`Subprocess.ts`): every output line goes through the
 *    parser into the run's state and on to the `TrainingProgress` sink; a non-zero
 *    exit is `BackendFailed`; the deadline (on the Effect `Clock`) is `TrainingTimeout`
 *    and every process is killed;
 * 6. the result from the state (and the files the run left): loss and checkpoint, or
 *    `CheckpointMalformed`;
 * 7. the checkpoint's hash (`CheckpointHash`, SPEC §15.1), then the artifact.
 *
 * A run that fails or is interrupted anywhere after step 4 has its run directory
 * removed once its processes are gone; a successful run's stays (the artifact points
 * into it).
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import type { Schema, Scope } from "effect"
import { Effect, Either, Exit, FiberRef, Layer, Option, Stream, SubscriptionRef } from "effect"
import * as Artifact from "../../domain/Artifact.js"
import type { TrainedArtifact } from "../../domain/Artifact.js"
import { checkpointSha256 } from "../../domain/CheckpointHash.js"
import {
  type BackendFailed,
  BackendUnavailable,
  CheckpointMalformed,
  type ClusterError,
  type ClusterInvalid,
  type RecipeUnsupported
} from "../../domain/Errors.js"
import type { Recipe } from "../../domain/Recipe.js"
import type { OperatorKey } from "../../integrity/OperatorKey.js"
import type { Tagged } from "../../domain/Registry.js"
import type { DataOption } from "../../trainer/DataSource.js"
import { type ClusterKind, leaf, type Requirement } from "../ClusterKind.js"
import * as Runs from "../Runs.js"
import { currentJob, type ProgressEvent, progressSink, TrainingCluster } from "../TrainingCluster.js"
import { type BackendContext, backendCluster, type CommonSettings, type RecipeField } from "./RealBackend.js"
import * as Subprocess from "./Subprocess.js"

/** A file a run writes into its run directory before launching. */
export interface RunFile {
  readonly path: string
  readonly text: string
}

/** What one output line did: the run's new state, and what it tells a progress display. */
export interface Parsed<State> {
  readonly state: State
  readonly progress?: Omit<ProgressEvent, "clusterId" | "line"> | undefined
}

/** What a backend's supervision works with while its run is live. */
export interface Supervision<Settings, Plan, State> {
  readonly settings: Settings
  readonly plan: Plan
  readonly runDir: string
  /** Launch one process under supervision: its lines are parsed, it dies with the run. */
  readonly start: (
    spec: Subprocess.ProcessSpec
  ) => Effect.Effect<Subprocess.Running, BackendUnavailable, CommandExecutor.CommandExecutor | Scope.Scope>
  /** Launch every process and wait until all exit 0 (the first failure fails the run). */
  readonly runAll: (
    specs: ReadonlyArray<Subprocess.ProcessSpec>
  ) => Effect.Effect<void, BackendUnavailable | BackendFailed, CommandExecutor.CommandExecutor | Scope.Scope>
  /** The state the output has built so far. */
  readonly state: Effect.Effect<State>
  /** Wait until `select` finds something in the state (the final checkpoint announced, …). */
  readonly when: <A>(select: (state: State) => A | undefined) => Effect.Effect<A>
}

/** Everything known once the processes are gone, for `finish`. */
export interface Outcome<Settings, Plan, State, Done> {
  readonly recipe: Recipe
  readonly seed: bigint
  readonly settings: Settings
  readonly plan: Plan
  readonly runDir: string
  readonly state: State
  /** What the supervision returned. */
  readonly done: Done
}

/** A run's result: the claimed loss (provenance only) and where the trained weights are. */
export interface Result {
  readonly trainLoss: number
  readonly checkpoint: string
}

/** What a supervision may fail with (the deadline is the runner's). */
export type SuperviseError = BackendUnavailable | BackendFailed | CheckpointMalformed

/** A subprocess backend as a descriptor: pure parts, plus how its processes are supervised. */
export interface Backend<Options, Settings extends CommonSettings, Plan, State, Done> {
  /** The backend's name in errors, and the cluster id its artifacts record. */
  readonly name: string
  /** Apply the options' defaults; options that contradict each other are `ClusterInvalid` (when the layer is built). */
  readonly settings: (options: Options) => Effect.Effect<Settings, ClusterInvalid, FileSystem.FileSystem | Path.Path>
  /** What must be installed (`backends check`); `path` requirements are also checked before every run. */
  readonly requirements: (settings: Settings) => ReadonlyArray<Requirement>
  /** The knobs left unapplied (ignored by the options), or the first one it cannot express. */
  readonly unapplied: (recipe: Recipe, settings: Settings) => Either.Either<ReadonlyArray<RecipeField>, RecipeUnsupported>
  /** The run in `runDir`: configs, launches, what to expect. */
  readonly plan: (recipe: Recipe, seed: bigint, settings: Settings, runDir: string) => Either.Either<Plan, RecipeUnsupported>
  /** The files to write before launching. */
  readonly files: (plan: Plan) => ReadonlyArray<RunFile>
  /** Directories to create before launching (where processes write checkpoints). */
  readonly directories?: ((plan: Plan) => ReadonlyArray<string>) | undefined
  /** The state before any output. */
  readonly initial: State
  /** Read one output line. */
  readonly parse: (state: State, line: Subprocess.OutputLine, plan: Plan) => Parsed<State>
  /** Launch and supervise the processes until the run is over (inside the deadline; the run's scope kills them). */
  readonly supervise: (
    run: Supervision<Settings, Plan, State>
  ) => Effect.Effect<
    Done,
    SuperviseError,
    CommandExecutor.CommandExecutor | Scope.Scope | FileSystem.FileSystem | Path.Path
  >
  /** The step the run ends at (what a progress display counts towards), when the plan says. */
  readonly total?: ((plan: Plan) => number | undefined) | undefined
  /** The result, from what the run said and left on disk. */
  readonly finish: (
    outcome: Outcome<Settings, Plan, State, Done>
  ) => Effect.Effect<Result, CheckpointMalformed, FileSystem.FileSystem | Path.Path>
}

/** `BackendUnavailable` unless `target` exists (a working directory, a script of a checkout). */
const requirePath = (
  backend: string,
  requirement: Extract<Requirement, { readonly kind: "path" }>
): Effect.Effect<void, BackendUnavailable, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(requirement.path)).pipe(
    Effect.orElseSucceed(() => false),
    Effect.flatMap((exists) =>
      exists ? Effect.void : Effect.fail(
        new BackendUnavailable({
          backend,
          missing: `${requirement.what} ${requirement.path}${requirement.hint === undefined ? "" : ` (${requirement.hint})`}`
        })
      )
    )
  )

/** Create what a run needs on disk; a failure means the run directory is unusable. */
const prepare = (backend: string, files: ReadonlyArray<RunFile>, directories: ReadonlyArray<string>) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.zipRight(
      Effect.forEach(files, (file) =>
        fs.writeFileString(file.path, file.text).pipe(
          Effect.mapError((error) =>
            new BackendUnavailable({ backend, missing: `a writable run file ${file.path} (${error.message})` })
          )
        ), { discard: true }),
      Effect.forEach(directories, (directory) =>
        fs.makeDirectory(directory, { recursive: true }).pipe(
          Effect.mapError((error) =>
            new BackendUnavailable({ backend, missing: `a writable checkpoint directory (${error.message})` })
          )
        ), { discard: true })
    ))

/** One run of `backend` in a fresh run directory (steps 2 to 7 of the module doc). */
const train = <Options, Settings extends CommonSettings, Plan, State, Done>(
  backend: Backend<Options, Settings, Plan, State, Done>,
  settings: Settings,
  publish: (event: ProgressEvent) => Effect.Effect<void>,
  recipe: Recipe,
  seed: bigint
): Effect.Effect<TrainedArtifact, ClusterError, BackendContext> =>
  Effect.gen(function*() {
    const name = backend.name
    const notApplied = yield* backend.unapplied(recipe, settings)
    // every event of this run names its job (who it is for) and its run (recipe and seed)
    const job = yield* FiberRef.get(currentJob)
    const runRef = Artifact.ref({ recipe, trainSeed: seed })
    for (const requirement of backend.requirements(settings)) {
      if (requirement.kind === "path") yield* requirePath(name, requirement)
    }
    const inRunDirectory = (runDir: string) =>
      Effect.gen(function*() {
        const plan = yield* backend.plan(recipe, seed, settings, runDir)
        yield* prepare(name, backend.files(plan), backend.directories?.(plan) ?? [])
        const state = yield* SubscriptionRef.make(backend.initial)
        const total = backend.total?.(plan)
        const onLine = (line: Subprocess.OutputLine) =>
          Effect.flatMap(
            SubscriptionRef.modify(state, (current) => {
              const parsed = backend.parse(current, line, plan)
              return [parsed.progress ?? {}, parsed.state] as const
            }),
            (progress) => publish({ clusterId: name, job, ref: runRef, total, line: line.text, ...progress })
          )
        const supervise = { backend: name, onLine }
        const done = yield* backend.supervise({
          settings,
          plan,
          runDir,
          start: (spec) => Subprocess.start(spec, supervise),
          runAll: (specs) => Effect.asVoid(Subprocess.runAll(specs, supervise)),
          state: SubscriptionRef.get(state),
          when: (select) =>
            state.changes.pipe(
              Stream.filterMap((current) => Option.fromNullable(select(current))),
              Stream.runHead,
              Effect.flatMap(Option.match({ onNone: () => Effect.never, onSome: Effect.succeed }))
            )
        }).pipe(Subprocess.withDeadline({ clusterId: name, deadlineMillis: settings.deadlineMillis }))
        const outcome = { recipe, seed, settings, plan, runDir, state: yield* SubscriptionRef.get(state), done }
        const result = yield* backend.finish(outcome)
        const digest = yield* checkpointSha256(result.checkpoint).pipe(
          Effect.mapError((error) =>
            new CheckpointMalformed({ backend: name, reason: `the checkpoint ${result.checkpoint} cannot be hashed (${error.message})` })
          )
        )
        return {
          recipe,
          trainSeed: seed,
          trainLoss: result.trainLoss,
          clusterId: name,
          checkpoint: result.checkpoint,
          checkpointSha256: digest,
          notApplied
        } satisfies TrainedArtifact
      })
    return yield* Effect.acquireUseRelease(
      Runs.make(name, settings.checkpointDir, runRef),
      inRunDirectory,
      (runDir, exit) => (Exit.isSuccess(exit) ? Effect.void : Runs.remove(runDir))
    ).pipe(Effect.ensuring(publish({ clusterId: name, job, ref: runRef, phase: "ended", line: "" })))
  })

/** Build a backend's cluster from its (decoded) options; contradictory options are `ClusterInvalid`. */
export const make = <Options, Settings extends CommonSettings, Plan, State, Done>(
  backend: Backend<Options, Settings, Plan, State, Done>
) =>
(options: Options): Effect.Effect<TrainingCluster["Type"], ClusterInvalid, BackendContext | OperatorKey> =>
  Effect.gen(function*() {
    const settings = yield* backend.settings(options)
    const publish = yield* progressSink
    return yield* backendCluster(backend.name, settings.tee, (recipe, seed) => train(backend, settings, publish, recipe, seed))
  })

/** A backend's cluster as a layer, from its options. */
export const layerWith = <Options, Settings extends CommonSettings, Plan, State, Done>(
  backend: Backend<Options, Settings, Plan, State, Done>
) =>
(options: Options): Layer.Layer<TrainingCluster, ClusterInvalid, BackendContext | OperatorKey> =>
  Layer.effect(TrainingCluster, make(backend)(options))

/**
 * A backend's entry in the registry of cluster kinds: its spec (`{"kind":…}` plus its
 * options), its layer, its requirements, and the training data it names (if any).
 */
export const kind = <S extends Tagged & Options, Options, Settings extends CommonSettings, Plan, State, Done>(
  name: S["kind"],
  schema: Schema.Schema<S>,
  backend: Backend<Options, Settings, Plan, State, Done>,
  trainingData?: (spec: S) => DataOption | undefined
): ClusterKind<S> =>
  leaf(name, schema, {
    layer: layerWith(backend),
    requirements: (spec) => Effect.map(backend.settings(spec), backend.requirements),
    ...(trainingData === undefined ? {} : { trainingData })
  })
