/**
 * The continuous market's standing and its append-only leaderboard log (SPEC §6,
 * §8). The settlement rules live here as pure functions shared by the live market
 * and the replay form, and `recompute` lets an auditor rebuild every payout from the
 * log alone (it re-derives each row's wei from the schedule and never trusts the
 * wei written in the log).
 */
import { Schema } from "effect"
import type { Gate } from "../domain/Measurement.js"
import { addWei, Micros, subWei, Wei } from "../domain/Money.js"
import type { Recipe } from "../domain/Recipe.js"
import type { Objective } from "./Objective.js"
import * as Reward from "./Reward.js"

/** The schedules a continuous market settles with: RecordBounty or TimeAtTopStreaming. */
export const ContinuousSchedule = Schema.Union(Reward.RecordBounty, Reward.TimeAtTop).annotations({
  identifier: "ContinuousSchedule"
})
export type ContinuousSchedule = typeof ContinuousSchedule.Type

/** The money terms of a market: its schedule and its pool (`undefined`: unlimited). */
export interface Terms {
  readonly schedule: ContinuousSchedule
  readonly poolWei: bigint | undefined
}

/** What a continuous market is, live or replayed: its gate, schedule, pool, objective and baseline. */
export interface MarketRules {
  readonly gate: Gate
  readonly schedule: ContinuousSchedule
  /** The pool in wei; absent: unlimited. */
  readonly poolWei?: bigint | undefined
  /** The ranking objective; absent: the value axis, higher is better. */
  readonly objective?: Objective | undefined
  /** The baseline every submission is measured against. */
  readonly baseline: { readonly recipe: Recipe; readonly seed: bigint }
}

/** The money terms of a market's rules. */
export const termsOf = (rules: Pick<MarketRules, "schedule" | "poolWei">): Terms => ({
  schedule: rules.schedule,
  poolWei: rules.poolWei
})

/** The standing of a market: the frontier, who holds it, and what has been spent. */
export interface Standing {
  /** The best certified micros so far; `undefined` before any record (the baseline, 0, stands). */
  readonly bestMicros: bigint | undefined
  /** Who holds the top spot; `undefined` before any record. */
  readonly holder: string | undefined
  readonly spentWei: bigint
}

/** A market before any submission. */
export const initialStanding: Standing = { bestMicros: undefined, holder: undefined, spentWei: 0n }

/** What is left of the pool; `undefined` when the pool is unlimited. */
export const poolLeft = (terms: Terms, standing: Standing): bigint | undefined =>
  terms.poolWei === undefined ? undefined : subWei(terms.poolWei, standing.spentWei)

/** The outcome of settling one submission. */
export interface SubmissionSettlement {
  readonly record: boolean
  readonly paidWei: bigint
  /** A record-bounty beat whose full marginal exceeds the pool left: rejected whole. */
  readonly rejectedByPool: boolean
  readonly standing: Standing
}

const noRecord = (standing: Standing, rejectedByPool = false): SubmissionSettlement => ({
  record: false,
  paidWei: 0n,
  rejectedByPool,
  standing
})

/**
 * Settle one submission scoring `micros` (`undefined` when gated out).
 * RecordBounty: a beat (marginal >= epsilon and > 0 over the best, or the baseline
 * 0) pays marginal * weiPerMicro, unless that exceeds the pool left, in which case
 * it is rejected whole (no pay, no new best). TimeAtTop: any positive marginal takes
 * the top spot and pays nothing here (epochs pay the holder).
 */
export const settleSubmission = (
  terms: Terms,
  standing: Standing,
  researcher: string,
  micros: bigint | undefined
): SubmissionSettlement => {
  if (micros === undefined) return noRecord(standing)
  const schedule = terms.schedule
  if (schedule.kind === "record-bounty") {
    const outcome = Reward.beat({ best: standing.bestMicros }, micros, schedule.epsilonMicros, schedule.weiPerMicro)
    if (!outcome.record) return noRecord(standing)
    const left = poolLeft(terms, standing)
    if (left !== undefined && outcome.paidWei > left) return noRecord(standing, true)
    return {
      record: true,
      paidWei: outcome.paidWei,
      rejectedByPool: false,
      standing: { bestMicros: micros, holder: researcher, spentWei: addWei(standing.spentWei, outcome.paidWei) }
    }
  }
  if (micros <= (standing.bestMicros ?? 0n)) return noRecord(standing)
  return {
    record: true,
    paidWei: 0n,
    rejectedByPool: false,
    standing: { bestMicros: micros, holder: researcher, spentWei: standing.spentWei }
  }
}

