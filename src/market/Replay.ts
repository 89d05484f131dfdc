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
import { type ArtifactInvalid, type ClusterError, MarketInvalid, type ScoreError } from "../domain/Errors.js"
import type { Measurement } from "../domain/Measurement.js"
import type { Recipe } from "../domain/Recipe.js"
import * as LocalSim from "../cluster/LocalSimCluster.js"
import { publishPhase, TrainingCluster, withJob } from "../cluster/TrainingCluster.js"
import { Scorer } from "../scorer/Scorer.js"
import * as SimHeldOut from "../scorer/HeldOutScorer.js"
import * as Leaderboard from "./Leaderboard.js"
import * as Objective from "./Objective.js"
import type { RecordTest } from "./RecordTest.js"
import * as Reward from "./Reward.js"
import * as Seeds from "./Seeds.js"
import * as Settlement from "./Settlement.js"

/** One submission of the replay: who submitted which recipe. */
export interface ReplaySubmission {
  readonly researcher: string
  readonly recipe: Recipe
}

/**
 * What a replayed market is: the same rules as a live one (gate, schedule, pool,
 * objective, baseline, record test) and how its seeds are drawn (default: submission
 * i trains with seed i and the baseline with its own seed, SPEC §8; with a record test,
 * the keyed seeds of §15.3 — `Rules.seedPlan`).
 */
export interface ReplayConfig extends Leaderboard.MarketRules {
  readonly recordTest?: RecordTest | undefined
  readonly seeds?: Seeds.SeedPlan | undefined
}

/** The seed plan of a replay config. */
const planOf = (config: ReplayConfig): Seeds.SeedPlan =>
  config.seeds ?? { kind: "index", baseline: config.baseline.seed }

