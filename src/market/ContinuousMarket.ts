/**
 * The live continuous (king-of-the-hill) market (SPEC §8, §13) as a service.
 * Researchers submit at any time; each submission is trained (under a per-job
 * deadline) or taken as an artifact, re-scored on HeldOut against the fixed baseline
 * measurement, gated, converted to micros on the market's objective, and settled
 * under its schedule. The standing lives in a `SynchronizedRef`, so concurrent
 * submissions settle one at a time: the frontier is bought exactly once and the
 * pool is never overspent. Every submission and credit carries the Clock's time;
 * epochs tick on a `Schedule` in a fiber the layer's scope owns, so under
 * `TestClock` a whole timed run is deterministic.
 */
import { Chunk, Clock, Context, Duration, Effect, Layer, Ref, Schedule, type Scope, SynchronizedRef } from "effect"
import * as Artifact from "../domain/Artifact.js"
import type { TrainedArtifact } from "../domain/Artifact.js"
import {
  type ArtifactInvalid,
  type ClusterError,
  type RecipeInvalid,
  RewardInvalid,
  type ScoreError,
  TrainingTimeout
} from "../domain/Errors.js"
import type { Lift, Measurement } from "../domain/Measurement.js"
import { decodeRecipe, type Recipe } from "../domain/Recipe.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import { Scorer } from "../scorer/Scorer.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Objective from "./Objective.js"
import type { Payout } from "./Reward.js"

/** How a continuous market is run: its rules (the baseline is trained once, when it opens), and its clock. */
export interface MarketConfig extends Leaderboard.MarketRules {
  /** Length of an epoch (default 1 hour); epochs credit the top holder under TimeAtTop. */
  readonly epoch?: Duration.DurationInput | undefined
  /** Deadline of each training job (default none); a job past it fails with `TrainingTimeout`. */
  readonly jobDeadline?: Duration.DurationInput | undefined
}

/** The default epoch length. */
export const DEFAULT_EPOCH: Duration.Duration = Duration.hours(1)

/** What a researcher submits: a recipe for the market's cluster to train, or an already trained artifact. */
export type Entry = Recipe | TrainedArtifact

/** The market's receipt for one settled submission. */
export interface Receipt {
  /** Arrival order; a recipe submission trains with this as its seed. */
  readonly index: number
  readonly researcher: string
  /** The artifact's training seed. */
  readonly seed: bigint
  /** Clock time (ms) when the submission arrived and when it was settled. */
  readonly submittedAt: number
  readonly settledAt: number
  /** The epoch it was settled in. */
  readonly epoch: number
  readonly heldOut: Measurement
  /** The lift on the market's objective, oriented so that positive is better. */
  readonly lift: Lift
  /** The objective lift in micros; `undefined` when gated out. */
  readonly liftMicros: bigint | undefined
  readonly becameRecord: boolean
  /** A record-bounty beat whose marginal exceeded the pool left (rejected whole). */
  readonly rejectedByPool: boolean
  readonly paidWei: bigint
}

/** A snapshot of the market. */
export interface Snapshot {
  readonly epoch: number
  readonly bestMicros: bigint | undefined
  readonly holder: string | undefined
  readonly spentWei: bigint
  /** What is left of the pool; `undefined` when unlimited. */
  readonly poolLeftWei: bigint | undefined
  readonly submissions: number
  readonly payouts: ReadonlyArray<Payout>
}

/** Everything a submission can fail with; a failed submission is never paid. */
export type SubmitError = RecipeInvalid | ClusterError | ArtifactInvalid | ScoreError

/** Everything opening a market can fail with (a bad config, or the baseline failing to train or score). */
export type OpenError = RewardInvalid | SubmitError

/** The live continuous market. */
export class ContinuousMarket extends Context.Tag("trainmarket/ContinuousMarket")<
  ContinuousMarket,
  {
    /** The schedule and pool this market settles with (what an auditor needs besides the log). */
    readonly terms: Leaderboard.Terms
    /** The baseline's held-out measurement every submission is compared with. */
    readonly baseline: Measurement
    /** Submit a recipe (trained with the submission index as seed) or an artifact. */
    readonly submit: (researcher: string, entry: Entry) => Effect.Effect<Receipt, SubmitError>
    readonly snapshot: Effect.Effect<Snapshot>
    /** The append-only leaderboard log, oldest first. */
    readonly log: Effect.Effect<ReadonlyArray<Leaderboard.LeaderboardRow>>
  }
>() {}

interface LiveState {
  readonly standing: Leaderboard.Standing
  readonly epoch: number
  readonly submissions: number
  readonly payouts: ReadonlyArray<Payout>
  readonly log: Chunk.Chunk<Leaderboard.LeaderboardRow>
}

const isArtifact = (entry: Entry): entry is TrainedArtifact => "recipe" in entry

/** Train a recipe on the cluster under an optional deadline and check what came back. */
const trainWithDeadline = (
  cluster: TrainingCluster["Type"],
  deadline: Duration.Duration | undefined,
  recipe: Recipe,
  seed: bigint
): Effect.Effect<TrainedArtifact, SubmitError> => {
  const job = cluster.train(recipe, seed)
  const bounded = deadline === undefined ? job : job.pipe(
    Effect.timeoutFail({
      duration: deadline,
      onTimeout: () => new TrainingTimeout({ clusterId: cluster.id, deadlineMillis: Duration.toMillis(deadline) })
    })
  )
  return Effect.flatMap(bounded, (trained) => Artifact.validate(trained, { recipe, seed }))
}

