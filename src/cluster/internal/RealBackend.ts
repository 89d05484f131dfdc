/**
 * What the real (subprocess) backends share (SPEC §12, §14): the common spec options
 * (`deadlineSeconds`, `checkpointDir`, `ignore`, `tee`), the rule for knobs a backend
 * cannot express, run directories, checkpoint checks, and the TEE claim.
 */
import type { CommandExecutor } from "@effect/platform"
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { delimiter } from "node:path"
import { type AttestationReport, textReport, TeeType } from "../../attestation/AttestationReport.js"
import { BackendUnavailable, CheckpointMalformed, ClusterInvalid, RecipeUnsupported } from "../../domain/Errors.js"
import type { TrainedArtifact } from "../../domain/Artifact.js"
import type { ClusterError } from "../../domain/Errors.js"
import { intIn, NonEmpty, positiveFinite } from "../../domain/Checks.js"
import { U64_MAX } from "../../domain/Money.js"
import { decodeRecipe, type Recipe } from "../../domain/Recipe.js"
import { type Isolation, TrainingCluster } from "../TrainingCluster.js"
import * as Subprocess from "./Subprocess.js"

/** The name of a recipe knob, as listed in an `ignore` option and in an artifact's `notApplied`. */
export const RecipeField = Schema.Literal("islands", "innerSteps", "innerLr", "outerLr", "keepFraction")
  .annotations({ message: () => ({ message: "must be a recipe knob: islands, innerSteps, innerLr, outerLr or keepFraction", override: true }) })
export type RecipeField = typeof RecipeField.Type

/** An integer in `min..max`. */
export const IntIn = (min: number, max: number) => intIn(min, max)

/** A finite number above 0. */
export const PositiveFinite = positiveFinite()

export { NonEmpty }
export { U32_MAX } from "../../domain/Money.js"

/** The options every real backend accepts (SPEC §14). */
export const commonOptionFields = {
  /** Wall-clock budget of one training run, in seconds (default 86400). */
  deadlineSeconds: Schema.optional(PositiveFinite),
  /** Where run directories (configs, logs, checkpoints) are created (default: the OS temp directory). */
  checkpointDir: Schema.optional(NonEmpty),
  /** Knobs the backend may leave unapplied instead of refusing the recipe. */
  ignore: Schema.optional(Schema.Array(RecipeField)),
  /** A TEE the operator declares the backend runs in; anything but `none` marks the cluster sealed. */
  tee: Schema.optional(TeeType)
}

/** Default deadline of one training run. */
export const DEFAULT_DEADLINE_SECONDS = 86_400

/** The common options with their defaults applied. */
export interface CommonSettings {
  readonly deadlineMillis: number
  readonly checkpointDir: string | undefined
  readonly ignore: ReadonlyArray<RecipeField>
  readonly tee: TeeType
}

/** Apply the defaults of the common options; `checkpointDir` is made absolute. */
export const commonSettings = (
  options: {
    readonly deadlineSeconds?: number | undefined
    readonly checkpointDir?: string | undefined
    readonly ignore?: ReadonlyArray<RecipeField> | undefined
    readonly tee?: TeeType | undefined
  },
  path: Path.Path
): CommonSettings => ({
  deadlineMillis: Math.round((options.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS) * 1000),
  checkpointDir: options.checkpointDir === undefined ? undefined : path.resolve(options.checkpointDir),
  ignore: [...new Set(options.ignore ?? [])],
  tee: options.tee ?? "none"
})

/**
 * A knob the backend cannot express: refused with `RecipeUnsupported` naming the
 * backend, the field and why — unless the operator listed it in `ignore`, in which
 * case it goes unapplied and the artifact's `notApplied` says so.
 */
export const cannotExpress = (
  backend: string,
  ignore: ReadonlyArray<RecipeField>,
  field: RecipeField,
  reason: string
): Either.Either<RecipeField, RecipeUnsupported> =>
  ignore.includes(field) ? Either.right(field) : Either.left(new RecipeUnsupported({ backend, field, reason }))

/** How a backend presents itself: sealed with an operator's TEE claim, or shared. */
export const sealing = (
  clusterId: string,
  tee: TeeType
): { readonly isolation: Isolation; readonly attestation: Option.Option<AttestationReport> } =>
  tee === "none"
    ? { isolation: "shared", attestation: Option.none() }
    : { isolation: "sealed", attestation: Option.some(teeClaim(clusterId, tee)) }

/** The platform services a real backend runs its subprocesses and files with. */
export type BackendContext = CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path

/**
 * A real backend as a `TrainingCluster`: the recipe is validated and the seed taken as
 * u64 before `train` sees them, and the platform services are captured when the layer
 * is built, so the service's `train` needs nothing from its caller.
 */
export const backendCluster = (
  clusterId: string,
  tee: TeeType,
  train: (recipe: Recipe, trainSeed: bigint) => Effect.Effect<TrainedArtifact, ClusterError, BackendContext>
): Effect.Effect<TrainingCluster["Type"], never, BackendContext> =>
  Effect.map(Effect.context<BackendContext>(), (context) =>
    TrainingCluster.of({
      id: clusterId,
      ...sealing(clusterId, tee),
      train: (recipe, seed) =>
        decodeRecipe(recipe).pipe(
          Effect.flatMap((valid) => train(valid, seed & U64_MAX)),
          Effect.provide(context)
        )
    }))

/**
 * The report of a backend whose operator declared a TEE: the declared tee type,
 * evidence naming the backend, and a measurement that says nothing was measured. It is
 * the operator's claim, not a verified enclave (SPEC §11).
 */
