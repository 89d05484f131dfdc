/**
 * Trained artifacts (SPEC §2): what a cluster returns. `trainLoss` is the cluster's
 * own claim and is provenance only — the referee re-scores and never pays on it.
 */
import { Effect, Schema } from "effect"
import { Sha256Hex } from "./CheckpointHash.js"
import { ArtifactInvalid, type BadInput, type RecipeInvalid } from "./Errors.js"
import * as Json from "../files/Json.js"
import { Seed, U64_MAX } from "./Money.js"
import { Recipe } from "./Recipe.js"

/** A trained artifact with its provenance. */
export const TrainedArtifact = Schema.Struct({
  recipe: Recipe,
  trainSeed: Seed,
  /** The cluster's claimed training loss (lower is better). Never paid on. */
  trainLoss: Schema.Number,
  /** Which cluster trained it. */
  clusterId: Schema.String,
  /** Where a real backend left the trained weights; absent for simulated training. */
  checkpoint: Schema.optional(Schema.String),
  /**
   * The checkpoint's hash (`CheckpointHash.checkpointSha256`), taken by the cluster right
   * after training, so a scorer can tell the bytes changed since (SPEC §15.1).
   */
  checkpointSha256: Schema.optional(Sha256Hex),
  /** Recipe knobs the backend was allowed to leave unapplied (its `ignore` option). */
  notApplied: Schema.optional(Schema.Array(Schema.String)),
  /** `hmac-sha256:<64 hex>` under the operator's key over the rest of the artifact (SPEC §15.1). */
  receipt: Schema.optional(Schema.String)
}).annotations({ identifier: "TrainedArtifact" })
export type TrainedArtifact = typeof TrainedArtifact.Type

const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const float64Bits = (x: number): bigint => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x, true)
  return view.getBigUint64(0, true)
}

/**
 * The artifact's content reference: `training:` + FNV-1a 64 over the little-endian
 * bytes of islands, innerSteps, the bits of innerLr, outerLr, keepFraction, trainSeed.
 */
export const ref = (artifact: Pick<TrainedArtifact, "recipe" | "trainSeed">): string => {
  const { recipe } = artifact
  const words = [
    BigInt(recipe.islands),
    BigInt(recipe.innerSteps),
    float64Bits(recipe.innerLr),
    float64Bits(recipe.outerLr),
    float64Bits(recipe.keepFraction),
    artifact.trainSeed & U64_MAX
  ]
  let hash = FNV_OFFSET
  for (const word of words) {
    for (let byte = 0n; byte < 8n; byte++) {
      hash ^= (word >> (byte * 8n)) & 0xffn
      hash = (hash * FNV_PRIME) & U64_MAX
    }
  }
  return `training:${hash.toString(16).padStart(16, "0")}`
}

/** The cluster ids of the real training backends (each appears as itself inside a composition's id). */
export const REAL_BACKEND_IDS: ReadonlyArray<string> = ["prime", "psyche", "cpu-diloco"]

const realBackendToken = new RegExp(`(^|[(,])(${REAL_BACKEND_IDS.join("|")})(?=[),]|$)`)

/**
 * True when the artifact came from a real backend: it carries trained weights, or its
 * provenance names a real backend (alone or inside a hierarchy or sealed wrapper), so
 * dropping the checkpoint field does not turn a real run's loss claim into something
 * a simulated referee would score.
 */
export const isReal = (artifact: TrainedArtifact): boolean =>
  artifact.checkpoint !== undefined || realBackendToken.test(artifact.clusterId)

/**
 * Check what a cluster returned: its claim must be finite, and it must be the
 * recipe and seed that were asked for (a cluster cannot swap the recipe it was paid to train).
 */
export const validate = (
  artifact: TrainedArtifact,
  expected?: { readonly recipe: Recipe; readonly seed: bigint }
): Effect.Effect<TrainedArtifact, ArtifactInvalid> => {
  if (!Number.isFinite(artifact.trainLoss)) {
    return Effect.fail(new ArtifactInvalid({ reason: `trainLoss ${artifact.trainLoss} is not finite` }))
  }
  if (expected !== undefined) {
    const r = artifact.recipe
    const e = expected.recipe
    const same = r.islands === e.islands && r.innerSteps === e.innerSteps && Object.is(r.innerLr, e.innerLr) &&
      Object.is(r.outerLr, e.outerLr) && Object.is(r.keepFraction, e.keepFraction)
    if (!same) return Effect.fail(new ArtifactInvalid({ reason: "the cluster returned a different recipe" }))
    if (artifact.trainSeed !== expected.seed) {
      return Effect.fail(new ArtifactInvalid({ reason: "the cluster returned a different seed" }))
    }
  }
  return Effect.succeed(artifact)
}

/** The JSON shape of an artifact: the artifact plus its `ref` (checked when present). */
export const ArtifactJson = Schema.Struct({
  ...TrainedArtifact.fields,
  ref: Schema.optional(Schema.String)
})
export type ArtifactJson = typeof ArtifactJson.Encoded

/** Encode an artifact to its JSON shape (seeds as decimal strings, with its ref). */
export const toJson = (artifact: TrainedArtifact): ArtifactJson => ({
  ...Schema.encodeSync(TrainedArtifact)(artifact),
  ref: ref(artifact)
})

/** Decode an artifact's JSON shape (as `train --json` prints it); a `ref` that does not match its content is refused. */
export const decodeJson = (
  input: unknown,
  source: string
): Effect.Effect<TrainedArtifact, BadInput | RecipeInvalid | ArtifactInvalid> =>
  Effect.gen(function*() {
    const { ref: stated, ...fields } = yield* Json.decode(ArtifactJson, source)(input)
    const value: TrainedArtifact = fields
    if (stated !== undefined && stated !== ref(value)) {
      return yield* new ArtifactInvalid({ reason: `ref ${stated} does not match the artifact (${ref(value)})` })
    }
    return yield* validate(value)
  })
