/**
 * How a continuous market settles one judged submission (SPEC §8, §15.4): the one
 * decision the live market, the service's journal, `market replay` and the audit all
 * make, so the four cannot disagree. Pure and `bigint` for money.
 *
 * A submission is judged on k >= 1 held-out measurements (one per seed); its pooled
 * measurement goes through the gate against the baseline's pooled measurement on the
 * market's objective, and its lift in micros through the schedule (RecordBounty's
 * marginal over the standing best, capped by the pool; TimeAtTop's top spot). With a
 * record test, a record also needs a one-sided Welch test of its per-seed values
 * against the incumbent's (the holder's, or the baseline's before any record) to find
 * the difference above epsilon with p < alpha.
 */
import type { Lift, Measurement } from "../domain/Measurement.js"
import type { Gate } from "../domain/Measurement.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Objective from "./Objective.js"
import { pool, type RecordTest, welchP } from "./RecordTest.js"

/** A submission's (or the baseline's) held-out measurements, one per seed, and their pooled measurement. */
export interface Judged {
  readonly perSeed: ReadonlyArray<Measurement>
  readonly pooled: Measurement
}

/** Judge measurements: pool them (one measurement pools to itself). */
export const judged = (perSeed: ReadonlyArray<Measurement>): Judged => ({ perSeed, pooled: pool(perSeed) })

/** What settling needs of a market's rules. */
export interface SettlementRules {
  readonly gate: Gate
  readonly schedule: Leaderboard.ContinuousSchedule
  readonly poolWei?: bigint | undefined
  readonly objective?: Objective.Objective | undefined
  readonly recordTest?: RecordTest | undefined
}

/** The standing of a market: the frontier, its holder, what is spent, and the holder's per-seed scores (record test). */
export interface Standing extends Leaderboard.Standing {
  /** The record holder's per-seed objective scores; `undefined` before any record (the baseline's then stand). */
  readonly incumbent?: ReadonlyArray<number> | undefined
}

/** A market before any submission. */
export const initialStanding: Standing = Leaderboard.initialStanding

/** The decision on one submission. */
export interface Decision {
  /** The objective lift of the pooled measurement over the baseline's, positive is better. */
  readonly lift: Lift
  /** The lift in micros when the gate cleared; `undefined` when gated out. */
  readonly liftMicros: bigint | undefined
  /** The record test's p-value (`undefined` without a record test, or when gated). */
  readonly pValue: number | undefined
  readonly becameRecord: boolean
  /** A record-bounty beat whose marginal exceeds the pool left: rejected whole. */
  readonly rejectedByPool: boolean
  readonly paidWei: bigint
  readonly standing: Standing
}

/** Epsilon of a schedule in objective units (RecordBounty: epsilonMicros / 1e6; TimeAtTop: 0). */
export const epsilonOf = (schedule: Leaderboard.ContinuousSchedule): number =>
  schedule.kind === "record-bounty" ? Number(schedule.epsilonMicros) / 1e6 : 0

/** Settle one judged submission of `researcher` against the baseline and the standing. */
export const decide = (
  rules: SettlementRules,
  baseline: Judged,
  standing: Standing,
  researcher: string,
  submission: Judged
): Decision => {
  const objective = rules.objective ?? Objective.valueObjective
  const assessment = Objective.assess(objective, rules.gate, submission.pooled, baseline.pooled)
  const terms = Leaderboard.termsOf(rules)
  const none = (pValue: number | undefined, rejectedByPool = false): Decision => ({
    lift: assessment.lift,
    liftMicros: assessment.micros,
    pValue,
    becameRecord: false,
    rejectedByPool,
    paidWei: 0n,
    standing
  })
  if (assessment.micros === undefined) return none(undefined)
  let pValue: number | undefined
  const scores = submission.perSeed.map((m) => Objective.score(objective, m))
  if (rules.recordTest !== undefined) {
    const incumbent = standing.incumbent ?? baseline.perSeed.map((m) => Objective.score(objective, m))
    pValue = welchP(scores, incumbent, epsilonOf(rules.schedule))
    if (!(pValue < rules.recordTest.alpha)) return none(pValue)
  }
  const settled = Leaderboard.settleSubmission(terms, standing, researcher, assessment.micros)
  if (!settled.record) return none(pValue, settled.rejectedByPool)
  return {
    lift: assessment.lift,
    liftMicros: assessment.micros,
    pValue,
    becameRecord: true,
    rejectedByPool: false,
    paidWei: settled.paidWei,
    standing: { ...settled.standing, incumbent: scores }
  }
}

/** Close an epoch (TimeAtTop): the holder's credit, or `undefined` when nothing is credited. */
export const creditEpoch = (
  rules: SettlementRules,
  standing: Standing
): { readonly researcher: string; readonly micros: bigint; readonly wei: bigint; readonly standing: Standing } | undefined => {
  const credit = Leaderboard.creditEpoch(Leaderboard.termsOf(rules), standing)
  return credit === undefined ? undefined : { ...credit, standing: { ...credit.standing, incumbent: standing.incumbent } }
}
