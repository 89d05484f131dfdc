/**
 * The replay form of the continuous market (SPEC §8): an ordered stream of
 * (researcher, recipe) submissions, submission i trained with seed i, settled
 * against a baseline trained with a given seed. It folds: per-submission results are
 * emitted as a stream and only the standing and the payout totals are kept, so
 * memory stays flat however many submissions there are.
 *
 * The hot arithmetic is plain functions (simulated training, held-out measurement,
 * lift, gate, micros, the bounty's `beat`); Effect orchestrates whole chunks. With
 * the simulated cluster and scorer (`simEvaluator`) a chunk is evaluated
 * synchronously; any other cluster and scorer (`serviceEvaluator`) go through their
 * services one submission at a time.
 *
 * TimeAtTop in replay form: the replay has no clock, so one epoch elapses per
 * submission. After submission i is settled, epoch i closes and the holder of the
 * top spot is credited min(weiPerEpoch, pool left). A result's `paidWei` is what that
 * submission's researcher received at its step (their epoch credit when they hold
 * the top spot); `payouts` and `spentWei` carry every credit.
 */
import { Chunk, Effect, Stream } from "effect"
import * as Artifact from "../domain/Artifact.js"
import type { ArtifactInvalid, ClusterError, ScoreError } from "../domain/Errors.js"
import type { Measurement } from "../domain/Measurement.js"
import type { Recipe } from "../domain/Recipe.js"
import * as LocalSim from "../cluster/LocalSimCluster.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import { Scorer } from "../scorer/Scorer.js"
import * as SimHeldOut from "../scorer/HeldOutScorer.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Objective from "./Objective.js"
import * as Reward from "./Reward.js"

/** One submission of the replay: who submitted which recipe. */
export interface ReplaySubmission {
  readonly researcher: string
  readonly recipe: Recipe
}

/** What a replayed market is: the same rules as a live one. */
export type ReplayConfig = Leaderboard.MarketRules

/** The result of one replayed submission. */
export interface ReplayResult {
  /** Position in the replay (also its training seed). */
  readonly index: number
  readonly researcher: string
  /** The referee's held-out value of the trained submission. */
  readonly heldOutValue: number
  /** The objective lift in micros; `undefined` when gated out. */
  readonly liftMicros: bigint | undefined
  readonly becameRecord: boolean
  readonly paidWei: bigint
}

/** The outcome of a whole replay. */
export interface ReplaySummary {
  readonly submissions: number
  readonly records: number
  readonly payouts: ReadonlyArray<Reward.Payout>
  readonly finalBestMicros: bigint | undefined
  readonly spentWei: bigint
}

/**
 * How submissions are trained and measured on HeldOut. `sync`, when present, is a
 * pure evaluation the replay calls for whole chunks (the hot path); `evaluate` is
 * the general effectful one.
 */
export interface Evaluator<E, R> {
  readonly sync?: ((recipe: Recipe, seed: bigint) => Measurement) | undefined
  readonly evaluate: (recipe: Recipe, seed: bigint) => Effect.Effect<Measurement, E, R>
}

/**
 * The simulated cluster and held-out scorer as plain functions (SPEC §3, §4).
 * Recipes are assumed decoded (as `LocalSim.trainUnchecked` assumes).
 */
export const simEvaluator = (shards: number): Evaluator<never, never> => {
  const sync = (recipe: Recipe, seed: bigint): Measurement =>
    SimHeldOut.measure(LocalSim.trainUnchecked(recipe, seed), "held-out", shards)
  return { sync, evaluate: (recipe, seed) => Effect.sync(() => sync(recipe, seed)) }
}

/** What the service evaluator can fail with. */
export type EvaluateError = ClusterError | ArtifactInvalid | ScoreError

/** Train on the provided `TrainingCluster`, validate the artifact, measure with the provided `Scorer`. */
export const serviceEvaluator: Effect.Effect<Evaluator<EvaluateError, never>, never, TrainingCluster | Scorer> = Effect
  .gen(function*() {
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    return {
      evaluate: (recipe, seed) =>
        cluster.train(recipe, seed).pipe(
          Effect.flatMap((trained) => Artifact.validate(trained, { recipe, seed })),
          Effect.flatMap((artifact) => scorer.measure(artifact, "held-out"))
        )
    }
  })

/**
 * The replay's fold: settles one measured submission at a time and keeps only the
 * standing and payout totals. Log rows go to `onRow` when one is given.
 */
export interface Settler {
  /** Submissions settled so far (the next submission's index and seed). */
  readonly count: () => number
  readonly settle: (researcher: string, heldOut: Measurement) => ReplayResult
  readonly summary: () => ReplaySummary
}

