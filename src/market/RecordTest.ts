/**
 * The seed-robust record test (SPEC §15.4). A submission trained with k seeds is judged
 * on its pooled measurement (its k x N shard samples as one sample) against the
 * baseline's, through the unchanged gate; it becomes a record only if, besides, a
 * one-sided Welch t-test of its k per-seed values against the incumbent's k values
 * (the record holder's, or the baseline's before any record) finds the mean difference
 * above epsilon with p < alpha. Resubmitting the leader's recipe is then no longer a
 * free lottery ticket on training noise.
 */
import cdf from "@stdlib/stats-base-dists-t-cdf"
import { Schema } from "effect"
import { type Measurement, Z_95 } from "../domain/Measurement.js"

/** The market field `"recordTest": {"seeds": k, "alpha": a}`: k >= 2 seeds, 0 < alpha < 1. */
export const RecordTest = Schema.Struct({
  seeds: Schema.Number.pipe(
    Schema.filter((k) => (Number.isInteger(k) && k >= 2 && k <= 64) || "recordTest.seeds must be an integer in 2..64")
  ),
  alpha: Schema.Number.pipe(
    Schema.filter((a) => (Number.isFinite(a) && a > 0 && a < 1) || "recordTest.alpha must be in (0, 1)")
  )
}).annotations({ identifier: "RecordTest" })
export type RecordTest = typeof RecordTest.Type

/** The variance of a measurement's shard samples, read back from its interval (SPEC §4: half = 1.96·sqrt(var/n)). */
const sampleVariance = (m: Measurement): number => {
  const width = m.ciUpper - m.ciLower
  if (!(width > 0) || m.n <= 1) return 0
  const se = width / (2 * Z_95)
  return se * se * m.n
}

/**
 * The pooled measurement of k measurements of n_j shards each: their samples as one
 * sample. Value = the mean of all samples; variance over all of them (so it includes
 * the spread between seeds), n = Σ n_j; cost = Σ cost_j. One measurement pools to itself.
 */
export const pool = (measurements: ReadonlyArray<Measurement>): Measurement => {
  const [only] = measurements
  if (measurements.length === 1 && only !== undefined) return only
  let n = 0
  let sum = 0
  let cost = 0
  for (const m of measurements) {
    n += m.n
    sum += m.value * m.n
    cost += m.cost
  }
  const mean = sum / n
  let squares = 0
  for (const m of measurements) {
    const d = m.value - mean
    squares += (m.n - 1) * sampleVariance(m) + m.n * d * d
  }
  const variance = n > 1 ? squares / (n - 1) : 0
  const half = Z_95 * Math.sqrt(variance / n)
  return { value: mean, ciLower: mean - half, ciUpper: mean + half, n, cost }
}

const meanOf = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length

const varianceOf = (xs: ReadonlyArray<number>, mean: number): number =>
  xs.length > 1 ? xs.reduce((a, x) => a + (x - mean) * (x - mean), 0) / (xs.length - 1) : 0

/**
 * One-sided Welch t-test: the p-value of "mean(a) - mean(b) > epsilon". With no spread
 * in either sample the difference is known exactly: p is 0 when it exceeds epsilon,
 * else 1. NaN anywhere gives 1 (nothing is proven).
 */
export const welchP = (a: ReadonlyArray<number>, b: ReadonlyArray<number>, epsilon: number): number => {
  if (a.length === 0 || b.length === 0) return 1
  const ma = meanOf(a)
  const mb = meanOf(b)
  const va = varianceOf(a, ma) / a.length
  const vb = varianceOf(b, mb) / b.length
  const diff = ma - mb - epsilon
  if (!Number.isFinite(diff) || !Number.isFinite(va) || !Number.isFinite(vb)) return 1
  const se2 = va + vb
  if (se2 === 0) return diff > 0 ? 0 : 1
  const t = diff / Math.sqrt(se2)
  const df = (se2 * se2) /
    ((a.length > 1 ? (va * va) / (a.length - 1) : 0) + (b.length > 1 ? (vb * vb) / (b.length - 1) : 0))
  const p = 1 - cdf(t, df)
  return Number.isFinite(p) ? p : 1
}
