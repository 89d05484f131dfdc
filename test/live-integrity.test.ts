/**
 * The live market against the researchers it pays (SPEC §15) and against its own
 * crashes (SPEC §16), in the library: market-owned seeds and the record test, Ladder
 * feedback, submission budgets, commit-reveal and copies, and a journal that survives a
 * restart and refuses to start when edited. Each money path is attacked first.
 */
import { assert, describe, it } from "@effect/vitest"
import { createHash, createHmac } from "node:crypto"
import { Deferred, Duration, Effect, Exit, Layer, Option, Ref, Scope, TestClock } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { defaultGate } from "../src/domain/Measurement.js"
import { baseline as baselineRecipe, type Recipe } from "../src/domain/Recipe.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import type * as Journal from "../src/market/Journal.js"
import * as Replay from "../src/market/Replay.js"
import * as Rules from "../src/market/Rules.js"
import * as Seeds from "../src/market/Seeds.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { MarketStore } from "../src/store/MarketStore.js"
import * as Store from "../src/store/MarketStore.js"
import { signed, TestKey, testKey } from "./support/keys.js"
import { simulatedAround } from "./support/market.js"
import { vectors } from "./support/vectors.js"

const r = (islands: number, innerSteps: number, keepFraction: number, innerLr = 0.003): Recipe => ({
  islands,
  innerSteps,
  innerLr,
  outerLr: 0.7,
  keepFraction
})
const bounty = { kind: "record-bounty" as const, epsilonMicros: 1000n, weiPerMicro: 1_000_000_000n }
const baseConfig: Continuous.MarketConfig = {
  gate: defaultGate,
  schedule: bounty,
  baseline: { recipe: baselineRecipe, seed: 0n }
}

/** The simulator (signed under the test key), counting the training runs it does. */
const countingCluster = (calls: Ref.Ref<number>) => simulatedAround((_recipe, train) => Effect.zipRight(Ref.update(calls, (n) => n + 1), train))

const services = (cluster: Layer.Layer<TrainingCluster>) =>
  Layer.mergeAll(cluster, SimHeldOut.layer, Store.layerMemory).pipe(Layer.provideMerge(TestKey))

const simulated = services(LocalSim.layer.pipe(Layer.provide(TestKey)))

/** sha256hex(canonical recipe JSON + "\n" + salt + "\n" + researcher), computed here independently. */
const commitmentOf = (recipe: Recipe, salt: string, researcher: string): string => {
  const canonical = `{"innerLr":${recipe.innerLr},"innerSteps":${recipe.innerSteps},"islands":${recipe.islands},` +
    `"keepFraction":${recipe.keepFraction},"outerLr":${recipe.outerLr}}`
  return createHash("sha256").update(`${canonical}\n${salt}\n${researcher}`).digest("hex")
}

describe("market-owned seeds (SPEC §15.3)", () => {
  it("seed(i, j) is the first 8 bytes, big-endian, of HMAC-SHA256(key, \"seed:i:j\")", () => {
    for (const [i, j] of [[0, 0], [0, 2], [17, 1], [123456, 0]] as const) {
      const mac = createHmac("sha256", testKey).update(`seed:${i}:${j}`).digest()
      assert.strictEqual(Seeds.submissionSeed(testKey, i, j), mac.readBigUInt64BE(0))
    }
    const baselineMac = createHmac("sha256", testKey).update("baseline:1").digest()
    assert.strictEqual(Seeds.baselineSeed(testKey, 1), baselineMac.readBigUInt64BE(0))
  })

  it.scoped("with a record test each submission trains with its k keyed seeds; the baseline with its own", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const market = yield* Continuous.make({ ...baseConfig, recordTest: { seeds: 3, alpha: 0.01 } }).pipe(
        Effect.provide(services(countingCluster(calls)))
      )
      assert.strictEqual(yield* Ref.get(calls), 3, "the baseline trained once per seed")
      const receipt = yield* market.submit("alice", r(8, 32, 0.2))
      assert.deepStrictEqual(receipt.seeds, [0, 1, 2].map((j) => Seeds.submissionSeed(testKey, 0, j)))
      assert.strictEqual(receipt.perSeed.length, 3)
      assert.strictEqual(receipt.heldOut.n, 3 * 16)
      assert.strictEqual(yield* Ref.get(calls), 6)
    }))
})

