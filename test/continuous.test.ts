import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Layer, Option, TestClock } from "effect"
import fc from "fast-check"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { defaultGate } from "../src/domain/Measurement.js"
import { baseline as baselineRecipe, type Recipe } from "../src/domain/Recipe.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import * as Leaderboard from "../src/market/Leaderboard.js"
import * as Replay from "../src/market/Replay.js"
import { Scorer } from "../src/scorer/Scorer.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import * as Store from "../src/store/MarketStore.js"
import { signed, TestKey } from "./support/keys.js"
import { close, vectors } from "./support/vectors.js"

const continuous = vectors.continuous
const bounty: Leaderboard.ContinuousSchedule = {
  kind: "record-bounty",
  epsilonMicros: BigInt(continuous.epsilonMicros),
  weiPerMicro: BigInt(continuous.weiPerMicro)
}
const baseConfig: Continuous.MarketConfig = {
  gate: defaultGate,
  schedule: bounty,
  baseline: { recipe: baselineRecipe, seed: 0n }
}
/** The simulator, its referee, the test key and a journal in memory. */
const simulated = Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, Store.layerMemory).pipe(Layer.provideMerge(TestKey))
const scenario = (name: string) => continuous.scenarios.find((s) => s.name === name)!

const r = (islands: number, innerSteps: number, keepFraction: number): Recipe => ({
  islands,
  innerSteps,
  innerLr: 0.003,
  outerLr: 0.7,
  keepFraction
})
const sumWei = (payouts: ReadonlyArray<{ wei: bigint }>) => payouts.reduce((total, p) => total + p.wei, 0n)

/** Open a market on the given layers in the test's scope. */
const open = (config: Continuous.MarketConfig) => Continuous.make(config)

describe("live market: the reference scenarios", () => {
  for (const s of continuous.scenarios) {
    it.scoped(`${s.name}: sequential submissions give the reference figures`, () =>
      Effect.gen(function*() {
        const market = yield* open(baseConfig)
        for (const [i, expected] of s.results.entries()) {
          const receipt = yield* market.submit(expected.researcher, expected.recipe)
          assert.strictEqual(receipt.index, i)
          assert.deepStrictEqual(receipt.seeds, [BigInt(i)])
          assert.isTrue(close(receipt.heldOut.value, expected.heldOutValue), `${expected.researcher} value`)
          assert.strictEqual(
            receipt.liftMicros === undefined ? null : Number(receipt.liftMicros),
            expected.liftMicros
          )
          assert.strictEqual(receipt.becameRecord, expected.becameRecord)
          assert.strictEqual(receipt.paidWei.toString(), expected.paidWei)
        }
        const snapshot = yield* market.snapshot
        assert.strictEqual(snapshot.spentWei.toString(), s.totalWei)
        assert.strictEqual(snapshot.bestMicros === undefined ? null : Number(snapshot.bestMicros), s.finalBestMicros)
        assert.strictEqual(snapshot.submissions, s.results.length)
        const log = yield* market.log
        assert.strictEqual(log.length, s.results.filter((x) => x.becameRecord).length)
        assert.isTrue(log.every((row) => row.kind === "record" && row.timestamp === 0 && row.epoch === 0))
        const audit = yield* market.audit
        assert.isTrue(audit.recomputeAgrees)
        assert.deepStrictEqual(audit.payouts, snapshot.payouts)
      }).pipe(Effect.provide(simulated)))
  }

  it.scoped("researchers submit recipes, never artifacts: a forged artifact is refused and never paid (SPEC §15.2)", () =>
    Effect.gen(function*() {
      const market = yield* open(baseConfig)
      // the exploit of the integrity issue: a researcher-built artifact claiming a perfect loss
      const forged = { ...LocalSim.trainUnchecked(r(8, 32, 0.2), 5n), clusterId: "local-sim", trainLoss: 0 }
      const refused = yield* Effect.either(market.submit("mallory", forged))
      assert.isTrue(Either.isLeft(refused) && refused.left._tag === "RecipeInvalid")
      // even with a valid receipt from this market, an artifact is not a recipe
      const receipted = yield* Effect.either(market.submit("mallory", signed(LocalSim.trainUnchecked(r(8, 32, 0.2), 5n))))
      assert.isTrue(Either.isLeft(receipted) && receipted.left._tag === "RecipeInvalid")
      const badRecipe = yield* Effect.either(market.submit("mallory", { ...r(4, 32, 0.1), islands: 0 }))
      assert.isTrue(Either.isLeft(badRecipe) && badRecipe.left._tag === "RecipeInvalid")
      if (Either.isLeft(badRecipe) && badRecipe.left._tag === "RecipeInvalid") {
        assert.strictEqual(badRecipe.left.field, "islands")
      }
      const snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.spentWei, 0n)
      assert.strictEqual(snapshot.submissions, 0)
      assert.deepStrictEqual(yield* market.log, [])
    }).pipe(Effect.provide(simulated)))
})

