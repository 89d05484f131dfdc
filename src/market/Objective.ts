/**
 * The ranking objective of a market (SPEC §13): which axis of a measurement a
 * market ranks and pays on (`value`, the default, or `cost`) and in which direction
 * (`sign` 1: higher is better, -1: lower is better). A "lowest cost at a value floor"
 * market is `{axis: "cost", sign: -1}`: the gate still certifies the value (the
 * floor), and the settler pays for the cost reduction. Everything here is a plain
 * function so the replay's hot loop can call it per submission.
 */
import { Schema } from "effect"
import { clears, type Gate, type Lift, type Measurement, unpairedLift } from "../domain/Measurement.js"
import { toMicros } from "../domain/Money.js"

/** The axis and direction a market ranks on. */
export const Objective = Schema.Struct({
  axis: Schema.Literal("value", "cost"),
  sign: Schema.Literal(1, -1)
}).annotations({ identifier: "Objective" })
export type Objective = typeof Objective.Type

/** The default objective: the measured value, higher is better (the reference market). */
export const valueObjective: Objective = { axis: "value", sign: 1 }

/** Lowest cost wins (at the value floor the gate certifies). */
export const lowestCostObjective: Objective = { axis: "cost", sign: -1 }

/** How one candidate fares against the baseline under an objective. */
export interface Assessment {
  /** The lift on the objective's axis, oriented so that positive is better. */
  readonly lift: Lift
  /** Did the candidate clear the gate (on value: the signed lift; on cost: the value floor)? */
  readonly clears: boolean
  /** The objective lift in micros when the gate cleared; `undefined` when gated out. */
  readonly micros: bigint | undefined
}

/** The objective's score of one measurement, oriented so that larger is better. */
export const score = (objective: Objective, m: Measurement): number =>
  objective.sign * (objective.axis === "value" ? m.value : m.cost)

/**
 * The lift of a candidate over the baseline on the objective's axis, oriented so
 * that positive is better. On the value axis it is the unpaired lift (its interval
 * flipped when the sign is -1); cost is an accounting figure with no sampling
 * error, so its interval is the point itself.
 */
export const lift = (objective: Objective, candidate: Measurement, baseline: Measurement): Lift => {
  if (objective.axis === "value") {
    const valueLift = unpairedLift(candidate, baseline)
    return objective.sign === 1 ? valueLift : {
      delta: -valueLift.delta,
      ciLower: -valueLift.ciUpper,
      ciUpper: -valueLift.ciLower,
      n: valueLift.n
    }
  }
  const delta = objective.sign * (candidate.cost - baseline.cost)
  return { delta, ciLower: delta, ciUpper: delta, n: Math.min(candidate.n, baseline.n) }
}

/**
 * Assess a candidate: the objective lift, whether it clears the gate, and the
 * micros the settler is paid on. On the value axis the gate applies to the signed
 * lift (the reference rule when the sign is 1). On the cost axis the gate is the
 * value floor: the candidate's value lift (higher is better) must clear it, and the
 * settler then pays on the cost lift.
 */
export const assess = (
  objective: Objective,
  gate: Gate,
  candidate: Measurement,
  baseline: Measurement
): Assessment => {
  if (objective.axis === "value") {
    const signed = lift(objective, candidate, baseline)
    const cleared = clears(gate, signed, candidate.cost)
    return { lift: signed, clears: cleared, micros: cleared ? toMicros(signed.delta) : undefined }
  }
  const floor = clears(gate, unpairedLift(candidate, baseline), candidate.cost)
  const costLift = lift(objective, candidate, baseline)
  const cleared = floor && Number.isFinite(costLift.delta)
  return { lift: costLift, clears: cleared, micros: cleared ? toMicros(costLift.delta) : undefined }
}

/**
 * Just the micros `assess` pays on (`undefined` when gated out), without building
 * an `Assessment`: the replay's hot loop calls this once per submission.
 */
export const micros = (
  objective: Objective,
  gate: Gate,
  candidate: Measurement,
  baseline: Measurement
): bigint | undefined => {
  if (objective.axis === "value" && objective.sign === 1) {
    const valueLift = unpairedLift(candidate, baseline)
    return clears(gate, valueLift, candidate.cost) ? toMicros(valueLift.delta) : undefined
  }
  return assess(objective, gate, candidate, baseline).micros
}
