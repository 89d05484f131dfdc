/**
 * The live market's journal (SPEC §16): every change is an event, and the market's
 * state is the fold of its events. The same fold runs when the service starts (replay
 * the journal), when several processes share one store (catch up with the others'
 * events) and in `market audit` (offline). Settlements and epoch credits are not taken
 * from the journal on faith: folding a `settled` or `epoch` event recomputes it from
 * the measurements before it (`Settlement.decide`, the rule `market replay` uses) and
 * records any disagreement, which makes start-up refuse with `JournalCorrupt`.
 */
import { Schema } from "effect"
import { Measurement } from "../domain/Measurement.js"
import { Micros, Wei } from "../domain/Money.js"
import { canonicalJson, Recipe } from "../domain/Recipe.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Reward from "./Reward.js"
import type { Payout } from "./Reward.js"
import { DEFAULT_EPOCH_SECONDS, MarketRules } from "./Rules.js"
import * as Settlement from "./Settlement.js"

const Time = Schema.Number.annotations({ description: "Clock time in milliseconds" })
const Id = Schema.String
const Index = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** A typed failure as the journal keeps it. */
export const Failure = Schema.Struct({ _tag: Schema.String, message: Schema.String })
export type Failure = typeof Failure.Type

/** The market opened with these rules (and the market file it was opened from, when there is one). */
export const Opened = Schema.TaggedStruct("opened", { at: Time, rules: MarketRules, file: Schema.optional(Schema.Unknown) })
/** The baseline was trained and measured on HeldOut, one measurement per baseline seed. */
export const BaselineMeasured = Schema.TaggedStruct("baseline", { at: Time, perSeed: Schema.Array(Measurement) })
/** A researcher committed to a recipe without showing it (SPEC §15.7). */
export const Committed = Schema.TaggedStruct("committed", {
  at: Time,
  commitId: Id,
  researcher: Schema.String,
  commitment: Schema.String
})
/** A submission was accepted (directly, or by a matching reveal): it is queued for training as number `index`. */
export const Accepted = Schema.TaggedStruct("accepted", {
  at: Time,
  submissionId: Id,
  index: Index,
  researcher: Schema.String,
  recipe: Recipe,
  commitId: Schema.optional(Id)
})
/** A process started training a submission. */
export const Started = Schema.TaggedStruct("started", { at: Time, submissionId: Id, worker: Schema.String })
/** One trained artifact's provenance, as the journal keeps it. */
export const TrainedRecord = Schema.Struct({
  seed: Schema.String,
  ref: Schema.String,
  clusterId: Schema.String,
  trainLoss: Schema.Number,
  receipt: Schema.optional(Schema.String),
  checkpoint: Schema.optional(Schema.String),
  checkpointSha256: Schema.optional(Schema.String)
})
export type TrainedRecord = typeof TrainedRecord.Type
/** A submission was trained with each of its seeds and measured on HeldOut. */
export const Measured = Schema.TaggedStruct("measured", {
  at: Time,
  submissionId: Id,
  perSeed: Schema.Array(Measurement),
  trained: Schema.Array(TrainedRecord)
})
/** A submission's training or scoring failed; it settles as nothing. */
export const Failed = Schema.TaggedStruct("failed", { at: Time, submissionId: Id, error: Failure })
/** A submission was settled (in submission order). */
export const Settled = Schema.TaggedStruct("settled", {
  at: Time,
  submissionId: Id,
  index: Index,
  liftMicros: Schema.NullOr(Micros),
  becameRecord: Schema.Boolean,
  paidWei: Wei,
  pValue: Schema.NullOr(Schema.Number)
})
/** An epoch closed (time-at-top): its credit to the holder of the top spot, if any. */
export const EpochClosed = Schema.TaggedStruct("epoch", {
  at: Time,
  epoch: Index,
  researcher: Schema.NullOr(Schema.String),
  micros: Micros,
  wei: Wei
})

/** Any journal event. */
export const MarketEvent = Schema.Union(
  Opened,
  BaselineMeasured,
  Committed,
  Accepted,
  Started,
  Measured,
  Failed,
  Settled,
  EpochClosed
).annotations({ identifier: "MarketEvent" })
export type MarketEvent = typeof MarketEvent.Type

