/**
 * The journal in a real SQLite file (SPEC §16): a market reopened on its file finds
 * everything it answered, a payout edited in the file makes it refuse to start, and a
 * file opened with other rules is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import * as SqliteStore from "../src/store/SqliteStore.js"
import { tempDir } from "./fixtures/standins.js"
import * as Store from "./support/market.js"
import { config } from "./support/market.js"

/** Open the market on its file in the current scope (the file stays open as long as the market). */
const openOn = (file: string, rules = config) => Store.openOn(SqliteStore.layer(file), rules)

describe("the SQLite journal", () => {
  it.scoped("a market reopened on its file has every submission and payout; the payouts equal a replay", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir("sqlite-store"), "market.sqlite")
      const events = yield* Store.reopenFindsEverything(SqliteStore.layer(file))
      // the file really is WAL with fsync on commit
      const db = new Database(file, { readonly: true })
      try {
        assert.strictEqual(db.pragma("journal_mode", { simple: true }), "wal")
        assert.strictEqual(db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM market_events").get()?.n, events)
      } finally {
        db.close()
      }
    }))

  it.scoped("a payout edited by hand in the file: the market refuses to start with JournalCorrupt", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir("sqlite-corrupt"), "market.sqlite")
      yield* Store.submitAll(SqliteStore.layer(file))
      const db = new Database(file)
      try {
        const row = db.prepare<[], { seq: number; payload: string }>(`SELECT seq, payload FROM market_events WHERE ${Store.RECORD_SETTLEMENT} LIMIT 1`).get()
        if (row === undefined) return assert.fail("no record was settled")
        db.prepare("UPDATE market_events SET payload = ? WHERE seq = ?").run(Store.doublePayout(row.payload), row.seq)
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
