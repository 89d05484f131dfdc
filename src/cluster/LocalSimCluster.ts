/**
 * The deterministic simulated cluster (SPEC §3): a closed-form training loss with
 * the shape of the known DiLoCo/DeMo trade-offs. No clock, no randomness source.
 */
import { Effect, Layer, Option, Schema } from "effect"
import type { TrainedArtifact } from "../domain/Artifact.js"
import { jitterHalves } from "../domain/Jitter.js"
import { wrapU64 } from "../domain/Money.js"
import { decodeRecipe, type Recipe } from "../domain/Recipe.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import { leaf } from "./ClusterKind.js"
import { TrainingCluster } from "./TrainingCluster.js"

const BASE_LOSS = 2.5
const BASE_GAP = 0.05
const H_OPT = 32
const LR_OPT = 3e-3
const OUTER_LR_OPT = 0.7
const KEEP_OPT = 0.1
const BATCH_REF = 16
const ISLAND_GAIN = 0.15
const LARGEBATCH_PEN = 0.08
const H_PENALTY = 0.02
const LR_PENALTY = 0.05
const OUTER_LR_PENALTY = 0.03
const COMPRESS_PEN = 0.02
const OVERFIT_H = 0.05
const OVERFIT_COMPRESS = 0.05
const TRAIN_NOISE = 0.005

const pos = (x: number): number => Math.max(0, x)
const sq = (x: number): number => x * x
const MASK32 = 0xffffffffn

/** The simulator's training loss of `recipe` under `seed` (lower is better). */
export const trainingLoss = (recipe: Recipe, seed: bigint): number => {
  const hi = Number((seed >> 32n) & MASK32) ^ 0x51515151
  const lo = Number(seed & MASK32) ^ 0x51515151
  return trainingLossHalves(recipe, hi >>> 0, lo >>> 0)
}

/** `trainingLoss` with the seed already XOR-ed with 0x5151515151515151, as u32 halves (hot path). */
const trainingLossHalves = (recipe: Recipe, mixHi: number, mixLo: number): number =>
  BASE_LOSS -
  ISLAND_GAIN * Math.log(recipe.islands) +
  LARGEBATCH_PEN * (recipe.islands / BATCH_REF) +
  H_PENALTY * sq(pos(Math.log(recipe.innerSteps) - Math.log(H_OPT))) +
  LR_PENALTY * sq(Math.log(recipe.innerLr) - Math.log(LR_OPT)) +
  OUTER_LR_PENALTY * sq(Math.log(recipe.outerLr) - Math.log(OUTER_LR_OPT)) +
  COMPRESS_PEN * sq(pos(Math.log(KEEP_OPT) - Math.log(recipe.keepFraction))) +
  TRAIN_NOISE * jitterHalves(mixHi, mixLo)

/** Generalisation gap added on the held-out split only. */
export const generalisationGap = (recipe: Recipe): number =>
  BASE_GAP +
  OVERFIT_H * pos(Math.log(recipe.innerSteps) - Math.log(H_OPT)) +
  OVERFIT_COMPRESS * pos(Math.log(KEEP_OPT) - Math.log(recipe.keepFraction))

/** The simulated cluster's id, recorded in artifacts. */
export const clusterId = "local-sim"

/** Train without the service wrapper (validated recipe assumed): used by hot replay loops. */
export const trainUnchecked = (recipe: Recipe, seed: bigint): TrainedArtifact => ({
  recipe,
  trainSeed: seed,
  trainLoss: trainingLoss(recipe, seed),
  clusterId
})

/** Build the simulated cluster service: its artifacts carry a receipt under the operator's key (SPEC §15.1). */
export const make: Effect.Effect<TrainingCluster["Type"], never, OperatorKey> = Effect.map(OperatorKey, ({ key }) =>
  TrainingCluster.of({
    id: clusterId,
    isolation: "shared",
    attestation: Option.none(),
    train: (recipe, seed) =>
      Effect.map(decodeRecipe(recipe), (valid) => Receipt.sign(key, trainUnchecked(valid, wrapU64(seed))))
  }))

/** The simulated cluster as a layer. */
export const layer: Layer.Layer<TrainingCluster, never, OperatorKey> = Layer.effect(TrainingCluster, make)

/** The spec `{"kind":"local-sim"}`. */
export const LocalSimSpec = Schema.Struct({ kind: Schema.Literal("local-sim") })
export type LocalSimSpec = typeof LocalSimSpec.Type

/** `{"kind":"local-sim"}` in the registry of cluster kinds (`ClusterSpec.ts`): nothing to install. */
export const kind = leaf("local-sim", LocalSimSpec, { layer: () => layer, note: "simulated in-process: needs nothing installed" })