/** An event as the store keeps it: its sequence number in the journal, and the event. */
export interface Stored {
  readonly seq: number
  readonly event: MarketEvent
}

/** Where a submission is. */
export type Status = "queued" | "training" | "settled" | "failed"

/** One submission as the fold knows it. */
export interface Submission {
  readonly id: string
  readonly index: number
  readonly researcher: string
  readonly recipe: Recipe
  readonly acceptedAt: number
  readonly commitId: string | undefined
  status: Status
  judged: Settlement.Judged | undefined
  trained: ReadonlyArray<TrainedRecord>
  /** The settlement: the decision, when, and how many epochs had closed by then. */
  settled: { readonly decision: Settlement.Decision; readonly at: number; readonly epoch: number } | undefined
  error: Failure | undefined
}

/** A commitment as the fold knows it. */
export interface Commitment {
  readonly commitId: string
  readonly researcher: string
  readonly commitment: string
  readonly at: number
  /** Commit order (0-based): priority among equal recipes. */
  readonly order: number
  revealed: boolean
}

/** A record of the frontier. */
export interface RecordRow {
  readonly researcher: string
  readonly micros: bigint
  readonly wei: bigint
  readonly at: number
  readonly index: number
}

/** The market's state: the fold of its journal. Mutated in place by `apply` (a journal can be long). */
export interface State {
  seq: number
  events: number
  rules: MarketRules | undefined
  file: unknown
  openedAt: number
  baseline: Settlement.Judged | undefined
  commits: Map<string, Commitment>
  submissions: Array<Submission>
  ids: Map<string, number>
  /** Submissions not yet measured or failed (training jobs to do), in submission order. */
  unfinished: Set<string>
  /** Accepted recipes (canonical JSON) and the commit order that owns each (commit-reveal). */
  recipes: Map<string, number>
  /** Acceptance times per researcher (budgets). */
  acceptedAt: Map<string, Array<number>>
  standing: Settlement.Standing
  /** The first submission not yet settled or failed: settlement is in submission order. */
  nextToSettle: number
  epoch: number
  payouts: Map<string, bigint>
  records: Array<RecordRow>
  /** Records and epoch credits, in journal order: the append-only leaderboard log (`Leaderboard.recompute`). */
  ledger: Array<Leaderboard.LeaderboardRow>
  /** Every disagreement between the journal and the recomputation. */
  discrepancies: Array<string>
}

/** A market with no events. */
export const empty = (): State => ({
  seq: 0,
  events: 0,
  rules: undefined,
  file: undefined,
  openedAt: 0,
  baseline: undefined,
  commits: new Map(),
  submissions: [],
  ids: new Map(),
  unfinished: new Set(),
  recipes: new Map(),
  acceptedAt: new Map(),
  standing: Settlement.initialStanding,
  nextToSettle: 0,
  epoch: 0,
  payouts: new Map(),
  records: [],
  ledger: [],
  discrepancies: []
})

const advance = (state: State): void => {
  for (;;) {
    const next = state.submissions[state.nextToSettle]
    if (next === undefined || (next.status !== "settled" && next.status !== "failed")) return
    state.nextToSettle += 1
  }
}

const pay = (state: State, researcher: string, wei: bigint): void => Reward.accumulate(state.payouts, researcher, wei)

/** Is this a TimeAtTop market (epochs credit the top holder)? */
const creditsEpochs = (rules: MarketRules | undefined): rules is MarketRules => rules?.schedule.kind === "time-at-top"

/** When epoch `epoch` of the market ends (market clock milliseconds): `epochSeconds` after the previous one. */
export const epochEnd = (state: State, epoch: number): number =>
  state.openedAt + (epoch + 1) * (state.rules?.epochSeconds ?? DEFAULT_EPOCH_SECONDS) * 1000

/**
 * The epoch credits due at `now` (TimeAtTop): one event per epoch that has ended and is
 * not closed yet, each crediting the holder of the top spot, min(weiPerEpoch, pool left);
 * and the standing after them. None for other schedules.
 */