/** One epoch's credit to the holder of the top spot. */
export interface EpochCredit {
  readonly researcher: string
  readonly micros: bigint
  readonly wei: bigint
  readonly standing: Standing
}

/**
 * Close an epoch: under TimeAtTop the holder is credited min(weiPerEpoch, pool
 * left). `undefined` when nothing is credited (RecordBounty, no holder yet, or an
 * exhausted pool).
 */
export const creditEpoch = (terms: Terms, standing: Standing): EpochCredit | undefined => {
  const schedule = terms.schedule
  if (schedule.kind !== "time-at-top" || standing.holder === undefined) return undefined
  const left = poolLeft(terms, standing)
  const wei = left !== undefined && left < schedule.weiPerEpoch ? left : schedule.weiPerEpoch
  if (wei === 0n) return undefined
  return {
    researcher: standing.holder,
    micros: standing.bestMicros ?? 0n,
    wei,
    standing: { ...standing, spentWei: addWei(standing.spentWei, wei) }
  }
}

/** The kind of a leaderboard row: a new record, or an epoch credit to the holder. */
export const RowKind = Schema.Literal("record", "epoch-credit")
export type RowKind = typeof RowKind.Type

/**
 * One append-only leaderboard row. `timestamp` is the Clock's time in milliseconds
 * in the live market (the submission index in the replay form, which has no clock);
 * `micros` is the record's score (for a credit: the holder's standing best).
 */
export const LeaderboardRow = Schema.Struct({
  epoch: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  timestamp: Schema.Number,
  researcher: Schema.String,
  micros: Micros,
  wei: Wei,
  kind: RowKind
}).annotations({ identifier: "LeaderboardRow" })
export type LeaderboardRow = typeof LeaderboardRow.Type

/** A log row whose logged wei or researcher is not what the rules give. */
export interface Discrepancy {
  /** Position of the row in the log. */
  readonly row: number
  readonly loggedWei: bigint
  readonly recomputedWei: bigint
  readonly reason: string
}

/** What an auditor recomputes from a log. */
export interface Recomputed {
  readonly payouts: ReadonlyArray<Reward.Payout>
  readonly spentWei: bigint
  readonly finalBestMicros: bigint | undefined
  readonly holder: string | undefined
  /** Rows the rules disagree with; empty for an honest log. */
  readonly discrepancies: ReadonlyArray<Discrepancy>
}

/**
 * Recompute every payout from the log alone: record rows are replayed through the
 * schedule's settler (RecordBounty's `beat`, under the pool), credit rows through
 * the epoch rule for the holder those records establish. Equal to the live payouts
 * for an honest log; every row the rules disagree with is reported.
 */
export const recompute = (terms: Terms, rows: Iterable<LeaderboardRow>): Recomputed => {
  const totals = new Map<string, bigint>()
  const discrepancies: Array<Discrepancy> = []
  let standing = initialStanding
  let position = 0
  for (const row of rows) {
    if (row.kind === "record") {
      const settled = settleSubmission(terms, standing, row.researcher, row.micros)
      if (!settled.record) {
        discrepancies.push({
          row: position,
          loggedWei: row.wei,
          recomputedWei: 0n,
          reason: settled.rejectedByPool ? "the record exceeds the pool left" : "not a record under the schedule"
        })
      } else {
        if (settled.paidWei !== row.wei) {
          discrepancies.push({ row: position, loggedWei: row.wei, recomputedWei: settled.paidWei, reason: "wrong wei" })
        }
        Reward.accumulate(totals, row.researcher, settled.paidWei)
        standing = settled.standing
      }
    } else {
      const credit = creditEpoch(terms, standing)
      if (credit === undefined || credit.researcher !== row.researcher) {
        discrepancies.push({
          row: position,
          loggedWei: row.wei,
          recomputedWei: 0n,
          reason: credit === undefined ? "no credit is due" : `the holder is ${credit.researcher}`
        })
      } else {
        if (credit.wei !== row.wei) {
          discrepancies.push({ row: position, loggedWei: row.wei, recomputedWei: credit.wei, reason: "wrong wei" })
        }
        Reward.accumulate(totals, credit.researcher, credit.wei)
        standing = credit.standing
      }
    }
    position += 1
  }
  return {
    payouts: Reward.payoutsOf(totals),
    spentWei: standing.spentWei,
    finalBestMicros: standing.bestMicros,
    holder: standing.holder,
    discrepancies
  }
}