describe("live market: properties", () => {
  const recipeArb: fc.Arbitrary<Recipe> = fc.record({
    islands: fc.constantFrom(1, 2, 4, 8, 16),
    innerSteps: fc.constantFrom(1, 32, 64, 4000),
    innerLr: fc.constantFrom(3e-4, 3e-3),
    outerLr: fc.constantFrom(0.7, 1.0),
    keepFraction: fc.constantFrom(0.0005, 0.1, 0.2, 1)
  })
  const submissionsArb = fc.array(
    fc.record({ researcher: fc.constantFrom("alice", "bob", "carol"), recipe: recipeArb }),
    { maxLength: 25 }
  )

  it("live submission and replay agree: results, payouts, final best, spent (with and without a pool)", async () => {
    await fc.assert(
      fc.asyncProperty(
        submissionsArb,
        fc.option(fc.bigInt({ min: 0n, max: 400_000n * 1_000_000_000n }), { nil: undefined }),
        async (submissions, poolWei) => {
          const config = { ...baseConfig, poolWei }
          const replayed = Effect.runSync(
            Replay.collect({ ...config, gate: defaultGate }, submissions, Replay.simEvaluator(16))
          )
          const live = await Effect.runPromise(
            Effect.gen(function*() {
              const market = yield* open(config)
              const receipts = yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
              return { receipts, snapshot: yield* market.snapshot, log: yield* market.log, audit: yield* market.audit }
            }).pipe(Effect.scoped, Effect.provide(simulated))
          )
          live.receipts.forEach((receipt, i) => {
            const expected = replayed.results[i]!
            assert.strictEqual(receipt.heldOut.value, expected.heldOutValue)
            assert.strictEqual(receipt.liftMicros, expected.liftMicros)
            assert.strictEqual(receipt.becameRecord, expected.becameRecord)
            assert.strictEqual(receipt.paidWei, expected.paidWei)
          })
          assert.deepStrictEqual(live.snapshot.payouts, replayed.summary.payouts)
          assert.strictEqual(live.snapshot.bestMicros, replayed.summary.finalBestMicros)
          assert.strictEqual(live.snapshot.spentWei, replayed.summary.spentWei)
          const audit = Leaderboard.recompute({ schedule: bounty, poolWei }, live.log)
          assert.deepStrictEqual(audit.discrepancies, [])
          assert.deepStrictEqual(audit.payouts, live.snapshot.payouts)
          assert.isTrue(live.audit.recomputeAgrees)
          assert.deepStrictEqual(live.audit.payouts, replayed.summary.payouts)
        }
      ),
      { numRuns: 40 }
    )
  })
})