export const dueEpochs = (
  state: State,
  now: number
): { readonly events: ReadonlyArray<typeof EpochClosed.Type>; readonly standing: Settlement.Standing } => {
  const events: Array<typeof EpochClosed.Type> = []
  let standing = state.standing
  if (!creditsEpochs(state.rules)) return { events, standing }
  for (let epoch = state.epoch; epochEnd(state, epoch) <= now; epoch++) {
    const credit = Settlement.creditEpoch(state.rules, standing)
    events.push(EpochClosed.make({
      at: now,
      epoch,
      researcher: credit?.researcher ?? null,
      micros: credit?.micros ?? 0n,
      wei: credit?.wei ?? 0n
    }))
    if (credit !== undefined) standing = credit.standing
  }
  return { events, standing }
}

/** Fold one stored event into the state (recomputing settlements and credits as it goes). */
export const apply = (state: State, stored: Stored): void => {
  const event = stored.event
  const at = `event ${stored.seq} (${event._tag})`
  state.seq = stored.seq
  state.events += 1
  const flag = (reason: string) => void state.discrepancies.push(`${at}: ${reason}`)
  switch (event._tag) {
    case "opened": {
      if (state.rules !== undefined) return flag("the market was opened twice")
      state.rules = event.rules
      state.file = event.file
      state.openedAt = event.at
      return
    }
    case "baseline": {
      if (state.baseline !== undefined) return flag("a second baseline")
      state.baseline = Settlement.judged(event.perSeed)
      return
    }
    case "committed": {
      state.commits.set(event.commitId, {
        commitId: event.commitId,
        researcher: event.researcher,
        commitment: event.commitment,
        at: event.at,
        order: state.commits.size,
        revealed: false
      })
      return
    }
    case "accepted": {
      if (event.index !== state.submissions.length) {
        return flag(`submission ${event.submissionId} has index ${event.index}, expected ${state.submissions.length}`)
      }
      const commit = event.commitId === undefined ? undefined : state.commits.get(event.commitId)
      if (commit !== undefined) commit.revealed = true
      const key = canonicalJson(event.recipe)
      const owner = state.recipes.get(key)
      const order = commit?.order ?? Number.MAX_SAFE_INTEGER
      if (owner === undefined || order < owner) state.recipes.set(key, order)
      state.ids.set(event.submissionId, event.index)
      state.unfinished.add(event.submissionId)
      const times = state.acceptedAt.get(event.researcher) ?? []
      times.push(event.at)
      state.acceptedAt.set(event.researcher, times)
      state.submissions.push({
        id: event.submissionId,
        index: event.index,
        researcher: event.researcher,
        recipe: event.recipe,
        acceptedAt: event.at,
        commitId: event.commitId,
        status: "queued",
        judged: undefined,
        trained: [],
        settled: undefined,
        error: undefined
      })
      return
    }
    case "started": {
      const submission = find(state, event.submissionId)
      if (submission !== undefined && submission.status === "queued") submission.status = "training"
      return
    }
    case "measured": {
      const submission = find(state, event.submissionId)
      if (submission === undefined) return flag(`no submission ${event.submissionId}`)
      // a job trained twice (its process died after measuring) measures the same: the first stands
      if (submission.judged !== undefined || submission.status === "failed") return
      submission.judged = Settlement.judged(event.perSeed)
      submission.trained = event.trained
      state.unfinished.delete(submission.id)
      if (submission.status !== "settled") submission.status = "training"
      return
    }
    case "failed": {
      const submission = find(state, event.submissionId)
      if (submission === undefined) return flag(`no submission ${event.submissionId}`)
      if (submission.status === "settled" || submission.status === "failed" || submission.judged !== undefined) return
      submission.status = "failed"
      submission.error = event.error
      state.unfinished.delete(submission.id)
      advance(state)
      return
    }
    case "settled": {
      const submission = find(state, event.submissionId)
      if (submission === undefined) return flag(`no submission ${event.submissionId}`)
      if (submission.status === "settled") return flag(`submission ${event.index} settled twice`)
      if (submission.index !== state.nextToSettle) {
        return flag(`submission ${submission.index} settled before submission ${state.nextToSettle}`)
      }
      if (state.rules === undefined || state.baseline === undefined || submission.judged === undefined) {
        return flag(`submission ${submission.index} settled before it was measured`)
      }
      if (creditsEpochs(state.rules) && epochEnd(state, state.epoch) <= event.at) {
        flag(`submission ${submission.index} settled at ${event.at}, before epoch ${state.epoch} (ended ${epochEnd(state, state.epoch)}) was credited`)
      }
      const decision = Settlement.decide(
        state.rules,
        state.baseline,
        state.standing,
        submission.researcher,
        submission.judged
      )
      const logged = `lift ${event.liftMicros ?? "gated"}, record ${event.becameRecord}, paid ${event.paidWei}`
      const recomputed = `lift ${decision.liftMicros ?? "gated"}, record ${decision.becameRecord}, paid ${decision.paidWei}`
      if (logged !== recomputed) flag(`submission ${submission.index}: the journal says ${logged}; recomputed: ${recomputed}`)
      submission.settled = { decision, at: event.at, epoch: state.epoch }
      submission.status = "settled"
      state.standing = decision.standing
      if (decision.becameRecord) {
        pay(state, submission.researcher, decision.paidWei)
        const micros = decision.liftMicros ?? 0n
        state.records.push({
          researcher: submission.researcher,
          micros,
          wei: decision.paidWei,
          at: event.at,
          index: submission.index
        })
        state.ledger.push({
          epoch: state.epoch,
          timestamp: event.at,
          researcher: submission.researcher,
          micros,
          wei: decision.paidWei,
          kind: "record"
        })
      }
      advance(state)
      return
    }
    case "epoch": {
      if (state.rules === undefined) return flag("an epoch before the market opened")
      if (event.epoch !== state.epoch) return flag(`epoch ${event.epoch} closed, expected epoch ${state.epoch}`)
      if (event.at < epochEnd(state, event.epoch)) {
        flag(`epoch ${event.epoch} closed at ${event.at}, before it ended (${epochEnd(state, event.epoch)})`)
      }
      const credit = Settlement.creditEpoch(state.rules, state.standing)
      const logged = `${event.researcher ?? "nobody"} ${event.wei}`
      const recomputed = credit === undefined ? "nobody 0" : `${credit.researcher} ${credit.wei}`
      if (logged !== recomputed) flag(`epoch ${event.epoch}: the journal credits ${logged}; recomputed: ${recomputed}`)
      state.epoch += 1
      if (credit !== undefined) {
        state.standing = credit.standing
        pay(state, credit.researcher, credit.wei)
        state.ledger.push({
          epoch: event.epoch,
          timestamp: event.at,
          researcher: credit.researcher,
          micros: credit.micros,
          wei: credit.wei,
          kind: "epoch-credit"
        })
      }
      return
    }
  }
}

/** The submission with this id. */
export const find = (state: State, submissionId: string): Submission | undefined => {
  const index = state.ids.get(submissionId)
  return index === undefined ? undefined : state.submissions[index]
}

/** Fold a whole journal. */
export const fold = (events: Iterable<Stored>): State => {
  const state = empty()
  for (const stored of events) apply(state, stored)
  return state
}

/** The payouts so far, in first-paid order. */
export const payouts = (state: State): ReadonlyArray<Payout> => Reward.payoutsOf(state.payouts)

/** What an auditor gets from a journal (SPEC §16 `GET /v1/audit`, `market audit`). */
export interface Audit {
  readonly events: number
  readonly recomputeAgrees: boolean
  readonly payouts: ReadonlyArray<Payout>
  readonly spentWei: bigint
  readonly discrepancies: ReadonlyArray<string>
}

/** Audit a folded journal: did every settlement and credit recompute to what the journal says? */
export const audit = (state: State): Audit => ({
  events: state.events,
  recomputeAgrees: state.discrepancies.length === 0,
  payouts: payouts(state),
  spentWei: state.standing.spentWei,
  discrepancies: state.discrepancies
})
