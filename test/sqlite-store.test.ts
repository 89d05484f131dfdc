/**
 * The journal in a real SQLite file (SPEC §16): a market reopened on its file finds
 * everything it answered, a payout edited in the file makes it refuse to start, and a
 * file opened with other rules is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { defaultGate } from "../src/domain/Measurement.js"
import { baseline as baselineRecipe, type Recipe } from "../src/domain/Recipe.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import * as Replay from "../src/market/Replay.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import * as SqliteStore from "../src/store/SqliteStore.js"
import { tempDir } from "./fixtures/standins.js"
import { TestKey } from "./support/keys.js"

const r = (islands: number, innerSteps: number, keepFraction: number): Recipe => ({
  islands,
  innerSteps,
  innerLr: 0.003,
  outerLr: 0.7,
  keepFraction
})
const config: Continuous.MarketConfig = {
  gate: defaultGate,
  schedule: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1_000_000_000n },
  baseline: { recipe: baselineRecipe, seed: 0n }
}
const submissions = [r(4, 32, 0.1), r(2, 32, 0.1), r(8, 32, 0.2), r(4, 4000, 0.1), r(16, 32, 0.2)]
  .map((recipe, i) => ({ researcher: `researcher-${i % 2}`, recipe }))

const on = (file: string) =>
  Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, SqliteStore.layer(file)).pipe(
    Layer.provideMerge(TestKey),
    Layer.provide(NodeContext.layer)
  )

/** Open the market on its file in the current scope (the file stays open as long as the market). */
const openOn = (file: string, rules: Continuous.MarketConfig = config) =>
  Effect.map(Layer.build(Layer.provide(Continuous.layer(rules), on(file))), (context) =>
    Context.get(context, Continuous.ContinuousMarket))

describe("the SQLite journal", () => {
  it.scoped("a market reopened on its file has every submission and payout; the payouts equal a replay", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir("sqlite-store"), "market.sqlite")
      const first = yield* Effect.scoped(
        Effect.gen(function*() {
          const market = yield* openOn(file)
          yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
          return yield* market.snapshot
        })
      )
      const reopened = yield* openOn(file)
      const snapshot = yield* reopened.snapshot
      assert.deepStrictEqual(snapshot, first)
      const replayed = Effect.runSync(Replay.collect({ ...config, gate: defaultGate }, submissions, Replay.simEvaluator(16)))
      assert.deepStrictEqual(snapshot.payouts, replayed.summary.payouts)
      const audit = yield* reopened.audit
      assert.isTrue(audit.recomputeAgrees)
      // opened, baseline, then accepted, started, measured and settled per submission
      assert.strictEqual(audit.events, 2 + 4 * submissions.length)
      // the file really is WAL with fsync on commit
      const db = new Database(file, { readonly: true })
      try {
        assert.strictEqual(db.pragma("journal_mode", { simple: true }), "wal")
        assert.strictEqual(db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM market_events").get()?.n, audit.events)
      } finally {
        db.close()
      }
    }))

  it.scoped("a payout edited by hand in the file: the market refuses to start with JournalCorrupt", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir("sqlite-corrupt"), "market.sqlite")
      yield* Effect.scoped(
        Effect.gen(function*() {
          const market = yield* openOn(file)
          yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
        })
      )
      const db = new Database(file)
      try {
        const row = db.prepare<[], { seq: number; payload: string }>("SELECT seq, payload FROM market_events WHERE kind = 'settled' AND payload LIKE '%\"becameRecord\":true%' LIMIT 1").get()
        if (row === undefined) return assert.fail("no record was settled")
        const event = JSON.parse(row.payload)
        event.paidWei = (BigInt(event.paidWei) * 2n).toString()
        db.prepare("UPDATE market_events SET payload = ? WHERE seq = ?").run(JSON.stringify(event), row.seq)
      } finally {
        db.close()
      }
      const error = yield* Effect.flip(openOn(file))
      assert.strictEqual(error._tag, "JournalCorrupt")
      assert.include(error.message, "recomputed")
    }))

  it.scoped("a file holding another market is refused; a file that is not a database is StoreFailed", () =>
    Effect.gen(function*() {
      const dir = tempDir("sqlite-other")
      const file = path.join(dir, "market.sqlite")
      yield* Effect.scoped(openOn(file))
      const other = yield* Effect.flip(openOn(file, { ...config, poolWei: 5n }))
      assert.strictEqual(other._tag, "StoreFailed")
      const junk = path.join(dir, "junk.sqlite")
      fs.writeFileSync(junk, "this is not a database, just text long enough to fill a header ...........")
      const notDb = yield* Effect.flip(openOn(junk))
      assert.strictEqual(notDb._tag, "StoreFailed")
    }))
})