describe("live market: concurrency", () => {
  /** The simulator, but each job yields to the scheduler (seed mod 7) times, so jobs finish interleaved. */
  let inFlight = 0
  let mostInFlight = 0
  const staggered = Layer.succeed(
    TrainingCluster,
    TrainingCluster.of({
      id: LocalSim.clusterId,
      isolation: "shared",
      attestation: Option.none(),
      train: (recipe, seed) =>
        Effect.sync(() => {
          inFlight += 1
          mostInFlight = Math.max(mostInFlight, inFlight)
        }).pipe(
          Effect.zipRight(Effect.repeatN(Effect.yieldNow(), Number(seed % 7n))),
          Effect.map(() => {
            inFlight -= 1
            return signed(LocalSim.trainUnchecked(recipe, seed))
          })
        )
    })
  )
  const contenders: ReadonlyArray<Recipe> = [r(2, 32, 0.1), r(4, 32, 0.1), r(8, 32, 0.2), r(4, 32, 0.0005)]
  const CONCURRENCY = 64

  const storm = (poolWei: bigint | undefined) =>
    Effect.gen(function*() {
      const market = yield* open({ ...baseConfig, poolWei, concurrency: CONCURRENCY })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 600 }, (_, i) => i),
        (i) => Effect.fork(market.submit(`researcher-${i % 50}`, contenders[i % contenders.length]!)),
        { concurrency: "unbounded" }
      )
      const receipts = yield* Fiber.joinAll(fibers)
      return { receipts, snapshot: yield* market.snapshot, log: yield* market.log, audit: yield* market.audit }
    }).pipe(
      Effect.provide(Layer.mergeAll(staggered, SimHeldOut.layer, Store.layerMemory).pipe(Layer.provideMerge(TestKey)))
    )

  it.scoped("600 concurrent submitters: every arrival settled once, in order, the frontier bought exactly once", () =>
    Effect.gen(function*() {
      mostInFlight = 0
      const { receipts, snapshot, log, audit } = yield* storm(undefined)
      // jobs trained side by side, never more at once than the market's concurrency
      assert.isAbove(mostInFlight, CONCURRENCY / 2, "jobs really overlapped")
      assert.isAtMost(mostInFlight, CONCURRENCY)
      assert.strictEqual(receipts.length, 600)
      assert.deepStrictEqual(
        receipts.map((x) => x.index).sort((a, b) => a - b),
        Array.from({ length: 600 }, (_, i) => i)
      )
      // settlement is in submission order, whatever order training ended in
      const bySettlement = [...receipts].sort((a, b) => a.index - b.index)
      for (let i = 1; i < bySettlement.length; i++) {
        assert.isAtLeast(bySettlement[i]!.settledAt, bySettlement[i - 1]!.settledAt)
      }
      assert.strictEqual(snapshot.submissions, 600)
      const paid = receipts.reduce((total, x) => total + x.paidWei, 0n)
      assert.strictEqual(paid, snapshot.spentWei)
      assert.strictEqual(sumWei(snapshot.payouts), snapshot.spentWei)
      assert.strictEqual(snapshot.spentWei, bounty.weiPerMicro * (snapshot.bestMicros ?? 0n))
      const records = log.filter((row) => row.kind === "record")
      assert.strictEqual(records.length, receipts.filter((x) => x.becameRecord).length)
      for (let i = 1; i < records.length; i++) assert.isTrue(records[i]!.micros > records[i - 1]!.micros)
      const recomputed = Leaderboard.recompute({ schedule: bounty, poolWei: undefined }, log)
      assert.deepStrictEqual(recomputed.discrepancies, [])
      assert.deepStrictEqual(recomputed.payouts, snapshot.payouts)
      assert.isTrue(audit.recomputeAgrees)
    }))

  it.scoped("600 concurrent submitters never overspend a small pool", () =>
    Effect.gen(function*() {
      const pool = 120_000n * 1_000_000_000n
      const { receipts, snapshot, log } = yield* storm(pool)
      assert.isTrue(snapshot.spentWei <= pool)
      assert.strictEqual(receipts.reduce((total, x) => total + x.paidWei, 0n), snapshot.spentWei)
      assert.strictEqual(snapshot.poolLeftWei, pool - snapshot.spentWei)
      assert.isTrue(receipts.some((x) => x.rejectedByPool), "the pool binds")
      assert.isTrue(receipts.filter((x) => x.rejectedByPool).every((x) => x.paidWei === 0n && !x.becameRecord))
      const audit = Leaderboard.recompute({ schedule: bounty, poolWei: pool }, log)
      assert.deepStrictEqual(audit.discrepancies, [])
      assert.strictEqual(audit.spentWei, snapshot.spentWei)
    }))
})

