/**
 * A continuous market's rules (SPEC §8, §15, §16): what it pays for and how it guards
 * the money — gate, schedule, pool, objective, baseline — plus the integrity rules a
 * market that pays strangers runs with: the seed-robust record test, Ladder feedback,
 * a submission budget, commit-reveal, the seed key, and how it runs (training jobs at
 * once, epoch length). The live market journals them when it opens; `market replay`
 * and the audit settle by them.
 */
import { hexToBytes } from "@noble/hashes/utils.js"
import { Schema } from "effect"
import { intIn, positiveFinite } from "../domain/Checks.js"
import { defaultGate, Gate } from "../domain/Measurement.js"
import { Seed, Wei } from "../domain/Money.js"
import { Recipe } from "../domain/Recipe.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Objective from "./Objective.js"
import { RecordTest } from "./RecordTest.js"
import * as Seeds from "./Seeds.js"

/** What a researcher sees of their own submissions: everything, or (Ladder) held-out figures of records only. */
export const Feedback = Schema.Literal("full", "ladder")
export type Feedback = typeof Feedback.Type

/** At most `count` accepted submissions per researcher within any `perSeconds` seconds. */
export const SubmissionBudget = Schema.Struct({
  count: intIn(1, 1_000_000, "submissionBudget.count"),
  perSeconds: positiveFinite("submissionBudget.perSeconds")
}).annotations({ identifier: "SubmissionBudget" })
export type SubmissionBudget = typeof SubmissionBudget.Type

/** A seed key: hex, at least 16 bytes. */
export const SeedKey = Schema.String.pipe(
  Schema.filter((s) => (/^([0-9a-f]{2}){16,}$/.test(s)) || "seedKey must be lower-case hex of at least 16 bytes")
)

/** The default reveal window of a commitment, in seconds. */
export const DEFAULT_REVEAL_WINDOW_SECONDS = 3600

/** The fields a market file adds for a live market (all optional, SPEC §15, §16). */
export const liveFields = {
  recordTest: Schema.optional(RecordTest),
  feedback: Schema.optionalWith(Feedback, { default: () => "full" as const }),
  submissionBudget: Schema.optional(SubmissionBudget),
  commitReveal: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  revealWindowSeconds: Schema.optionalWith(positiveFinite("revealWindowSeconds"), {
    default: () => DEFAULT_REVEAL_WINDOW_SECONDS
  }),
  seedKey: Schema.optional(SeedKey),
  concurrency: Schema.optionalWith(intIn(1, 1024, "concurrency"), { default: () => 1 }),
  epochSeconds: Schema.optional(positiveFinite("epochSeconds"))
}

/** A live market's rules. */
export const MarketRules = Schema.Struct({
  gate: Schema.optionalWith(Gate, { default: () => defaultGate }),
  schedule: Leaderboard.ContinuousSchedule,
  poolWei: Schema.optional(Wei),
  objective: Schema.optional(Objective.Objective),
  baseline: Schema.Struct({ recipe: Recipe, seed: Seed }),
  ...liveFields
}).annotations({ identifier: "MarketRules" })
export type MarketRules = typeof MarketRules.Type
/** A live market's rules in code (defaults may be left out). */
export type MarketRulesInput = typeof MarketRules.Encoded

/** The default epoch length of a time-at-top market: one hour. */
export const DEFAULT_EPOCH_SECONDS = 3600

/** How the market draws seeds: the submission index without a record test, k keyed seeds with one (SPEC §15.3). */
export const seedPlan = (
  rules: Pick<MarketRules, "recordTest" | "seedKey" | "baseline">,
  operatorKey: Uint8Array
): Seeds.SeedPlan =>
  rules.recordTest === undefined
    ? { kind: "index", baseline: rules.baseline.seed }
    : {
      kind: "keyed",
      key: rules.seedKey === undefined ? operatorKey : hexToBytes(rules.seedKey),
      seeds: rules.recordTest.seeds
    }