/** A fresh settler for a market whose baseline measured `baseline` on HeldOut. */
export const makeSettler = (
  config: ReplayConfig,
  baseline: Measurement,
  onRow?: (row: Leaderboard.LeaderboardRow) => void
): Settler => {
  const terms = Leaderboard.termsOf(config)
  const objective = config.objective ?? Objective.valueObjective
  const timeAtTop = config.schedule.kind === "time-at-top"
  const totals = new Map<string, bigint>()
  let standing = Leaderboard.initialStanding
  let index = 0
  let records = 0
  const settle = (researcher: string, heldOut: Measurement): ReplayResult => {
    const at = index
    index += 1
    const micros = Objective.micros(objective, config.gate, heldOut, baseline)
    let record = false
    let paidWei = 0n
    if (micros !== undefined) {
      const settled = Leaderboard.settleSubmission(terms, standing, researcher, micros)
      if (settled.record) {
        record = true
        paidWei = settled.paidWei
        records += 1
        standing = settled.standing
        Reward.accumulate(totals, researcher, paidWei)
        onRow?.({ epoch: at, timestamp: at, researcher, micros, wei: paidWei, kind: "record" })
      }
    }
    if (timeAtTop) {
      const credit = Leaderboard.creditEpoch(terms, standing)
      if (credit !== undefined) {
        standing = credit.standing
        Reward.accumulate(totals, credit.researcher, credit.wei)
        if (credit.researcher === researcher) paidWei = credit.wei
        onRow?.({
          epoch: at,
          timestamp: at,
          researcher: credit.researcher,
          micros: credit.micros,
          wei: credit.wei,
          kind: "epoch-credit"
        })
      }
    }
    return { index: at, researcher, heldOutValue: heldOut.value, liftMicros: micros, becameRecord: record, paidWei }
  }
  return {
    count: () => index,
    settle,
    summary: () => ({
      submissions: index,
      records,
      payouts: Reward.payoutsOf(totals),
      finalBestMicros: standing.bestMicros,
      spentWei: standing.spentWei
    })
  }
}

/** Measure the baseline and build a settler for a replay. */
export const prepare = <E, R>(
  config: ReplayConfig,
  evaluator: Evaluator<E, R>,
  onRow?: (row: Leaderboard.LeaderboardRow) => void
): Effect.Effect<Settler, E, R> =>
  Effect.map(
    evaluator.evaluate(config.baseline.recipe, config.baseline.seed),
    (baseline) => makeSettler(config, baseline, onRow)
  )

/**
 * Submissions per batch on the synchronous path. Small enough that a batch's
 * submissions and results die young (a 4096-element chunk outlives several
 * young-generation collections and costs more in copying than in arithmetic), large
 * enough that Effect's per-chunk orchestration is negligible. Measured with
 * `npm run bench`.
 */
export const SYNC_BATCH = 512

/**
 * Settle a stream of submissions in order, emitting each result. With a `sync`
 * evaluator the stream is cut into batches of `SYNC_BATCH`, each evaluated and
 * settled in one plain loop.
 */
export const stream = <E, R, E2, R2>(
  settler: Settler,
  submissions: Stream.Stream<ReplaySubmission, E, R>,
  evaluator: Evaluator<E2, R2>
): Stream.Stream<ReplayResult, E | E2, R | R2> => {
  const sync = evaluator.sync
  if (sync !== undefined) {
    return Stream.mapChunks(Stream.rechunk(submissions, SYNC_BATCH), (chunk) =>
      Chunk.map(chunk, (submission) =>
        settler.settle(submission.researcher, sync(submission.recipe, BigInt(settler.count())))))
  }
  return Stream.mapEffect(submissions, (submission) =>
    Effect.map(
      evaluator.evaluate(submission.recipe, BigInt(settler.count())),
      (heldOut) => settler.settle(submission.researcher, heldOut)
    ))
}

/**
 * Replay a market: measure the baseline, settle every submission in order, hand
 * each chunk of results to `onResults` (nothing kept), and return the summary.
 */
export const run = <E, R, E2, R2, E3 = never, R3 = never>(
  config: ReplayConfig,
  submissions: Stream.Stream<ReplaySubmission, E, R>,
  evaluator: Evaluator<E2, R2>,
  onResults?: (results: Chunk.Chunk<ReplayResult>) => Effect.Effect<void, E3, R3>
): Effect.Effect<ReplaySummary, E | E2 | E3, R | R2 | R3> =>
  Effect.flatMap(prepare(config, evaluator), (settler) => {
    const results = stream(settler, submissions, evaluator)
    const drained = onResults === undefined ? Stream.runDrain(results) : Stream.runForEachChunk(results, onResults)
    return Effect.map(drained, () => settler.summary())
  })

/** Replay a (small) list of submissions and collect every result: for tests and examples. */
export const collect = <E, R>(
  config: ReplayConfig,
  submissions: Iterable<ReplaySubmission>,
  evaluator: Evaluator<E, R>
): Effect.Effect<{ readonly results: ReadonlyArray<ReplayResult>; readonly summary: ReplaySummary }, E, R> =>
  Effect.suspend(() => {
    const results: Array<ReplayResult> = []
    return Effect.map(
      run(config, Stream.fromIterable(submissions), evaluator, (chunk) =>
        Effect.sync(() => {
          for (const result of chunk) results.push(result)
        })),
      (summary) => ({ results, summary })
    )
  })
