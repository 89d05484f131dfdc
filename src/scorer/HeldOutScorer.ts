/**
 * The simulated held-out scorer (SPEC §4): models held-out loss from the
 * artifact's training loss plus the recipe's generalisation gap, measured over N
 * deterministic shards. It refuses artifacts of real backends: for those the
 * training loss is only the cluster's claim, and a claim is never paid on.
 */
import { Effect, Layer } from "effect"
import { isReal, type TrainedArtifact } from "../domain/Artifact.js"
import { ProvenanceInvalid, ScorerInvalid, ScorerRefused } from "../domain/Errors.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import { halves, jitterHalves, mul64 } from "../domain/Jitter.js"
import { type Measurement, type Split, Z_95 } from "../domain/Measurement.js"
import * as LocalSim from "../cluster/LocalSimCluster.js"
import { Scorer } from "./Scorer.js"

const EVAL_NOISE = 0.01
const FNV_PRIME = 0x100000001b3n
const SPLIT_WORD: Readonly<Record<Split, number>> = { "dev": 0xd0d0, "held-out": 0x4e1d }

/** The default number of evaluation shards. */
export const DEFAULT_SHARDS = 16

/** Measure an artifact on a split over `shards` shards (pure; the service wraps it). */
export const measure = (artifact: TrainedArtifact, split: Split, shards: number): Measurement => {
  const loss = artifact.trainLoss + (split === "held-out" ? LocalSim.generalisationGap(artifact.recipe) : 0)
  const [seedHi, seedLo] = halves(artifact.trainSeed * FNV_PRIME)
  const baseLo = (seedLo ^ SPLIT_WORD[split]) >>> 0
  let sum = 0
  let sumSq = 0
  const samples = shards <= 256 ? scratch : new Float64Array(shards)
  for (let i = 0; i < shards; i++) {
    const [pHi, pLo] = mul64(0, i, 0, 0x9e3779b1)
    const sample = -(loss + EVAL_NOISE * jitterHalves((seedHi ^ pHi) >>> 0, (baseLo ^ pLo) >>> 0))
    samples[i] = sample
    sum += sample
  }
  const mean = sum / shards
  for (let i = 0; i < shards; i++) {
    const d = (samples[i] ?? 0) - mean
    sumSq += d * d
  }
  const variance = shards > 1 ? sumSq / (shards - 1) : 0
  const half = Z_95 * Math.sqrt(variance / shards)
  return { value: mean, ciLower: mean - half, ciUpper: mean + half, n: shards, cost: shards }
}
const scratch = new Float64Array(256)

/** The simulated scorer's id for a shard count. */
export const scorerId = (shards: number): string => `sim-held-out:${shards}`

/**
 * Build the simulated held-out scorer with `shards` evaluation shards. Before measuring
 * it checks the artifact's receipt under the operator's key, refuses artifacts of real
 * backends, and recomputes a `local-sim` artifact's training loss from its recipe and
 * seed (SPEC §15.1): nobody's own claim is measured.
 */
export const make = (shards: number = DEFAULT_SHARDS): Effect.Effect<Scorer["Type"], ScorerInvalid, OperatorKey> => {
  if (!Number.isInteger(shards) || shards < 1 || shards > 4294967295) {
    return Effect.fail(new ScorerInvalid({ reason: `shards must be an integer >= 1, got ${shards}` }))
  }
  const id = scorerId(shards)
  return Effect.map(OperatorKey, ({ key }) =>
    Scorer.of({
      id,
      shards,
      measure: (artifact, split) =>
        Effect.gen(function*() {
          yield* Receipt.verify(key, artifact)
          if (isReal(artifact)) {
            return yield* new ScorerRefused({
              scorer: id,
              reason: `artifact from ${artifact.clusterId} was trained by a real backend; the simulated scorer would only ` +
                `re-read the cluster's own loss claim (use the checkpoint scorer)`
            })
          }
          if (artifact.clusterId === LocalSim.clusterId) {
            const recomputed = LocalSim.trainingLoss(artifact.recipe, artifact.trainSeed)
            if (!Object.is(recomputed, artifact.trainLoss)) {
              return yield* new ProvenanceInvalid({
                reason: `the local-sim training loss of this recipe and seed is ${recomputed}, not ${artifact.trainLoss}`
              })
            }
          }
          return measure(artifact, split, shards)
        })
    }))
}

/** The simulated held-out scorer with 16 shards. */
export const layer: Layer.Layer<Scorer, never, OperatorKey> = Layer.effect(Scorer, Effect.orDie(make(DEFAULT_SHARDS)))

/** The simulated held-out scorer with a chosen shard count. */
export const layerWith = (options: { readonly shards: number }): Layer.Layer<Scorer, ScorerInvalid, OperatorKey> =>
  Layer.effect(Scorer, make(options.shards))
