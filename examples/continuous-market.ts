/**
 * A standing (king-of-the-hill) market from your own Effect program:
 *   npm run build && npx tsx examples/continuous-market.ts
 * Researchers submit at any time; the holder of the top spot is credited every epoch.
 * Time comes from Effect's Clock: here the TestClock, so a week of epochs runs in
 * milliseconds and the run is deterministic. Drop `TestContext` and the real clock
 * drives the same market.
 */
import { Console, Duration, Effect, Layer, TestClock, TestContext } from "effect"
import { ContinuousMarket, HeldOutScorer, Leaderboard, LocalSimCluster, MarketStore, OperatorKey, Recipe } from "trainmarket"

const market = ContinuousMarket.layer({
  gate: { minLiftCiLower: 0.02, minN: 12 },
  schedule: { kind: "time-at-top", weiPerEpoch: 1_000_000n },
  poolWei: 100_000_000n,
  baseline: { recipe: Recipe.baseline, seed: 0n },
  epoch: Duration.days(1)
})

const program = Effect.gen(function*() {
  const live = yield* ContinuousMarket.ContinuousMarket
  // three researchers submit at once; they settle in the order they were accepted
  const receipts = yield* Effect.all([
    live.submit("alice", { islands: 2, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 }),
    live.submit("bob", { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }),
    live.submit("carol", { islands: 4, innerSteps: 4000, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 })
  ], { concurrency: "unbounded" })
  for (const r of receipts) {
    const lift = r.liftMicros === undefined ? "gated" : `lift ${r.liftMicros} micros`
    yield* Console.log(`${r.researcher}: ${lift}${r.becameRecord ? ", took the top spot" : ""}`)
  }

  yield* TestClock.adjust(Duration.days(7)) // a week passes: seven epochs close
  const snapshot = yield* live.snapshot
  yield* Console.log(`after ${snapshot.epoch} epochs the holder is ${snapshot.holder}; spent ${snapshot.spentWei} wei`)

  // an auditor recomputes every payout from the append-only log alone
  const audit = Leaderboard.recompute(live.terms, yield* live.log)
  yield* Console.log(`audit: ${audit.discrepancies.length} discrepancies, spent ${audit.spentWei} wei`)
  // and the market's journal recomputes every settlement from the measurements it holds
  const journal = yield* live.audit
  yield* Console.log(`journal: ${journal.events} events, recompute agrees: ${journal.recomputeAgrees}`)
})

program.pipe(
  Effect.provide(market),
  // the journal in memory (a served market keeps it in SQLite or PostgreSQL, docs/service.md)
  Effect.provide(Layer.mergeAll(LocalSimCluster.layer, HeldOutScorer.layer, MarketStore.layerMemory)),
  Effect.provide(OperatorKey.layerEphemeral),
  Effect.scoped,
  Effect.provide(TestContext.TestContext),
  Effect.catchAll((error) => Console.error(`${error._tag}: ${error.message}`)),
  Effect.runPromise
)