export const teeClaim = (clusterId: string, tee: TeeType): AttestationReport =>
  textReport(tee, `tee-backend-claim:${clusterId}`, "operator-claim:not-verified")

/**
 * A fresh run directory for one training run, named after the run: inside
 * `checkpointDir` (created if needed) or the OS temp directory.
 */
export const makeRunDirectory = (
  backend: string,
  checkpointDir: string | undefined,
  prefix: string
): Effect.Effect<string, BackendUnavailable, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (checkpointDir === undefined) return yield* fs.makeTempDirectory({ prefix: `trainmarket-${prefix}` })
    yield* fs.makeDirectory(checkpointDir, { recursive: true })
    return yield* fs.makeTempDirectory({ directory: checkpointDir, prefix })
  }).pipe(
    Effect.mapError((error) =>
      new BackendUnavailable({
        backend,
        missing: `a writable checkpoint directory (${checkpointDir ?? "OS temp"}: ${error.message})`
      })
    )
  )

/** Write a text file of the run; a failure means the run directory is unusable. */
export const writeRunFile = (
  backend: string,
  file: string,
  text: string
): Effect.Effect<void, BackendUnavailable, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(file, text)).pipe(
    Effect.mapError((error) => new BackendUnavailable({ backend, missing: `a writable run file ${file} (${error.message})` }))
  )

/** `BackendUnavailable` unless `target` exists (a working directory, a script of a checkout). */
export const requirePath = (
  backend: string,
  target: string,
  what: string
): Effect.Effect<void, BackendUnavailable, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(target)).pipe(
    Effect.orElseSucceed(() => false),
    Effect.flatMap((exists) =>
      exists ? Effect.void : Effect.fail(new BackendUnavailable({ backend, missing: `${what} ${target}` }))
    )
  )

/** `CheckpointMalformed` unless `checkpoint` is a directory. */
export const requireCheckpointDirectory = (
  backend: string,
  checkpoint: string
): Effect.Effect<void, CheckpointMalformed, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(checkpoint)).pipe(
    Effect.map((info) => info.type === "Directory"),
    Effect.orElseSucceed(() => false),
    Effect.flatMap((isDirectory) =>
      isDirectory ? Effect.void : Effect.fail(
        new CheckpointMalformed({ backend, reason: `the reported checkpoint ${checkpoint} is not a directory on disk` })
      )
    )
  )

/** Options that contradict each other (found when the layer is built, before any run). */
export const incoherent = (backend: string, reason: string): ClusterInvalid =>
  new ClusterInvalid({ reason: `${backend} options: ${reason}` })

/** The mean of a non-empty list. */
export const mean = (values: ReadonlyArray<number>): number =>
  values.reduce((sum, x) => sum + x, 0) / values.length

/** A run's name from its artifact ref (`training:<16 hex>` → `trainmarket-<16 hex>`). */
export const runName = (ref: string): string => `trainmarket-${ref.slice(ref.indexOf(":") + 1)}`


/** Something a backend needs installed before it can train (what `backends check` looks for). */
export type Requirement =
  | {
    readonly kind: "executable"
    readonly what: string
    /** A name looked up on `PATH`, or a path. */
    readonly command: string
    /** Arguments that make it print its version. */
    readonly versionArgs: ReadonlyArray<string>
    /** Where to run the version query. */
    readonly cwd?: string | undefined
  }
  | { readonly kind: "path"; readonly what: string; readonly path: string }

/** The outcome of checking one requirement, without training anything. */
export interface RequirementCheck {
  readonly what: string
  readonly found: boolean
  /** The executable's name or the path looked for. */
  readonly target: string
  /** Where the executable was found. */
  readonly resolved?: string | undefined
  /** What the version query printed (`exitCode` absent when it did not finish in time). */
  readonly version?: {
    readonly args: ReadonlyArray<string>
    readonly exitCode: number | undefined
    readonly output: string
  } | undefined
}

/** How long a version query may take. */
export const VERSION_TIMEOUT_MILLIS = 10_000

const isExecutableFile = (file: string): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(file)).pipe(
    Effect.map((info) => info.type === "File" && (info.mode & 0o111) !== 0),
    Effect.orElseSucceed(() => false)
  )

/** Find an executable the way a shell would: a path as given, a bare name on `PATH`. */
export const resolveExecutable = (
  command: string
): Effect.Effect<string | undefined, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    if (command.includes("/")) {
      const file = path.resolve(command)
      return (yield* isExecutableFile(file)) ? file : undefined
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (dir === "") continue
      const file = path.join(dir, command)
      if (yield* isExecutableFile(file)) return file
    }
    return undefined
  })

/** Check one requirement: does it exist, and (for an executable) what does it print as its version. */
export const checkRequirement = (
  backend: string,
  requirement: Requirement
): Effect.Effect<RequirementCheck, never, FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    if (requirement.kind === "path") {
      const found = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(requirement.path)).pipe(
        Effect.orElseSucceed(() => false)
      )
      return { what: requirement.what, found, target: requirement.path }
    }
    const resolved = yield* resolveExecutable(requirement.command)
    if (resolved === undefined) return { what: requirement.what, found: false, target: requirement.command }
    const version = yield* Subprocess.probe(
      { label: `${requirement.what} version`, command: resolved, args: requirement.versionArgs, cwd: requirement.cwd },
      { backend, timeoutMillis: VERSION_TIMEOUT_MILLIS }
    ).pipe(
      Effect.map((probed) => ({ args: requirement.versionArgs, ...probed })),
      Effect.catchAll((error) => Effect.succeed({ args: requirement.versionArgs, exitCode: undefined, output: error.message }))
    )
    return { what: requirement.what, found: true, target: requirement.command, resolved, version }
  })