const positiveDuration = (
  input: Duration.DurationInput | undefined,
  what: string
): Effect.Effect<Duration.Duration | undefined, RewardInvalid> => {
  if (input === undefined) return Effect.succeed(undefined)
  const decoded = Duration.decode(input)
  return Duration.greaterThan(decoded, Duration.zero) && Duration.isFinite(decoded)
    ? Effect.succeed(decoded)
    : Effect.fail(new RewardInvalid({ reason: `${what} must be a positive, finite duration` }))
}

/**
 * Open a market on the provided cluster and scorer: train and measure the baseline,
 * then start the epoch ticker in the current scope (closing the scope stops it).
 */
export const make = (
  config: MarketConfig
): Effect.Effect<ContinuousMarket["Type"], OpenError, TrainingCluster | Scorer | Scope.Scope> =>
  Effect.gen(function*() {
    const epochLength = (yield* positiveDuration(config.epoch, "the epoch length")) ?? DEFAULT_EPOCH
    const deadline = yield* positiveDuration(config.jobDeadline, "the job deadline")
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    const terms = Leaderboard.termsOf(config)
    const objective = config.objective ?? Objective.valueObjective

    const baselineRecipe = yield* decodeRecipe(config.baseline.recipe)
    const baselineArtifact = yield* trainWithDeadline(cluster, deadline, baselineRecipe, config.baseline.seed)
    const baseline = yield* scorer.measure(baselineArtifact, "held-out")

    const arrivals = yield* Ref.make(0)
    const state = yield* SynchronizedRef.make<LiveState>({
      standing: Leaderboard.initialStanding,
      epoch: 0,
      submissions: 0,
      payouts: [],
      log: Chunk.empty()
    })

    const closeEpoch = SynchronizedRef.updateEffect(state, (current) =>
      Effect.map(Clock.currentTimeMillis, (now): LiveState => {
        const credit = Leaderboard.creditEpoch(terms, current.standing)
        if (credit === undefined) return { ...current, epoch: current.epoch + 1 }
        return {
          ...current,
          epoch: current.epoch + 1,
          standing: credit.standing,
          payouts: Leaderboard.addPayout(current.payouts, credit.researcher, credit.wei),
          log: Chunk.append(current.log, {
            epoch: current.epoch,
            timestamp: now,
            researcher: credit.researcher,
            micros: credit.micros,
            wei: credit.wei,
            kind: "epoch-credit"
          })
        }
      }))
    yield* Effect.forkScoped(Effect.schedule(closeEpoch, Schedule.fixed(epochLength)))

    const submit = (researcher: string, entry: Entry): Effect.Effect<Receipt, SubmitError> =>
      Effect.gen(function*() {
        const submittedAt = yield* Clock.currentTimeMillis
        const index = yield* Ref.getAndUpdate(arrivals, (n) => n + 1)
        const artifact = isArtifact(entry)
          ? yield* Artifact.validate(entry)
          : yield* trainWithDeadline(cluster, deadline, yield* decodeRecipe(entry), BigInt(index))
        const heldOut = yield* scorer.measure(artifact, "held-out")
        const assessment = Objective.assess(objective, config.gate, heldOut, baseline)
        return yield* SynchronizedRef.modifyEffect(state, (current) =>
          Effect.map(Clock.currentTimeMillis, (settledAt): readonly [Receipt, LiveState] => {
            const settled = Leaderboard.settleSubmission(terms, current.standing, researcher, assessment.micros)
            const receipt: Receipt = {
              index,
              researcher,
              seed: artifact.trainSeed,
              submittedAt,
              settledAt,
              epoch: current.epoch,
              heldOut,
              lift: assessment.lift,
              liftMicros: assessment.micros,
              becameRecord: settled.record,
              rejectedByPool: settled.rejectedByPool,
              paidWei: settled.paidWei
            }
            const counted = { ...current, submissions: current.submissions + 1 }
            if (!settled.record) return [receipt, counted]
            return [receipt, {
              ...counted,
              standing: settled.standing,
              payouts: Leaderboard.addPayout(current.payouts, researcher, settled.paidWei),
              log: Chunk.append(current.log, {
                epoch: current.epoch,
                timestamp: settledAt,
                researcher,
                micros: assessment.micros ?? 0n,
                wei: settled.paidWei,
                kind: "record"
              })
            }]
          }))
      })

    const snapshot = Effect.map(SynchronizedRef.get(state), (current): Snapshot => ({
      epoch: current.epoch,
      bestMicros: current.standing.bestMicros,
      holder: current.standing.holder,
      spentWei: current.standing.spentWei,
      poolLeftWei: Leaderboard.poolLeft(terms, current.standing),
      submissions: current.submissions,
      payouts: current.payouts
    }))

    return ContinuousMarket.of({
      terms,
      baseline,
      submit,
      snapshot,
      log: Effect.map(SynchronizedRef.get(state), (current) => Chunk.toReadonlyArray(current.log))
    })
  })

/** The market as a layer over a cluster and a scorer; the epoch ticker lives as long as the layer. */
export const layer = (config: MarketConfig): Layer.Layer<ContinuousMarket, OpenError, TrainingCluster | Scorer> =>
  Layer.scoped(ContinuousMarket, make(config))
