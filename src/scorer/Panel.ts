/**
 * The m-of-n re-score panel (SPEC §9): n independent referees, each a held-out
 * scorer with its own shard count, and a quorum m. A claim is accepted when at least
 * m referees' 95% intervals contain it, so one referee cannot be talked into paying
 * an inflated claim. The consensus the market trusts is the mean of the referees'
 * measurements (the reference) or, robustly, their median: one lying referee cannot
 * drag a median.
 */
import { Effect } from "effect"
import type { TrainedArtifact } from "../domain/Artifact.js"
import { PanelInvalid, type ScoreError } from "../domain/Errors.js"
import type { Measurement } from "../domain/Measurement.js"
import type { OperatorKey } from "../integrity/OperatorKey.js"
import type { Scorer } from "./Scorer.js"
import * as SimHeldOut from "./HeldOutScorer.js"

/** How the referees' values are combined into the value the market trusts. */
export type Consensus = "mean" | "median"

/** A built panel: its referees, its quorum, and its consensus rule. */
export interface Panel {
  readonly referees: ReadonlyArray<Scorer["Type"]>
  readonly quorum: number
  readonly consensus: Consensus
}

/** One referee's verdict on a claim. */
export interface Verdict {
  readonly evalShards: number
  readonly measured: Measurement
  readonly accepts: boolean
}

/** The panel's judgement of a claim. */
export interface Judgement {
  readonly accepted: boolean
  readonly accepting: number
  readonly quorum: number
  readonly consensus: number
  readonly verdicts: ReadonlyArray<Verdict>
}

/** Whether the panel's referees agree among themselves. */
export interface Agreement {
  /** At least `quorum` referees' intervals contain the consensus. */
  readonly agreed: boolean
  readonly containing: number
  readonly quorum: number
  readonly consensus: number
  readonly verdicts: ReadonlyArray<Verdict>
}

/** Build a panel from referees; an empty panel or a quorum outside 1..n is a `PanelInvalid`. */
export const make = (
  referees: ReadonlyArray<Scorer["Type"]>,
  quorum: number,
  consensus: Consensus = "mean"
): Effect.Effect<Panel, PanelInvalid> => {
  if (referees.length === 0) return Effect.fail(new PanelInvalid({ reason: "a panel needs at least one referee" }))
  if (!Number.isInteger(quorum) || quorum < 1 || quorum > referees.length) {
    return Effect.fail(
      new PanelInvalid({ reason: `quorum must be an integer in 1..${referees.length}, got ${quorum}` })
    )
  }
  return Effect.succeed({ referees, quorum, consensus })
}

/** A panel of simulated held-out referees with the given shard counts (each must be an integer >= 1). */
export const ofShards = (
  shards: ReadonlyArray<number>,
  quorum: number,
  consensus: Consensus = "mean"
): Effect.Effect<Panel, PanelInvalid, OperatorKey> =>
  Effect.forEach(shards, (count) =>
    SimHeldOut.make(count).pipe(
      Effect.mapError(() =>
        new PanelInvalid({ reason: `every referee needs an integer shard count >= 1, got ${count}` })
      )
    )).pipe(Effect.flatMap((referees) => make(referees, quorum, consensus)))

/** `majority(n, base)`: n simulated referees with shard counts base..base+n-1 and quorum floor(n/2)+1. */
export const majority = (
  n: number,
  baseShards: number,
  consensus: Consensus = "mean"
): Effect.Effect<Panel, PanelInvalid, OperatorKey> =>
  !Number.isInteger(n) || n < 1
    ? Effect.fail(new PanelInvalid({ reason: `a majority panel needs n >= 1 referees, got ${n}` }))
    : ofShards(Array.from({ length: n }, (_, i) => baseShards + i), Math.floor(n / 2) + 1, consensus)

/** Does an interval contain `x`? NaN and infinities are contained nowhere. */
const contains = (m: Measurement, x: number): boolean => Number.isFinite(x) && m.ciLower <= x && x <= m.ciUpper

/** Combine values by the consensus rule (median of an even count: the mean of the middle two). */
export const combine = (rule: Consensus, values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  if (rule === "mean") return values.reduce((sum, v) => sum + v, 0) / values.length
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const measureAll = (panel: Panel, artifact: TrainedArtifact): Effect.Effect<ReadonlyArray<Measurement>, ScoreError> =>
  Effect.forEach(panel.referees, (referee) => referee.measure(artifact, "held-out"))

/**
 * Judge a claimed held-out value: every referee measures the artifact on HeldOut
 * and accepts iff its interval contains the claim; the panel accepts iff at least
 * `quorum` referees accept. Reports every verdict and the consensus value.
 */
export const judge = (
  panel: Panel,
  artifact: TrainedArtifact,
  claimedValue: number
): Effect.Effect<Judgement, ScoreError> =>
  Effect.map(measureAll(panel, artifact), (measured) => {
    const verdicts = measured.map((m, i) => ({
      evalShards: panel.referees[i]?.shards ?? m.n,
      measured: m,
      accepts: contains(m, claimedValue)
    }))
    const accepting = verdicts.filter((v) => v.accepts).length
    return {
      accepted: accepting >= panel.quorum,
      accepting,
      quorum: panel.quorum,
      consensus: combine(panel.consensus, measured.map((m) => m.value)),
      verdicts
    }
  })

/** Do the referees agree: do at least `quorum` of their intervals contain the consensus value? */
export const agree = (panel: Panel, artifact: TrainedArtifact): Effect.Effect<Agreement, ScoreError> =>
  Effect.map(measureAll(panel, artifact), (measured) => {
    const consensus = combine(panel.consensus, measured.map((m) => m.value))
    const verdicts = measured.map((m, i) => ({
      evalShards: panel.referees[i]?.shards ?? m.n,
      measured: m,
      accepts: contains(m, consensus)
    }))
    const containing = verdicts.filter((v) => v.accepts).length
    return { agreed: containing >= panel.quorum, containing, quorum: panel.quorum, consensus, verdicts }
  })