describe("the record test (SPEC §15.4): resubmitting the leader is no lottery ticket", () => {
  const leader = r(8, 32, 0.2)
  const lottery = (recordTest: Rules.MarketRules["recordTest"]) => {
    const config: Replay.ReplayConfig = {
      ...baseConfig,
      gate: defaultGate,
      recordTest,
      seeds: recordTest === undefined
        ? { kind: "index", baseline: 0n }
        : { kind: "keyed", key: testKey, seeds: recordTest.seeds }
    }
    const submissions = [
      { researcher: "alice", recipe: leader },
      ...Array.from({ length: 150 }, (_, i) => ({ researcher: `copycat-${i}`, recipe: leader }))
    ]
    return Effect.runSync(Replay.collect(config, submissions, Replay.simEvaluator(16)))
  }

  it("150 copies of a genuine improvement: at most one copy becomes a record with the test; the lottery pays without it", () => {
    const tested = lottery({ seeds: 3, alpha: 0.01 })
    assert.isTrue(tested.results[0]!.becameRecord, "the genuine improvement is a record")
    const testedCopies = tested.results.slice(1).filter((x) => x.becameRecord).length
    assert.isAtMost(testedCopies, 1)
    const untested = lottery(undefined)
    const untestedCopies = untested.results.slice(1).filter((x) => x.becameRecord).length
    // without the test, resubmitting the leader wins on training noise alone
    assert.isAtLeast(untestedCopies, 2)
    assert.isTrue(untested.summary.spentWei > tested.summary.spentWei)
  })

  it("genuine improvements of the reference scenarios' size still become records under the test", () => {
    const improving = vectors.continuous.scenarios.find((s) => s.name === "improving")!
    const config: Replay.ReplayConfig = {
      ...baseConfig,
      gate: defaultGate,
      recordTest: { seeds: 3, alpha: 0.01 },
      seeds: { kind: "keyed", key: testKey, seeds: 3 }
    }
    const { results } = Effect.runSync(
      Replay.collect(config, improving.results.map((x) => ({ researcher: x.researcher, recipe: x.recipe })), Replay.simEvaluator(16))
    )
    assert.deepStrictEqual(results.map((x) => x.becameRecord), improving.results.map((x) => x.becameRecord))
  })

  it("a replay with a record test but one seed per submission is MarketInvalid, not a coin toss of a Welch test", () => {
    const improving = vectors.continuous.scenarios.find((s) => s.name === "improving")!
    const submissions = improving.results.map((x) => ({ researcher: x.researcher, recipe: x.recipe }))
    const recordTest = { seeds: 3, alpha: 0.01 }
    for (
      const seeds of [undefined, { kind: "index", baseline: 0n }, { kind: "keyed", key: testKey, seeds: 2 }] satisfies Array<
        Replay.ReplayConfig["seeds"]
      >
    ) {
      const refused = Effect.runSync(
        Effect.flip(Replay.collect({ ...baseConfig, gate: defaultGate, recordTest, seeds }, submissions, Replay.simEvaluator(16)))
      )
      assert.strictEqual(refused._tag, "MarketInvalid")
      assert.include(refused.message, "3 seeds")
    }
  })

  it.scoped("the live market settles the record test exactly as the replay does", () =>
    Effect.gen(function*() {
      const recordTest = { seeds: 3, alpha: 0.01 }
      const submissions = [leader, leader, r(4, 32, 0.1), leader, r(16, 32, 0.2)].map((recipe, i) => ({
        researcher: `r${i}`,
        recipe
      }))
      const market = yield* Continuous.make({ ...baseConfig, recordTest }).pipe(Effect.provide(simulated))
      const receipts = yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
      const replayed = Effect.runSync(Replay.collect(
        { ...baseConfig, gate: defaultGate, recordTest, seeds: { kind: "keyed", key: testKey, seeds: 3 } },
        submissions,
        Replay.simEvaluator(16)
      ))
      assert.deepStrictEqual(
        receipts.map((x) => [x.liftMicros, x.becameRecord, x.paidWei]),
        replayed.results.map((x) => [x.liftMicros, x.becameRecord, x.paidWei])
      )
      assert.isTrue((yield* market.audit).recomputeAgrees)
    }))
})

