/**
 * Hierarchical clusters (SPEC §10): k >= 1 inner clusters composed into one cluster,
 * which is itself a `TrainingCluster`, so hierarchies nest.
 *
 * Training recipe r under seed s trains r on inner cluster i with seed
 * `s + i*0x9E3779B97F4A7C15` (wrapping u64), all inner jobs concurrently (bounded by
 * `concurrency`), and merges their losses:
 *
 *     mean(inner) - 0.20*ln(k) + 0.06*pos(ln(crossSyncInterval) - ln 4)*(1 + 0.30*(k-1))
 *
 * A bad recipe fails as `RecipeInvalid` before any inner job starts. An inner
 * failure interrupts the other inner jobs and surfaces as `InnerClusterFailed` whose
 * `path` names the failing leaf (`root/1/0`: inner 0 of inner 1); interrupting the
 * hierarchy interrupts every inner job.
 */
import { Context, Effect, Layer, Option } from "effect"
import { hash, STAND_IN_MEASUREMENT } from "../attestation/Attestation.js"
import { textReport } from "../attestation/AttestationReport.js"
import type { TrainedArtifact } from "../domain/Artifact.js"
import { ClusterInvalid, type ClusterError, InnerClusterFailed } from "../domain/Errors.js"
import { U64_MAX } from "../domain/Money.js"
import { decodeRecipe } from "../domain/Recipe.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import { TrainingCluster } from "./TrainingCluster.js"

/** Scale credit per ln(k): the outer sync averaging replicas. */
export const SCALE_CREDIT = 0.2
/** Drift paid per ln of cross-sync interval above the reference interval. */
export const DRIFT_PENALTY = 0.06
/** Extra drift per additional inner cluster. */
export const DRIFT_PER_CLUSTER = 0.3
/** The cross-sync interval at which no drift is paid. */
export const REFERENCE_INTERVAL = 4
/** The golden-ratio stride between inner clusters' seeds. */
export const SEED_STRIDE = 0x9e3779b97f4a7c15n

/** Settings of a hierarchy, once its inner clusters exist. */
export interface Settings {
  /** How often (in outer steps) inner clusters synchronise with each other; > 0 and finite. */
  readonly crossSyncInterval: number
  /** How many inner jobs run at once (a positive integer; default: all of them). */
  readonly concurrency?: number | undefined
}

/** The seed inner cluster `index` trains with: `seed + index*0x9E3779B97F4A7C15`, wrapping u64. */
export const innerSeed = (seed: bigint, index: number): bigint => (seed + BigInt(index) * SEED_STRIDE) & U64_MAX

/** The hierarchy's training loss from its inner clusters' losses (SPEC §10). */
export const mergeLosses = (losses: ReadonlyArray<number>, crossSyncInterval: number): number => {
  const k = losses.length
  const mean = losses.reduce((sum, loss) => sum + loss, 0) / k
  const drift = Math.max(0, Math.log(crossSyncInterval) - Math.log(REFERENCE_INTERVAL))
  return mean - SCALE_CREDIT * Math.log(k) + DRIFT_PENALTY * drift * (1 + DRIFT_PER_CLUSTER * (k - 1))
}

/** Reject an impossible hierarchy (no inner cluster, a bad interval or concurrency); returns the concurrency to use. */
export const validate = (settings: Settings, k: number): Effect.Effect<number, ClusterInvalid> => {
  if (k === 0) return Effect.fail(new ClusterInvalid({ reason: "a hierarchy needs at least one inner cluster" }))
  const interval = settings.crossSyncInterval
  if (!Number.isFinite(interval) || !(interval > 0)) {
    return Effect.fail(
      new ClusterInvalid({ reason: `crossSyncInterval must be finite and > 0, got ${interval}` })
    )
  }
  const concurrency = settings.concurrency ?? k
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    return Effect.fail(new ClusterInvalid({ reason: `concurrency must be an integer >= 1, got ${concurrency}` }))
  }
  return Effect.succeed(concurrency)
}

/** The id of a hierarchy: names its interval and inner clusters, so artifacts record the composition. */
export const hierarchyId = (crossSyncInterval: number, innerIds: ReadonlyArray<string>): string =>
  `hierarchical[sync=${crossSyncInterval}](${innerIds.join(",")})`