/** The result of one replayed submission. */
export interface ReplayResult {
  /** Position in the replay (without a record test also its training seed). */
  readonly index: number
  readonly researcher: string
  /** The referee's (pooled) held-out value of the trained submission. */
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

/**
 * Train on the provided `TrainingCluster`, validate the artifact, measure with the
 * provided `Scorer`; an optional progress sink hears when a run is being scored and
 * when it is done.
 */
export const serviceEvaluator: Effect.Effect<Evaluator<EvaluateError, never>, never, TrainingCluster | Scorer> = Effect
  .gen(function*() {
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    return {
      evaluate: (recipe, seed) => {
        const runRef = Artifact.ref({ recipe, trainSeed: seed })
        return cluster.train(recipe, seed).pipe(
          Effect.flatMap((trained) => Artifact.validate(trained, { recipe, seed })),
          Effect.tap(() => publishPhase(cluster.id, "scoring", runRef)),
          Effect.flatMap((artifact) => scorer.measure(artifact, "held-out")),
          Effect.ensuring(publishPhase(cluster.id, "ended", runRef))
        )
      }
    }
  })

/**
 * The replay's fold: settles one measured submission at a time and keeps only the
 * standing and payout totals. Log rows go to `onRow` when one is given.
 */
export interface Settler {
  /** Submissions settled so far (the next submission's index). */
  readonly count: () => number
  /** The seeds the next submission trains with. */
  readonly seeds: () => ReadonlyArray<bigint>
  /** The seeds submission `index` (0-based, in the whole sequence) trains with. */
  readonly seedsOf: (index: number) => ReadonlyArray<bigint>
  /** True when submission i trains with seed i alone (no record test): the hot path. */
  readonly indexSeeds: boolean
  /** Settle the next submission on its held-out measurements (one per seed). */
  readonly settle: (researcher: string, perSeed: ReadonlyArray<Measurement>) => ReplayResult
  /** Settle the next submission on its one held-out measurement (the hot path of a market without a record test). */
  readonly settleOne: (researcher: string, heldOut: Measurement) => ReplayResult
  readonly summary: () => ReplaySummary
}

/**
 * A fresh settler for a market whose baseline measured `baseline` on HeldOut (one
 * measurement per baseline seed). Settlement is `Settlement.decide`, the rule the live
 * market journals and the audit recomputes; without a record test its one-seed path is
 * written out for speed with the same functions.
 */
export const makeSettler = (
  config: ReplayConfig,
  baseline: Settlement.Judged,
  onRow?: (row: Leaderboard.LeaderboardRow) => void
): Settler => {
  const terms = Leaderboard.termsOf(config)
  const objective = config.objective ?? Objective.valueObjective
  const timeAtTop = config.schedule.kind === "time-at-top"
  const plan = planOf(config)
  const totals = new Map<string, bigint>()
  let standing: Settlement.Standing = Settlement.initialStanding
  let index = 0
  let records = 0
  const closeEpoch = (at: number, researcher: string, paid: bigint): bigint => {
    if (!timeAtTop) return paid
    const credit = Settlement.creditEpoch(config, standing)
    if (credit === undefined) return paid
    standing = credit.standing
    Reward.accumulate(totals, credit.researcher, credit.wei)
    onRow?.({
      epoch: at,
      timestamp: at,
      researcher: credit.researcher,
      micros: credit.micros,
      wei: credit.wei,
      kind: "epoch-credit"
    })
    return credit.researcher === researcher ? credit.wei : paid
  }
  const record = (at: number, researcher: string, micros: bigint, paidWei: bigint) => {
    records += 1
    Reward.accumulate(totals, researcher, paidWei)
    onRow?.({ epoch: at, timestamp: at, researcher, micros, wei: paidWei, kind: "record" })
  }
  const settleOne = (researcher: string, heldOut: Measurement): ReplayResult => {
    if (config.recordTest !== undefined) return settle(researcher, [heldOut])
    const at = index
    index += 1
    const micros = Objective.micros(objective, config.gate, heldOut, baseline.pooled)
    let becameRecord = false
    let paidWei = 0n
    if (micros !== undefined) {
      const settled = Leaderboard.settleSubmission(terms, standing, researcher, micros)
      if (settled.record) {
        becameRecord = true
        paidWei = settled.paidWei
        standing = settled.standing
        record(at, researcher, micros, paidWei)
      }
    }
    paidWei = closeEpoch(at, researcher, paidWei)
    return { index: at, researcher, heldOutValue: heldOut.value, liftMicros: micros, becameRecord, paidWei }
  }
  const settle = (researcher: string, perSeed: ReadonlyArray<Measurement>): ReplayResult => {
    const [only] = perSeed
    if (config.recordTest === undefined && perSeed.length === 1 && only !== undefined) return settleOne(researcher, only)
    const at = index
    index += 1
    const judged = Settlement.judged(perSeed)
    const decision = Settlement.decide(config, baseline, standing, researcher, judged)
    standing = decision.standing
    if (decision.becameRecord) record(at, researcher, decision.liftMicros ?? 0n, decision.paidWei)
    const paidWei = closeEpoch(at, researcher, decision.paidWei)
    return {
      index: at,
      researcher,
      heldOutValue: judged.pooled.value,
      liftMicros: decision.liftMicros,
      becameRecord: decision.becameRecord,
      paidWei
    }
  }
  return {
    count: () => index,
    seeds: () => Seeds.forSubmission(plan, index),
    seedsOf: (at) => Seeds.forSubmission(plan, at),
    indexSeeds: plan.kind === "index" && config.recordTest === undefined,
    settle,
    settleOne,
    summary: () => ({
      submissions: index,
      records,
      payouts: Reward.payoutsOf(totals),
      finalBestMicros: standing.bestMicros,
      spentWei: standing.spentWei
    })
  }
}

/**
 * Measure the baseline (with each of its seeds) and build a settler for a replay. A
 * record test compares k keyed seeds per submission (SPEC §15.3): a config with one but
 * without keyed `seeds` (one seed per submission would make every Welch test a coin
 * with p 0 or 1) is `MarketInvalid`.
 */
export const prepare = <E, R>(
  config: ReplayConfig,
  evaluator: Evaluator<E, R>,
  onRow?: (row: Leaderboard.LeaderboardRow) => void
): Effect.Effect<Settler, E | MarketInvalid, R> => {
  const plan = planOf(config)
  if (config.recordTest !== undefined && (plan.kind !== "keyed" || plan.seeds !== config.recordTest.seeds)) {
    return Effect.fail(
      new MarketInvalid({
        reason: `a record test of ${config.recordTest.seeds} seeds needs that many keyed seeds per submission: ` +
          "give the replay `seeds` (Rules.seedPlan)"
      })
    )
  }
  return Effect.map(
    Effect.forEach(Seeds.forBaseline(plan), (seed) => evaluator.evaluate(config.baseline.recipe, seed)).pipe(
      withJob({ name: "baseline" })
    ),
    (perSeed) => makeSettler(config, Settlement.judged(perSeed), onRow)
  )
}

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
 * settled in one plain loop. Otherwise up to `concurrency` submissions (default 1)
 * are trained and measured at once, each with the seeds of its own place in the
 * sequence, and settled strictly in order.
 */
export const stream = <E, R, E2, R2>(
  settler: Settler,
  submissions: Stream.Stream<ReplaySubmission, E, R>,
  evaluator: Evaluator<E2, R2>,
  options: { readonly concurrency?: number | undefined } = {}
): Stream.Stream<ReplayResult, E | E2, R | R2> => {
  const sync = evaluator.sync
  if (sync !== undefined) {
    const batches = Stream.rechunk(submissions, SYNC_BATCH)
    return settler.indexSeeds
      ? Stream.mapChunks(batches, (chunk) =>
        Chunk.map(chunk, (submission) =>
          settler.settleOne(submission.researcher, sync(submission.recipe, BigInt(settler.count())))))
      : Stream.mapChunks(batches, (chunk) =>
        Chunk.map(chunk, (submission) =>
          settler.settle(submission.researcher, settler.seeds().map((seed) => sync(submission.recipe, seed)))))
  }
  return Stream.suspend(() => {
    // the submissions settled before this stream runs come first
    const start = settler.count()
    return submissions.pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(([submission, i]) =>
        Effect.map(
          Effect.forEach(settler.seedsOf(start + i), (seed) => evaluator.evaluate(submission.recipe, seed)).pipe(
            // a progress display names the job by its researcher and place
            withJob({ name: `${submission.researcher} #${start + i}` })
          ),
          (perSeed) => [submission.researcher, perSeed] as const
        ), { concurrency: options.concurrency ?? 1 }),
      Stream.map(([researcher, perSeed]) => settler.settle(researcher, perSeed))
    )
  })
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
): Effect.Effect<ReplaySummary, E | E2 | E3 | MarketInvalid, R | R2 | R3> =>
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
): Effect.Effect<{ readonly results: ReadonlyArray<ReplayResult>; readonly summary: ReplaySummary }, E | MarketInvalid, R> =>
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