describe("Ladder feedback (SPEC §15.5)", () => {
  it.scoped("a researcher sees held-out figures of their records only; never another's submission", () =>
    Effect.gen(function*() {
      const market = yield* Continuous.make({ ...baseConfig, feedback: "ladder" }).pipe(Effect.provide(simulated))
      const record = yield* market.submit("alice", r(8, 32, 0.2))
      const weaker = yield* market.submit("alice", r(2, 32, 0.1))
      assert.isTrue(record.becameRecord)
      assert.isFalse(weaker.becameRecord)
      const alice = Continuous.researcher("alice")
      const seenRecord = yield* market.view(record.submissionId, alice)
      assert.strictEqual(seenRecord.heldOutValue, record.heldOut.value)
      assert.strictEqual(seenRecord.liftMicros, record.liftMicros)
      const seenWeaker = yield* market.view(weaker.submissionId, alice)
      // the probe learns only that it did not beat the public best
      assert.strictEqual(seenWeaker.becameRecord, false)
      assert.strictEqual(seenWeaker.heldOutValue, null)
      assert.strictEqual(seenWeaker.liftMicros, null)
      assert.strictEqual(seenWeaker.bestMicros, record.liftMicros)
      // the operator sees everything
      const operatorView = yield* market.view(weaker.submissionId, Continuous.operator)
      assert.strictEqual(operatorView.heldOutValue, weaker.heldOut.value)
      // another researcher cannot tell the submission exists
      const stranger = yield* Effect.flip(market.view(weaker.submissionId, Continuous.researcher("mallory")))
      assert.strictEqual(stranger._tag, "NotFound")
      const unknown = yield* Effect.flip(market.view("sub-made-up", Continuous.researcher("mallory")))
      assert.strictEqual(unknown.message.replace("sub-made-up", weaker.submissionId), stranger.message)
      assert.deepStrictEqual(yield* market.list(Continuous.researcher("mallory")), [])
      assert.deepStrictEqual((yield* market.list(alice)).map((v) => v.submissionId), [weaker.submissionId, record.submissionId])
    }))

  it.scoped("with full feedback a researcher sees the held-out value of every own submission", () =>
    Effect.gen(function*() {
      const market = yield* Continuous.make(baseConfig).pipe(Effect.provide(simulated))
      const weaker = yield* market.submit("bob", r(2, 32, 0.1))
      const seen = yield* market.view(weaker.submissionId, Continuous.researcher("bob"))
      assert.strictEqual(seen.heldOutValue, weaker.heldOut.value)
    }))
})

describe("submission budget (SPEC §15.5)", () => {
  it.scoped("the (c+1)th accepted submission within s seconds is refused and not trained; the window slides on the Clock", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const market = yield* Continuous.make({ ...baseConfig, submissionBudget: { count: 2, perSeconds: 60 } }).pipe(
        Effect.provide(services(countingCluster(calls)))
      )
      const trainedBefore = yield* Ref.get(calls)
      yield* market.submit("alice", r(2, 32, 0.1))
      yield* TestClock.adjust(Duration.seconds(30))
      yield* market.submit("alice", r(4, 32, 0.1))
      const third = yield* Effect.flip(market.submit("alice", r(8, 32, 0.2)))
      assert.strictEqual(third._tag, "SubmissionRefused")
      // refused before anything was trained or journaled
      assert.strictEqual(yield* Ref.get(calls), trainedBefore + 2)
      assert.strictEqual((yield* market.snapshot).submissions, 2)
      // a bad recipe does not count against the budget, and another researcher has their own
      assert.strictEqual((yield* Effect.flip(market.submit("bob", { ...r(2, 32, 0.1), islands: 0 })))._tag, "RecipeInvalid")
      yield* market.submit("bob", r(8, 32, 0.2))
      // 60 s after alice's first, one slot is free again
      yield* TestClock.adjust(Duration.seconds(30))
      yield* market.submit("alice", r(8, 32, 0.2))
      assert.strictEqual((yield* Effect.flip(market.submit("alice", r(16, 32, 0.2))))._tag, "SubmissionRefused")
    }))
})