describe("live market: the Clock", () => {
  const dip = scenario("dip")
  const resubmission = scenario("resubmission")

  it.scoped("time-at-top: k epochs of elapsed time give exactly k credits, capped by the pool", () =>
    Effect.gen(function*() {
      const market = yield* open({
        ...baseConfig,
        schedule: { kind: "time-at-top", weiPerEpoch: 100n },
        poolWei: 650n,
        epoch: Duration.minutes(1)
      })
      // alice: (4, 32, 0.1) with seed 0 is the dip scenario's first record (192,944 micros)
      const alice = yield* market.submit("alice", dip.results[0]!.recipe)
      assert.isTrue(alice.becameRecord)
      assert.strictEqual(alice.paidWei, 0n)
      yield* TestClock.adjust(Duration.seconds(59))
      assert.deepStrictEqual((yield* market.snapshot).payouts, [])
      yield* TestClock.adjust(Duration.seconds(241))
      let snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.epoch, 5)
      assert.deepStrictEqual(snapshot.payouts, [{ researcher: "alice", wei: 500n }])
      // bob: (8, 32, 0.2) with seed 1 is the resubmission scenario's second (270,918 micros)
      const bob = yield* market.submit("bob", resubmission.results[1]!.recipe)
      assert.strictEqual(bob.liftMicros, BigInt(resubmission.results[1]!.liftMicros!))
      assert.isTrue(bob.becameRecord)
      assert.strictEqual(bob.submittedAt, 300_000)
      assert.strictEqual(bob.epoch, 5)
      yield* TestClock.adjust(Duration.minutes(3))
      snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.epoch, 8)
      assert.deepStrictEqual(snapshot.payouts, [{ researcher: "alice", wei: 500n }, { researcher: "bob", wei: 150n }])
      assert.strictEqual(snapshot.spentWei, 650n)
      assert.strictEqual(snapshot.poolLeftWei, 0n)
      const log = yield* market.log
      assert.deepStrictEqual(
        log.map((row) => [row.kind, row.researcher, row.epoch, row.timestamp, row.wei]),
        [
          ["record", "alice", 0, 0, 0n],
          ["epoch-credit", "alice", 0, 60_000, 100n],
          ["epoch-credit", "alice", 1, 120_000, 100n],
          ["epoch-credit", "alice", 2, 180_000, 100n],
          ["epoch-credit", "alice", 3, 240_000, 100n],
          ["epoch-credit", "alice", 4, 300_000, 100n],
          ["record", "bob", 5, 300_000, 0n],
          ["epoch-credit", "bob", 5, 360_000, 100n],
          ["epoch-credit", "bob", 6, 420_000, 50n]
        ]
      )
      const audit = Leaderboard.recompute(market.terms, log)
      assert.deepStrictEqual(audit.discrepancies, [])
      assert.deepStrictEqual(audit.payouts, snapshot.payouts)
      assert.isTrue((yield* market.audit).recomputeAgrees)
    }).pipe(Effect.provide(simulated)))

  it.scoped("an unlimited time-at-top market credits the holder every epoch", () =>
    Effect.gen(function*() {
      const market = yield* open({
        ...baseConfig,
        schedule: { kind: "time-at-top", weiPerEpoch: 7n },
        epoch: Duration.seconds(10)
      })
      yield* TestClock.adjust(Duration.seconds(30)) // three epochs with nobody on top: no credit
      yield* market.submit("alice", dip.results[0]!.recipe)
      yield* TestClock.adjust(Duration.seconds(1000))
      const snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.epoch, 103)
      assert.deepStrictEqual(snapshot.payouts, [{ researcher: "alice", wei: 700n }])
    }).pipe(Effect.provide(simulated)))

  it.scoped("a job past its deadline fails with TrainingTimeout, is not paid, and the market keeps running", () =>
    Effect.gen(function*() {
      const slowForThreeIslands = Layer.succeed(
        TrainingCluster,
        TrainingCluster.of({
          id: "slow-sim",
          isolation: "shared",
          attestation: Option.none(),
          train: (recipe, seed) =>
            recipe.islands === 3
              ? Effect.as(Effect.sleep(Duration.minutes(10)), signed(LocalSim.trainUnchecked(recipe, seed)))
              : Effect.succeed(signed(LocalSim.trainUnchecked(recipe, seed)))
        })
      )
      const market = yield* open({ ...baseConfig, jobDeadline: Duration.minutes(1) }).pipe(
        Effect.provide(Layer.mergeAll(slowForThreeIslands, SimHeldOut.layer, Store.layerMemory).pipe(Layer.provideMerge(TestKey)))
      )
      const slow = yield* Effect.fork(market.submit("alice", r(3, 32, 0.1)))
      yield* TestClock.adjust(Duration.minutes(1))
      const error = yield* Effect.flip(Fiber.join(slow))
      assert.strictEqual(error._tag, "SubmissionFailed")
      if (error._tag === "SubmissionFailed") {
        assert.strictEqual(error.failure._tag, "TrainingTimeout")
        assert.include(error.failure.message, "slow-sim")
        assert.include(error.failure.message, "60000 ms")
      }
      let snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.spentWei, 0n)
      assert.deepStrictEqual(yield* market.log, [])
      // the next arrival (index 1, seed 1) trains normally: (8, 32, 0.2) seed 1 is 270,918 micros
      const bob = yield* market.submit("bob", resubmission.results[1]!.recipe)
      assert.strictEqual(bob.index, 1)
      assert.strictEqual(bob.paidWei, 270_918n * bounty.weiPerMicro)
      snapshot = yield* market.snapshot
      assert.deepStrictEqual(snapshot.payouts, [{ researcher: "bob", wei: 270_918n * bounty.weiPerMicro }])
      // a failed submission is failed in the journal, and its researcher sees why
      const [own] = yield* market.list(Continuous.researcher("alice"))
      assert.strictEqual(own?.status, "failed")
      assert.strictEqual(own?.error?._tag, "TrainingTimeout")
      assert.strictEqual(own?.paidWei, null)
    }))

  it.scoped("a market with a non-positive epoch length does not open", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(open({ ...baseConfig, epoch: Duration.zero }))
      assert.strictEqual(error._tag, "MarketInvalid")
    }).pipe(Effect.provide(simulated)))
})

