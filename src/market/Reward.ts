/**
 * Rewards and their settlement in integer money (SPEC §6). Every function here is
 * pure and `bigint`-only: floats never decide a payout.
 */
import { Effect, Schema } from "effect"
import { RewardInvalid } from "../domain/Errors.js"
import { addWei, Micros, mulWei, subMicros, Wei } from "../domain/Money.js"

/** The whole pool to the top-ranked researcher. */
export const TerminalPrize = Schema.Struct({ kind: Schema.Literal("terminal-prize") })
/** Rank i gets floor(pool * weightsBps[i] / 10000), capped at what is left. */
export const SnapshotTopK = Schema.Struct({
  kind: Schema.Literal("snapshot-top-k"),
  weightsBps: Schema.Array(Schema.Number.pipe(Schema.int(), Schema.nonNegative()))
})
/** Pay each certified improvement of the frontier once, per micro of marginal lift. */
export const RecordBounty = Schema.Struct({
  kind: Schema.Literal("record-bounty"),
  epsilonMicros: Micros,
  weiPerMicro: Wei
})
/** Credit the holder of the top spot each epoch. */
export const TimeAtTop = Schema.Struct({ kind: Schema.Literal("time-at-top"), weiPerEpoch: Wei })

/** A reward schedule; `kind` is the tag in files. */
export const Reward = Schema.Union(TerminalPrize, SnapshotTopK, RecordBounty, TimeAtTop).annotations({ identifier: "Reward" })
export type Reward = typeof Reward.Type

/** One payout line. */
export interface Payout {
  readonly researcher: string
  readonly wei: bigint
}

/** Check a reward before any work is done (top-k weights non-empty, summing to <= 10000 bps). */
export const validate = (reward: Reward): Effect.Effect<Reward, RewardInvalid> => {
  if (reward.kind === "snapshot-top-k") {
    if (reward.weightsBps.length === 0) {
      return Effect.fail(new RewardInvalid({ reason: "snapshot-top-k weights must not be empty" }))
    }
    const total = reward.weightsBps.reduce((a, b) => a + b, 0)
    if (!Number.isSafeInteger(total) || total > 10000) {
      return Effect.fail(new RewardInvalid({ reason: `snapshot-top-k weights sum to ${total} bps, above 10000` }))
    }
  }
  return Effect.succeed(reward)
}

/** TerminalPrize: the whole pool to the top-ranked, nothing if none. */
export const settleTerminal = (poolWei: bigint, ranked: ReadonlyArray<string>): ReadonlyArray<Payout> => {
  const top = ranked[0]
  return top === undefined || poolWei === 0n ? [] : [{ researcher: top, wei: poolWei }]
}

/** SnapshotTopK: rank i gets floor(pool * w_i / 10000), capped at what is left; zero shares skipped. */
export const settleTopK = (
  poolWei: bigint,
  weightsBps: ReadonlyArray<number>,
  ranked: ReadonlyArray<string>
): ReadonlyArray<Payout> => {
  const payouts: Array<Payout> = []
  let left = poolWei
  const count = Math.min(weightsBps.length, ranked.length)
  for (let i = 0; i < count; i++) {
    const share = (poolWei * BigInt(weightsBps[i] ?? 0)) / 10000n
    const wei = share < left ? share : left
    if (wei === 0n) continue
    left -= wei
    payouts.push({ researcher: ranked[i] ?? "", wei })
  }
  return payouts
}

/** The standing state of a RecordBounty: the best micros so far (none before any record). */
export interface BountyState {
  readonly best: bigint | undefined
}

/** The bounty's outcome for one submission. */
export interface BountyBeat {
  readonly record: boolean
  readonly paidWei: bigint
  readonly marginalMicros: bigint
  readonly state: BountyState
}

/**
 * RecordBounty: a submission scoring `micros` beats the standing best (or the
 * baseline, 0, before any record) iff its marginal is >= epsilon and > 0; it then
 * pays marginal * weiPerMicro and becomes the new best. Summed over any sequence
 * the payouts equal weiPerMicro * (final best - baseline): the frontier is bought once.
 */
export const beat = (
  state: BountyState,
  micros: bigint,
  epsilonMicros: bigint,
  weiPerMicro: bigint
): BountyBeat => {
  const marginal = subMicros(micros, state.best ?? 0n)
  if (marginal > 0n && marginal >= epsilonMicros) {
    return { record: true, paidWei: mulWei(marginal, weiPerMicro), marginalMicros: marginal, state: { best: micros } }
  }
  return { record: false, paidWei: 0n, marginalMicros: marginal, state }
}

/** Add a payout to a running list, merging by researcher (insertion order kept). */
export const accumulate = (totals: Map<string, bigint>, researcher: string, wei: bigint): void => {
  if (wei === 0n) return
  totals.set(researcher, addWei(totals.get(researcher) ?? 0n, wei))
}

/** A payout list from running totals. */
export const payoutsOf = (totals: ReadonlyMap<string, bigint>): ReadonlyArray<Payout> =>
  Array.from(totals, ([researcher, wei]) => ({ researcher, wei }))