describe("commit-reveal and copies (SPEC §15.7)", () => {
  const config = { ...baseConfig, commitReveal: true, revealWindowSeconds: 600 }

  it.scoped("a reveal that matches its commitment is accepted and trained; a copy committed later is not", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const market = yield* Continuous.make(config).pipe(Effect.provide(services(countingCluster(calls))))
      const recipe = r(8, 32, 0.2)
      // a direct submission is refused: this market takes commitments
      assert.strictEqual((yield* Effect.flip(market.accept("alice", recipe)))._tag, "CommitRevealRequired")
      const aliceCommit = yield* market.commit("alice", commitmentOf(recipe, "alice-salt", "alice"))
      const accepted = yield* market.reveal("alice", aliceCommit.commitId, recipe, "alice-salt")
      assert.strictEqual(accepted.status, "queued")
      const receipt = yield* market.settled(accepted.submissionId)
      assert.isTrue(receipt.becameRecord)
      const trained = yield* Ref.get(calls)
      // mallory saw alice's recipe once it was revealed, and commits to the same one
      const copy = yield* market.commit("mallory", commitmentOf(recipe, "mallory-salt", "mallory"))
      const duplicate = yield* Effect.flip(market.reveal("mallory", copy.commitId, recipe, "mallory-salt"))
      assert.strictEqual(duplicate._tag, "DuplicateSubmission")
      assert.strictEqual(yield* Ref.get(calls), trained, "a copy is never trained")
      // revealing twice is a duplicate too
      assert.strictEqual(
        (yield* Effect.flip(market.reveal("alice", aliceCommit.commitId, recipe, "alice-salt")))._tag,
        "DuplicateSubmission"
      )
      const snapshot = yield* market.snapshot
      assert.deepStrictEqual(snapshot.payouts.map((p) => p.researcher), ["alice"])
    }).pipe(Effect.provide(TestKey)))

  it.scoped("a wrong salt, recipe or researcher is RevealMismatch; another's commitment is NotFound; late is expired", () =>
    Effect.gen(function*() {
      const market = yield* Continuous.make(config).pipe(Effect.provide(simulated))
      const recipe = r(4, 32, 0.1)
      const commit = yield* market.commit("bob", commitmentOf(recipe, "s", "bob"))
      assert.strictEqual((yield* Effect.flip(market.reveal("bob", commit.commitId, recipe, "t")))._tag, "RevealMismatch")
      assert.strictEqual(
        (yield* Effect.flip(market.reveal("bob", commit.commitId, r(4, 32, 0.2), "s")))._tag,
        "RevealMismatch"
      )
      assert.strictEqual((yield* Effect.flip(market.reveal("carol", commit.commitId, recipe, "s")))._tag, "NotFound")
      assert.strictEqual((yield* Effect.flip(market.commit("bob", "not-a-hash")))._tag, "BadInput")
      yield* TestClock.adjust(Duration.seconds(601))
      const late = yield* Effect.flip(market.reveal("bob", commit.commitId, recipe, "s"))
      assert.strictEqual(late._tag, "RevealMismatch")
      assert.include(late.message, "expired")
      assert.strictEqual((yield* market.snapshot).submissions, 0)
    }))

  it.scoped("priority is commit order: an earlier commitment revealed later still owns the recipe", () =>
    Effect.gen(function*() {
      const market = yield* Continuous.make(config).pipe(Effect.provide(simulated))
      const recipe = r(8, 32, 0.2)
      const first = yield* market.commit("alice", commitmentOf(recipe, "a", "alice"))
      const second = yield* market.commit("bob", commitmentOf(recipe, "b", "bob"))
      // bob (committed second) reveals first: accepted, nobody earlier has revealed it
      yield* market.reveal("bob", second.commitId, recipe, "b")
      // alice committed first: her reveal is accepted too (she owns it); later copies are refused
      yield* market.reveal("alice", first.commitId, recipe, "a")
      const third = yield* market.commit("carol", commitmentOf(recipe, "c", "carol"))
      assert.strictEqual((yield* Effect.flip(market.reveal("carol", third.commitId, recipe, "c")))._tag, "DuplicateSubmission")
      assert.strictEqual((yield* market.snapshot).submissions, 2)
    }))
})