/** Name an inner failure by its path from this hierarchy: a nested path is re-rooted, not nested. */
const atPath = (index: number, error: ClusterError): InnerClusterFailed => {
  if (error._tag !== "InnerClusterFailed") return new InnerClusterFailed({ path: `root/${index}`, error })
  const rest = error.path === "root" ? "" : error.path.startsWith("root/") ? error.path.slice(4) : `/${error.path}`
  return new InnerClusterFailed({ path: `root/${index}${rest}`, error: error.error })
}

/**
 * Merge inner artifacts. Real backends' artifacts carry a checkpoint: the merged
 * artifact carries the checkpoint (and its hash) of the first inner artifact (by
 * index) that has one, so the referee scores a real trained model (and the simulated
 * scorer refuses it, as it must), and the union of every inner `notApplied`, so no
 * ignored knob is hidden by composition.
 */
const merge = (
  id: string,
  recipe: TrainedArtifact["recipe"],
  seed: bigint,
  crossSyncInterval: number,
  artifacts: ReadonlyArray<TrainedArtifact>
): TrainedArtifact => {
  const trained = artifacts.find((a) => a.checkpoint !== undefined)
  const checkpoint = trained?.checkpoint
  const checkpointSha256 = trained?.checkpointSha256
  const notApplied = [...new Set(artifacts.flatMap((a) => a.notApplied ?? []))]
  const anyNotApplied = artifacts.some((a) => a.notApplied !== undefined)
  return {
    recipe,
    trainSeed: seed,
    trainLoss: mergeLosses(artifacts.map((a) => a.trainLoss), crossSyncInterval),
    clusterId: id,
    ...(checkpoint === undefined ? {} : { checkpoint }),
    ...(checkpointSha256 === undefined ? {} : { checkpointSha256 }),
    ...(anyNotApplied ? { notApplied } : {})
  }
}

/**
 * A sealed hierarchy's report: tee `none` (the hierarchy itself runs in no enclave),
 * evidence committing to every inner report's hash in order.
 */
const compositeReport = (inner: ReadonlyArray<TrainingCluster["Type"]>) =>
  textReport(
    "none",
    `tee-sim-hierarchy:${
      inner.map((cluster) => Option.match(cluster.attestation, { onNone: () => "no-report", onSome: hash })).join(",")
    }`,
    STAND_IN_MEASUREMENT
  )

/** Compose built inner clusters into a hierarchy (sealed iff every inner cluster is sealed). */
export const make = (
  settings: Settings & { readonly inner: ReadonlyArray<TrainingCluster["Type"]> }
): Effect.Effect<TrainingCluster["Type"], ClusterInvalid, OperatorKey> =>
  Effect.zipWith(validate(settings, settings.inner.length), OperatorKey, (concurrency, { key }) => {
    const inner = settings.inner
    const id = hierarchyId(settings.crossSyncInterval, inner.map((cluster) => cluster.id))
    const sealed = inner.every((cluster) => cluster.isolation === "sealed")
    return TrainingCluster.of({
      id,
      isolation: sealed ? "sealed" : "shared",
      attestation: sealed ? Option.some(compositeReport(inner)) : Option.none(),
      train: (recipe, seed) =>
        Effect.flatMap(decodeRecipe(recipe), (valid) =>
          Effect.forEach(
            inner,
            (cluster, index) =>
              cluster.train(valid, innerSeed(seed, index)).pipe(Effect.mapError((error) => atPath(index, error))),
            { concurrency }
          ).pipe(
            Effect.map((artifacts) =>
              // the merged artifact is this hierarchy's own: it carries its own receipt (SPEC §15.1)
              Receipt.sign(key, merge(id, valid, seed & U64_MAX, settings.crossSyncInterval, artifacts))
            )
          ))
    })
  })

/**
 * A hierarchy as a layer: settings are checked first (`ClusterInvalid`), then each
 * inner layer is built, separately, in the hierarchy's scope, and the composed
 * cluster is offered. Inner layers' errors and requirements pass through.
 */
export const layer = <E, R>(
  options: Settings & { readonly inner: ReadonlyArray<Layer.Layer<TrainingCluster, E, R>> }
): Layer.Layer<TrainingCluster, E | ClusterInvalid, R | OperatorKey> =>
  Layer.scoped(
    TrainingCluster,
    Effect.gen(function*() {
      yield* validate(options, options.inner.length)
      const inner = yield* Effect.forEach(options.inner, (innerLayer) =>
        Effect.map(Layer.build(innerLayer), (context) => Context.get(context, TrainingCluster)))
      return yield* make({ ...options, inner })
    })
  )
