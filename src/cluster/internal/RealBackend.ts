/**
 * What the real (subprocess) backends share besides their runner (`Runner.ts`): the
 * common spec options (`deadlineSeconds`, `checkpointDir`, `ignore`, `tee`, SPEC §14)
 * and their defaults, the rule for knobs a backend cannot express, the TEE claim, the
 * `TrainingCluster` wrapper, and small readers of their output.
 */
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { type AttestationReport, textReport, TeeType } from "../../attestation/AttestationReport.js"
import type { TrainedArtifact } from "../../domain/Artifact.js"
import { intIn, NonEmpty, positiveFinite } from "../../domain/Checks.js"
import { ClusterInvalid, type ClusterError, RecipeUnsupported } from "../../domain/Errors.js"
import { U64_MAX } from "../../domain/Money.js"
import { decodeRecipe, FIELDS, type Recipe } from "../../domain/Recipe.js"
import { OperatorKey } from "../../integrity/OperatorKey.js"
import * as Receipt from "../../integrity/Receipt.js"
import { type Isolation, TrainingCluster } from "../TrainingCluster.js"

/** The name of a recipe knob, as listed in an `ignore` option and in an artifact's `notApplied`. */
export const RecipeField = Schema.Literal(...FIELDS)
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
  /** Where run directories (configs, logs, checkpoints) are created (default: the user's cache, see `Runs`). */
  checkpointDir: Schema.optional(NonEmpty),
  /** Knobs the backend may leave unapplied instead of refusing the recipe. */
  ignore: Schema.optional(Schema.Array(RecipeField)),
  /** A TEE the operator declares the backend runs in; anything but `none` marks the cluster sealed. */
  tee: Schema.optional(TeeType)
}

/** A backend's cluster spec: `{"kind":<kind>,…}` with its options; unknown fields are rejected. */
export const backendSpec = <Kind extends string, Fields extends Schema.Struct.Fields>(
  kind: Kind,
  options: Schema.Struct<Fields>,
  identifier: string
) =>
  Schema.Struct({ kind: Schema.Literal(kind), ...options.fields }).annotations({
    identifier,
    parseOptions: { onExcessProperty: "error" }
  })

/** The names of the common options. */
export type CommonOption = keyof typeof commonOptionFields

/**
 * A backend's own options with their defaults: every field of `Options` but the
 * common ones, required, `undefined` removed. The type of a backend's `defaults`.
 */
export type Defaults<Options> = {
  readonly [K in Exclude<keyof Options, CommonOption>]-?: Exclude<Options[K], undefined>
}

/** `defaults`, with every field `options` sets replaced by the option. */
export const withDefaults = <D extends object>(
  defaults: D,
  options: { readonly [K in keyof D]?: D[K] | undefined }
): D => {
  const result = { ...defaults }
  for (const key in defaults) {
    const value = options[key]
    if (value !== undefined) result[key] = value
  }
  return result
}

/** Default deadline of one training run. */
export const DEFAULT_DEADLINE_SECONDS = 86_400

/** The common options with their defaults applied. */
export interface CommonSettings {
  readonly deadlineMillis: number
  /** Where run directories go (`undefined`: the user's cache). */
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
 * A rule about one recipe knob: `check` says why the backend cannot run the recipe as
 * asked (`undefined` when it can). A knob it cannot express is refused with
 * `RecipeUnsupported` naming the backend, the field and why — unless the operator
 * listed it in `ignore`, in which case it goes unapplied and the artifact's
 * `notApplied` says so. A `hard` rule (a limit of the framework) refuses whatever is ignored.
 */
export interface KnobRule<Settings> {
  readonly field: RecipeField
  readonly hard?: boolean
  readonly check: (recipe: Recipe, settings: Settings) => string | undefined
}

/**
 * A backend's knob check from its rules (pure), applied in order: the knobs left
 * unapplied, or the first refusal.
 */
export const knobRules = <Settings extends CommonSettings>(
  backend: string,
  rules: ReadonlyArray<KnobRule<Settings>>
) =>
(recipe: Recipe, settings: Settings): Either.Either<ReadonlyArray<RecipeField>, RecipeUnsupported> => {
  const notApplied: Array<RecipeField> = []
  for (const { field, hard, check } of rules) {
    const reason = check(recipe, settings)
    if (reason === undefined) continue
    if (hard === true || !settings.ignore.includes(field)) {
      return Either.left(new RecipeUnsupported({ backend, field, reason }))
    }
    notApplied.push(field)
  }
  return Either.right(notApplied)
}

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
): Effect.Effect<TrainingCluster["Type"], never, BackendContext | OperatorKey> =>
  Effect.zipWith(Effect.context<BackendContext>(), OperatorKey, (context, { key }) =>
    TrainingCluster.of({
      id: clusterId,
      ...sealing(clusterId, tee),
      train: (recipe, seed) =>
        decodeRecipe(recipe).pipe(
          Effect.flatMap((valid) => train(valid, seed & U64_MAX)),
          // the artifact (with its checkpoint's hash) carries a receipt under the operator's key (SPEC §15.1)
          Effect.map((artifact) => Receipt.sign(key, artifact)),
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

/** Options that contradict each other (found when the layer is built, before any run). */
export const incoherent = (backend: string, reason: string): ClusterInvalid =>
  new ClusterInvalid({ reason: `${backend} options: ${reason}` })

/** The mean of a non-empty list. */
export const mean = (values: ReadonlyArray<number>): number =>
  values.reduce((sum, x) => sum + x, 0) / values.length

/** A run's name from its artifact ref (`training:<16 hex>` → `trainmarket-<16 hex>`). */
export const runName = (ref: string): string => `trainmarket-${ref.slice(ref.indexOf(":") + 1)}`

/** The fields of a JSON object on one output line (`undefined` for anything else: text, arrays, broken JSON). */
export const jsonObject = (line: string): Readonly<Record<string, unknown>> | undefined => {
  const trimmed = line.trim()
  if (!trimmed.startsWith("{")) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(trimmed)
  } catch {
    return undefined
  }
  return asRecord(parsed)
}

/** A value as a record of fields, when it is a plain object. */
export const asRecord = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value)) : undefined
