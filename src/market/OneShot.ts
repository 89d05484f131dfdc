/**
 * The one-shot competition (SPEC §7): every researcher's recipe is trained on the
 * cluster, re-scored by the referee on HeldOut, gated on its lift's confidence
 * interval, ranked, and the pool settled in integer wei.
 */
import { Effect, Either } from "effect"
import * as Artifact from "../domain/Artifact.js"
import type { TrainedArtifact } from "../domain/Artifact.js"
import {
  type ArtifactInvalid,
  ClusterFailed,
  CompetitionInvalid,
  type KnobsIncoherent,
  type RewardInvalid,
  type ScoreError,
  UnsupportedReward
} from "../domain/Errors.js"
import { clears, type Gate, type Lift, type Measurement, unpairedLift } from "../domain/Measurement.js"
import type { Recipe } from "../domain/Recipe.js"
import { type JobLabel, publishPhase, TrainingCluster, withJob } from "../cluster/TrainingCluster.js"
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

/** A researcher whose recipe was trained and measured. */
export interface TrainedCandidate {
  readonly _tag: "Trained"
  readonly researcher: string
  readonly seed: bigint
  readonly artifact: TrainedArtifact
  readonly heldOut: Measurement
  readonly lift: Lift
  readonly clears: boolean
}

/** A researcher whose training or scoring failed (SPEC §15.8): listed with the failure, ranked nowhere, never paid. */
export interface FailedCandidate {
  readonly _tag: "Failed"
  readonly researcher: string
  readonly seed: bigint
  readonly failure: { readonly _tag: string; readonly message: string }
}

/** One researcher's result. */
export type Candidate = TrainedCandidate | FailedCandidate

/** A ranked survivor. */
export interface Ranked {
  readonly researcher: string
  readonly lift: Lift
}

/** The outcome of a one-shot competition. */
export interface OneShotOutcome {
  readonly id: number
  readonly baseline: { readonly artifact: TrainedArtifact; readonly heldOut: Measurement }
  /** Every researcher, in entry order: trained (gated or not) or failed. */
  readonly candidates: ReadonlyArray<Candidate>
  /** The survivors of the gate, best first. */
  readonly ranked: ReadonlyArray<Ranked>
  readonly payouts: ReadonlyArray<Reward.Payout>
  /** Researchers paid, best first. */
  readonly winners: ReadonlyArray<string>
}

/** Everything a one-shot competition can fail with. */
export type OneShotError =
  | CompetitionInvalid
  | KnobsIncoherent
  | RewardInvalid
  | UnsupportedReward
  | ClusterFailed
  | ArtifactInvalid
  | ScoreError

/** Rank survivors: delta desc, then ciLower desc, then name asc. */
export const rank = (candidates: ReadonlyArray<Candidate>): ReadonlyArray<Ranked> =>
  candidates
    .filter((c): c is TrainedCandidate => c._tag === "Trained" && c.clears)
    .map((c) => ({ researcher: c.researcher, lift: c.lift }))
    .sort((a, b) =>
      b.lift.delta - a.lift.delta || b.lift.ciLower - a.lift.ciLower ||
      (a.researcher < b.researcher ? -1 : a.researcher > b.researcher ? 1 : 0)
    )

/**
 * Check the competition before any work: at least one researcher and no two with one
 * name (SPEC §15.8), coherent knobs, and a reward a one-shot market settles (terminal or
 * top-k).
 */
export const validateSpec = (
  spec: Pick<OneShotSpec, "knobs" | "reward"> & { readonly researchers?: ReadonlyArray<Entry> | undefined }
): Effect.Effect<void, CompetitionInvalid | KnobsIncoherent | RewardInvalid | UnsupportedReward> =>
  Effect.gen(function*() {
    if (spec.researchers !== undefined) {
      if (spec.researchers.length === 0) return yield* new CompetitionInvalid({ reason: "it has no researchers" })
      const seen = new Set<string>()
      for (const entry of spec.researchers) {
        if (seen.has(entry.name)) {
          return yield* new CompetitionInvalid({
            reason: `two researchers are named "${entry.name}": names identify who is ranked and paid`
          })
        }
        seen.add(entry.name)
      }
    }
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

/**
 * Train one entry and re-score it on HeldOut; failures name the researcher. Its runs
 * carry `label` to a progress display, which is told when scoring starts and when the
 * entry is done.
 */
const trainAndScore = (
  cluster: TrainingCluster["Type"],
  scorer: Scorer["Type"],
  name: string,
  recipe: Recipe,
  seed: bigint,
  label: JobLabel
) => {
  const runRef = Artifact.ref({ recipe, trainSeed: seed })
  return Effect.gen(function*() {
    const trained = yield* cluster.train(recipe, seed).pipe(
      Effect.mapError((error) => new ClusterFailed({ researcher: name, error }))
    )
    const artifact = yield* Artifact.validate(trained, { recipe, seed })
    yield* publishPhase(cluster.id, "scoring", runRef)
    const heldOut = yield* scorer.measure(artifact, "held-out")
    return { artifact, heldOut }
  }).pipe(Effect.ensuring(publishPhase(cluster.id, "ended", runRef)), withJob(label))
}

/**
 * Run a one-shot competition on the provided cluster and scorer. The competition is
 * checked before any training; the baseline and every researcher then train (up to
 * `concurrency` at once, the baseline among them). A researcher whose training or
 * scoring fails is listed as failed and ranks nowhere; the others are ranked and paid
 * (SPEC §15.8). Only a failing baseline fails the competition: nothing can be judged
 * without it.
 */
export const runOneShot = (
  spec: OneShotSpec
): Effect.Effect<OneShotOutcome, OneShotError, TrainingCluster | Scorer> =>
  Effect.gen(function*() {
    yield* validateSpec(spec)
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    // at most `concurrency` runs at once, the baseline among them; a failing baseline
    // interrupts the researchers' runs (nothing could be judged without it)
    const slots = yield* Effect.makeSemaphore(spec.concurrency ?? 1)
    const { baseline, runs } = yield* Effect.all({
      baseline: slots.withPermits(1)(
        trainAndScore(cluster, scorer, "baseline", spec.baseline.recipe, spec.baseline.seed, { name: "baseline" })
      ),
      runs: Effect.forEach(spec.researchers, (entry, i) =>
        slots.withPermits(1)(
          Effect.map(
            Effect.either(
              trainAndScore(cluster, scorer, entry.name, entry.recipe, entry.seed, {
                name: entry.name,
                index: i + 1,
                count: spec.researchers.length
              })
            ),
            (run) => ({ entry, run })
          )
        ), { concurrency: "unbounded" })
    }, { concurrency: "unbounded" })
    const candidates = runs.map(({ entry, run }): Candidate => {
      if (Either.isLeft(run)) {
        return { _tag: "Failed", researcher: entry.name, seed: entry.seed, failure: failureOf(run.left) }
      }
      const { artifact, heldOut } = run.right
      const lift = unpairedLift(heldOut, baseline.heldOut)
      return {
        _tag: "Trained",
        researcher: entry.name,
        seed: entry.seed,
        artifact,
        heldOut,
        lift,
        clears: clears(spec.gate, lift, heldOut.cost)
      }
    })
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

/** A researcher's failure as the outcome lists it: the cluster's error inside `ClusterFailed`, else the error itself. */
const failureOf = (error: ClusterFailed | ArtifactInvalid | ScoreError): { readonly _tag: string; readonly message: string } =>
  error._tag === "ClusterFailed"
    ? { _tag: error.error._tag, message: error.error.message }
    : { _tag: error._tag, message: error.message }
