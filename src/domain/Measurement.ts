/**
 * Measurements, lifts and the promotion gate (SPEC §2, §5). Pure functions over
 * floats; every comparison that decides money fails closed on NaN.
 */
import { Schema } from "effect"

/** Dev is visible to researchers; only the referee runs HeldOut. */
export const Split = Schema.Literal("dev", "held-out")
export type Split = typeof Split.Type

/** A score measurement: higher is better, with a 95% interval. */
export const Measurement = Schema.Struct({
  value: Schema.Number,
  ciLower: Schema.Number,
  ciUpper: Schema.Number,
  n: Schema.Number,
  cost: Schema.Number
}).annotations({ identifier: "Measurement" })
export type Measurement = typeof Measurement.Type

/** A measurement as files and `--json` print it: exactly its five fields, in SPEC order. */
export const measurementJson = (m: Measurement) => ({ value: m.value, ciLower: m.ciLower, ciUpper: m.ciUpper, n: m.n, cost: m.cost })

/** Candidate minus baseline, with a 95% interval. */
export const Lift = Schema.Struct({
  delta: Schema.Number,
  ciLower: Schema.Number,
  ciUpper: Schema.Number,
  n: Schema.Number
}).annotations({ identifier: "Lift" })
export type Lift = typeof Lift.Type

/** The promotion gate a lift must clear to be paid. */
export const Gate = Schema.Struct({
  minLiftCiLower: Schema.optionalWith(Schema.Number, { default: () => 0.02 }),
  costPerTaskCeiling: Schema.optional(Schema.Number),
  minN: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.nonNegative()), { default: () => 12 })
}).annotations({ identifier: "Gate" })
export type Gate = typeof Gate.Type

/** The default gate: lift CI lower bound >= 0.02 over at least 12 shards, no cost ceiling. */
export const defaultGate: Gate = { minLiftCiLower: 0.02, minN: 12 }

/** z for a two-sided 95% interval. */
export const Z_95 = 1.96

/** Standard error implied by a measurement (SPEC §5). */
export const standardError = (m: Measurement): number => {
  const width = m.ciUpper - m.ciLower
  if (width > 0) return width / (2 * Z_95)
  if (m.n === 0) return Number.POSITIVE_INFINITY
  const p = Math.min(1, Math.max(0, m.value))
  return Math.sqrt((p * (1 - p)) / m.n)
}

/** Unpaired lift of a candidate over a baseline. */
export const unpairedLift = (candidate: Measurement, base: Measurement): Lift => {
  const delta = candidate.value - base.value
  const seC = standardError(candidate)
  const seB = standardError(base)
  const se = Math.sqrt(seC * seC + seB * seB)
  return { delta, ciLower: delta - Z_95 * se, ciUpper: delta + Z_95 * se, n: Math.min(candidate.n, base.n) }
}

/**
 * Does a lift clear the gate? Fails closed: a NaN anywhere, too few shards, or an
 * unknown cost under a ceiling never clears.
 */
export const clears = (gate: Gate, lift: Lift, cost: number): boolean => {
  if (!Number.isFinite(lift.delta) || !Number.isFinite(lift.ciLower)) return false
  if (!(lift.n >= gate.minN)) return false
  if (!(lift.ciLower >= gate.minLiftCiLower)) return false
  if (gate.costPerTaskCeiling !== undefined) {
    if (!Number.isFinite(cost)) return false
    const perTask = lift.n === 0 ? Number.POSITIVE_INFINITY : cost / lift.n
    if (!(perTask <= gate.costPerTaskCeiling)) return false
  }
  return true
}
