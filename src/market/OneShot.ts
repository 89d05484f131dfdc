/**
 * The one-shot competition (SPEC §7): every researcher's recipe is trained on the
 * cluster, re-scored by the referee on HeldOut, gated on its lift's confidence
 * interval, ranked, and the pool settled in integer wei.
 */
import { Effect } from "effect"
import * as Artifact from "../domain/Artifact.js"
import type { TrainedArtifact } from "../domain/Artifact.js"
import {
  type ArtifactInvalid,
  ClusterFailed,
  type KnobsIncoherent,
  type RewardInvalid,
  type ScoreError,
  UnsupportedReward
} from "../domain/Errors.js"
import { clears, type Gate, type Lift, type Measurement, unpairedLift } from "../domain/Measurement.js"
import type { Recipe } from "../domain/Recipe.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import { Scorer } from "../scorer/Scorer.js"
import * as Knobs from "./Knobs.js"
import * as Reward from "./Reward.js"

/** A researcher's entry: their name, the seed their recipe is trained with, the recipe. */
export interface Entry {
  readonly name: string
  readonly seed: bigint
  readonly recipe: Recipe
}

/** What a one-shot competition is. */
export interface OneShotSpec {
  readonly id: number
  readonly gate: Gate
  readonly reward: Reward.Reward
  readonly poolWei: bigint
  readonly baseline: { readonly recipe: Recipe; readonly seed: bigint }
  readonly researchers: ReadonlyArray<Entry>
  /** Defaults: competitive, one-shot, public, held-out eval. */
  readonly knobs?: Partial<Knobs.Knobs>
  /** How many researchers train at once (default 1: real backends are heavy). */
  readonly concurrency?: number
}

/** One researcher's result. */
export interface Candidate {
  readonly researcher: string
  readonly seed: bigint
  readonly artifact: TrainedArtifact
  readonly heldOut: Measurement
  readonly lift: Lift
  readonly clears: boolean
}

/** A ranked survivor. */
export interface Ranked {
  readonly researcher: string
  readonly lift: Lift
}

/** The outcome of a one-shot competition. */
export interface OneShotOutcome {
  readonly id: number
  readonly baseline: { readonly artifact: TrainedArtifact; readonly heldOut: Measurement }
  /** Every researcher, in entry order, gated or not. */
  readonly candidates: ReadonlyArray<Candidate>
  /** The survivors of the gate, best first. */
  readonly ranked: ReadonlyArray<Ranked>
  readonly payouts: ReadonlyArray<Reward.Payout>
  /** Researchers paid, best first. */
  readonly winners: ReadonlyArray<string>
}

/** Everything a one-shot competition can fail with. */
export type OneShotError =
  | KnobsIncoherent
  | RewardInvalid
  | UnsupportedReward
  | ClusterFailed
  | ArtifactInvalid
  | ScoreError

/** Rank survivors: delta desc, then ciLower desc, then name asc. */
export const rank = (candidates: ReadonlyArray<Candidate>): ReadonlyArray<Ranked> =>
  candidates
    .filter((c) => c.clears)
    .map((c) => ({ researcher: c.researcher, lift: c.lift }))
    .sort((a, b) =>
      b.lift.delta - a.lift.delta || b.lift.ciLower - a.lift.ciLower ||
      (a.researcher < b.researcher ? -1 : a.researcher > b.researcher ? 1 : 0)
    )

/** Check knobs and reward before any work: a one-shot market settles only terminal or top-k rewards. */
export const validateSpec = (
  spec: Pick<OneShotSpec, "knobs" | "reward">
): Effect.Effect<void, KnobsIncoherent | RewardInvalid | UnsupportedReward> =>
  Effect.gen(function*() {
    yield* Knobs.validate({ ...Knobs.defaults, ...spec.knobs })
    const reward = yield* Reward.validate(spec.reward)
    if (reward.kind === "record-bounty" || reward.kind === "time-at-top") {
      return yield* new UnsupportedReward({
        reward: reward.kind,
        reason: "a one-shot competition settles once; continuous schedules belong to the continuous market"
      })
    }
  })

/** Settle ranked names with a one-shot reward. */
export const settle = (
  reward: Reward.Reward,
  poolWei: bigint,
  ranked: ReadonlyArray<string>
): ReadonlyArray<Reward.Payout> =>
  reward.kind === "terminal-prize"
    ? Reward.settleTerminal(poolWei, ranked)
    : reward.kind === "snapshot-top-k"
    ? Reward.settleTopK(poolWei, reward.weightsBps, ranked)
    : []

/** Train one entry and re-score it on HeldOut; failures name the researcher. */
const trainAndScore = (
  cluster: TrainingCluster["Type"],
  scorer: Scorer["Type"],
  name: string,
  recipe: Recipe,
  seed: bigint
) =>
  Effect.gen(function*() {
    const trained = yield* cluster.train(recipe, seed).pipe(
      Effect.mapError((error) => new ClusterFailed({ researcher: name, error }))
    )
    const artifact = yield* Artifact.validate(trained, { recipe, seed })
    const heldOut = yield* scorer.measure(artifact, "held-out")
    return { artifact, heldOut }
  })

/**
 * Run a one-shot competition on the provided cluster and scorer. Knobs and reward
 * are validated before any training; the baseline is measured once.
 */
export const runOneShot = (
  spec: OneShotSpec
): Effect.Effect<OneShotOutcome, OneShotError, TrainingCluster | Scorer> =>
  Effect.gen(function*() {
    yield* validateSpec(spec)
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    const baseline = yield* trainAndScore(cluster, scorer, "baseline", spec.baseline.recipe, spec.baseline.seed)
    const candidates = yield* Effect.forEach(
      spec.researchers,
      (entry) =>
        Effect.map(trainAndScore(cluster, scorer, entry.name, entry.recipe, entry.seed), ({ artifact, heldOut }) => {
          const lift = unpairedLift(heldOut, baseline.heldOut)
          return {
            researcher: entry.name,
            seed: entry.seed,
            artifact,
            heldOut,
            lift,
            clears: clears(spec.gate, lift, heldOut.cost)
          }
        }),
      { concurrency: spec.concurrency ?? 1 }
    )
    const ranked = rank(candidates)
    const payouts = settle(spec.reward, spec.poolWei, ranked.map((r) => r.researcher))
    return {
      id: spec.id,
      baseline,
      candidates,
      ranked,
      payouts,
      winners: payouts.map((p) => p.researcher)
    }
  })
