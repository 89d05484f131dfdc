/** The reference vectors (../shared/vectors/reference-model.json beside the repository). */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const file = fileURLToPath(new URL("../../../shared/vectors/reference-model.json", import.meta.url))

export interface VecRecipe {
  islands: number
  innerSteps: number
  innerLr: number
  outerLr: number
  keepFraction: number
}
export interface VecMeasurement {
  value: number
  ciLower: number
  ciUpper: number
  n: number
  cost: number
}
export interface VecLift {
  delta: number
  ciLower: number
  ciUpper: number
  n: number
}
export interface Vectors {
  jitter: Array<{ mix: string; value: number }>
  train: Array<{
    recipe: VecRecipe
    seed: string
    trainLoss: number
    dev16: VecMeasurement
    heldOut16: VecMeasurement
    heldOut13: VecMeasurement
  }>
  hierarchical: {
    recipe: VecRecipe
    cases: Array<{ k: number; crossSyncInterval: number; seed: string; trainLoss: number }>
  }
  oneShot: {
    baseline: VecMeasurement
    candidates: Array<{ researcher: string; seed: number; heldOut: VecMeasurement; lift: VecLift; clears: boolean }>
    ranked: Array<string>
    payouts: Array<{ researcher: string; wei: string }>
  }
  continuous: {
    evalShards: number
    epsilonMicros: number
    weiPerMicro: string
    baselineSeed: number
    scenarios: Array<{
      name: string
      results: Array<{
        researcher: string
        recipe: VecRecipe
        heldOutValue: number
        liftMicros: number | null
        becameRecord: boolean
        paidWei: string
      }>
      totalWei: string
      finalBestMicros: number | null
    }>
  }
  panel: Array<{
    name: string
    shards: Array<number>
    quorum: number
    recipe: VecRecipe
    seed: number
    claim: number
    accepting: number
    accepted: boolean
    consensus: number
    verdicts: Array<{ evalShards: number; measured: VecMeasurement; accepts: boolean }>
  }>
}

export const vectors: Vectors = JSON.parse(readFileSync(file, "utf8"))

/** Floats agree within the vectors' 1e-12 absolute tolerance. */
export const close = (actual: number, expected: number, tolerance = 1e-12): boolean =>
  Math.abs(actual - expected) <= tolerance