describe("live market: ranking objective", () => {
  it.scoped("a lowest-cost market at a value floor, end to end", () =>
    Effect.gen(function*() {
      // The simulator's values, but each job's cost is 160 / islands (the baseline's: 160).
      const costly = Layer.succeed(
        Scorer,
        Scorer.of({
          id: "costed-sim",
          shards: 16,
          measure: (artifact, split) =>
            Effect.succeed({ ...SimHeldOut.measure(artifact, split, 16), cost: 160 / artifact.recipe.islands })
        })
      )
      const market = yield* open({
        ...baseConfig,
        schedule: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1n },
        objective: { axis: "cost", sign: -1 }
      }).pipe(Effect.provide(Layer.mergeAll(LocalSim.layer, costly, Store.layerMemory).pipe(Layer.provideMerge(TestKey))))
      const alice = yield* market.submit("alice", r(2, 32, 0.1)) // clears the value gate; cost 80
      const bob = yield* market.submit("bob", r(4, 32, 0.0005)) // cost 40 but over-compressed: below the value floor
      const carol = yield* market.submit("carol", r(4, 32, 0.1)) // clears; cost 40
      const dave = yield* market.submit("dave", r(2, 32, 0.1)) // clears; cost 80, not cheaper than carol
      assert.deepStrictEqual(
        [alice, bob, carol, dave].map((x) => [x.liftMicros, x.becameRecord, x.paidWei]),
        [[80_000_000n, true, 80_000_000n], [undefined, false, 0n], [120_000_000n, true, 40_000_000n], [
          80_000_000n,
          false,
          0n
        ]]
      )
      const snapshot = yield* market.snapshot
      assert.strictEqual(snapshot.bestMicros, 120_000_000n)
      assert.strictEqual(snapshot.holder, "carol")
      assert.strictEqual(snapshot.spentWei, 120_000_000n)
    }))
})