/** A store over an array the test holds, so a test can restart a market on it or edit it. */
const arrayStore = (events: Array<Journal.Stored>) => Layer.effect(MarketStore, Store.makeMemory(events, "test array"))

describe("the journal survives a restart and refuses an edit (SPEC §16)", () => {
  const submissions = [r(4, 32, 0.1), r(2, 32, 0.1), r(8, 32, 0.2), r(4, 4000, 0.1), r(16, 32, 0.2), r(8, 32, 0.2)]
    .map((recipe, i) => ({ researcher: `researcher-${i % 3}`, recipe }))

  it.live("killed with jobs queued and one training, restarted: nothing lost, nothing settled twice, payouts = replay", () =>
    Effect.gen(function*() {
      const events: Array<Journal.Stored> = []
      const release = yield* Deferred.make<void>()
      // the first process hangs in training the third submission until it is killed
      const hanging = Layer.succeed(
        TrainingCluster,
        TrainingCluster.of({
          id: LocalSim.clusterId,
          isolation: "shared",
          attestation: Option.none(),
          train: (recipe, seed) =>
            seed === 2n
              ? Effect.as(Deferred.await(release), signed(LocalSim.trainUnchecked(recipe, seed)))
              : Effect.succeed(signed(LocalSim.trainUnchecked(recipe, seed)))
        })
      )
      const firstScope = yield* Scope.make()
      const first = yield* Continuous.make(baseConfig).pipe(
        Effect.provide(Layer.mergeAll(hanging, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey))),
        Scope.extend(firstScope)
      )
      const accepted = yield* Effect.forEach(submissions, (s) => first.accept(s.researcher, s.recipe))
      yield* first.settled(accepted[1]!.submissionId)
      // "kill": close the process's scope while submission 2 trains and 3..5 are queued
      yield* Scope.close(firstScope, Exit.void)
      const beforeRestart = events.length
      const settledBefore = events.filter((e) => e.event._tag === "settled").length
      assert.strictEqual(settledBefore, 2)

      const second = yield* Continuous.make(baseConfig).pipe(
        Effect.provide(Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey)))
      )
      const receipts = yield* Effect.forEach(accepted, (a) => second.settled(a.submissionId))
      assert.isAbove(events.length, beforeRestart)
      // every submission settled exactly once, in order
      const settled = events.filter((e) => e.event._tag === "settled").map((e) => e.event._tag === "settled" ? e.event.index : -1)
      assert.deepStrictEqual(settled, [0, 1, 2, 3, 4, 5])
      const replayed = Effect.runSync(Replay.collect({ ...baseConfig, gate: defaultGate }, submissions, Replay.simEvaluator(16)))
      assert.deepStrictEqual(receipts.map((x) => x.paidWei), replayed.results.map((x) => x.paidWei))
      assert.deepStrictEqual((yield* second.snapshot).payouts, replayed.summary.payouts)
      assert.isTrue((yield* second.audit).recomputeAgrees)
    }).pipe(Effect.scoped))

  it.scoped("a payout edited in the journal makes the market refuse to start with JournalCorrupt", () =>
    Effect.gen(function*() {
      const events: Array<Journal.Stored> = []
      const layers = Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey))
      yield* Effect.scoped(
        Effect.gen(function*() {
          const market = yield* Continuous.make(baseConfig).pipe(Effect.provide(layers))
          yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
        })
      )
      const at = events.findIndex((e) => e.event._tag === "settled" && e.event.becameRecord)
      const original = events[at]!
      if (original.event._tag !== "settled") return assert.fail("not a settlement")
      events[at] = { seq: original.seq, event: { ...original.event, paidWei: original.event.paidWei + 1n } }
      const error = yield* Effect.flip(Continuous.make(baseConfig).pipe(Effect.provide(layers)))
      assert.strictEqual(error._tag, "JournalCorrupt")
      // put back, it opens again
      events[at] = original
      const reopened = yield* Continuous.make(baseConfig).pipe(Effect.provide(layers))
      assert.isTrue((yield* reopened.audit).recomputeAgrees)
    }))

  it.scoped("time-at-top: an epoch that ended while the market was down is credited to its holder then, not to a record settled at the restart", () =>
    Effect.gen(function*() {
      const events: Array<Journal.Stored> = []
      const layers = Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey))
      const config: Continuous.MarketConfig = {
        ...baseConfig,
        schedule: { kind: "time-at-top", weiPerEpoch: 100n },
        epoch: Duration.minutes(1)
      }
      // alice takes the top spot; bob's better recipe is measured at t = 0 too
      const alice = r(4, 32, 0.1)
      const bob = r(8, 32, 0.2)
      yield* Effect.scoped(
        Effect.gen(function*() {
          const market = yield* Continuous.make(config).pipe(Effect.provide(layers))
          assert.isTrue((yield* market.submit("alice", alice)).becameRecord)
          assert.isTrue((yield* market.submit("bob", bob)).becameRecord)
        })
      )
      // the process died after bob's measurement was journaled and before his settlement
      const bobSettled = events.findIndex((e) => e.event._tag === "settled" && e.event.index === 1)
      assert.isAtLeast(bobSettled, 0)
      events.splice(bobSettled)
      // and stayed down for an epoch and a half: epoch 0 (0 to 60 s) ended with alice on top
      yield* TestClock.adjust(Duration.seconds(90))
      const market = yield* Continuous.make(config).pipe(Effect.provide(layers))
      const accepted = events.flatMap((e) => e.event._tag === "accepted" ? [e.event.submissionId] : [])
      assert.isTrue((yield* market.settled(accepted[1]!)).becameRecord)
      const log = yield* market.log
      assert.deepStrictEqual(
        log.map((row) => [row.kind, row.researcher, row.epoch, row.wei]),
        [
          ["record", "alice", 0, 0n],
          ["epoch-credit", "alice", 0, 100n],
          ["record", "bob", 1, 0n]
        ]
      )
      assert.isTrue((yield* market.audit).recomputeAgrees)
    }))

  it.scoped("a journal that settles before crediting an epoch that had ended is refused with JournalCorrupt", () =>
    Effect.gen(function*() {
      const events: Array<Journal.Stored> = []
      const layers = Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey))
      const config: Continuous.MarketConfig = {
        ...baseConfig,
        schedule: { kind: "time-at-top", weiPerEpoch: 100n },
        epoch: Duration.minutes(1)
      }
      yield* Effect.scoped(
        Effect.gen(function*() {
          const market = yield* Continuous.make(config).pipe(Effect.provide(layers))
          yield* market.submit("alice", r(4, 32, 0.1))
          yield* TestClock.adjust(Duration.seconds(61))
          yield* market.submit("bob", r(8, 32, 0.2))
        })
      )
      const epochAt = events.findIndex((e) => e.event._tag === "epoch")
      const bobAt = events.findIndex((e) => e.event._tag === "settled" && e.event.index === 1)
      assert.isTrue(epochAt >= 0 && epochAt < bobAt, "the epoch was credited before bob settled")
      // an operator rewrites history: bob's record settles first, and takes alice's epoch
      const epoch = events[epochAt]!
      const settled = events[bobAt]!
      if (epoch.event._tag !== "epoch") return assert.fail("not an epoch")
      const reordered = events.filter((_, i) => i !== epochAt)
      reordered.splice(bobAt, 0, { ...epoch, event: { ...epoch.event, researcher: "bob" } })
      events.splice(0, events.length, ...reordered.map((e, i) => ({ ...e, seq: i + 1 })))
      assert.strictEqual(events.indexOf(events.find((e) => e.event === settled.event)!) + 1, bobAt)
      const error = yield* Effect.flip(Continuous.make(config).pipe(Effect.provide(layers)))
      assert.strictEqual(error._tag, "JournalCorrupt")
      assert.include(error.message, "before epoch 0")
    }))

  it.scoped("a store opened with other rules is refused", () =>
    Effect.gen(function*() {
      const events: Array<Journal.Stored> = []
      const layers = Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, arrayStore(events)).pipe(Layer.provideMerge(TestKey))
      yield* Effect.scoped(Continuous.make(baseConfig).pipe(Effect.provide(layers)))
      const error = yield* Effect.flip(
        Continuous.make({ ...baseConfig, poolWei: 1n }).pipe(Effect.provide(layers))
      )
      assert.strictEqual(error._tag, "StoreFailed")
    }))
})
