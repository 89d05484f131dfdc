/**
 * Two `market serve` processes on one PostgreSQL database (SPEC §16 Postgres, the
 * issue's "Done when"): submissions go through both; one is killed with SIGKILL
 * mid-run; the other finishes every job; each submission is settled once; `market audit
 * --store postgres://…` agrees and equals `market replay` of the same submissions. A real
 * throwaway PostgreSQL 15 and real processes, no mocks.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { tempDir } from "./fixtures/standins.js"
import * as Postgres from "./support/postgres.js"
import {
  allSettled,
  auditOf,
  call,
  killServed,
  replayOf,
  serve,
  waitFor,
  writeKey,
  writeMarketFile
} from "./support/serve.js"
import { r, tokens } from "./support/service.js"

let server: Postgres.PostgresServer

beforeAll(async () => {
  server = await Postgres.start()
}, 120_000)

afterAll(async () => {
  killServed()
  await server?.stop()
})

describe("two serve processes on one PostgreSQL", () => {
  it("one SIGKILLed mid-run: the other finishes every job, each settled once, audit = replay", async () => {
    const dir = tempDir("pg-serve")
    const key = writeKey(dir)
    const url = await server.createDatabase("two_serves")
    const market = writeMarketFile(dir, { concurrency: 1, poolWei: "400000000000000" })
    const a = await serve(market, ["--store", url, "--key-file", key], dir)
    const b = await serve(market, ["--store", url, "--key-file", key], dir)

    const recipes = [r(2, 32, 0.1), r(4, 32, 0.1), r(8, 32, 0.2), r(4, 32, 0.0005), r(16, 32, 0.2), r(6, 16, 0.15)]
    const researchers = ["alice", "bob", "carol"] as const
    const answered: Array<string> = []
    const submitTo = async (target: string, i: number) => {
      const answer = await call(target, "POST", "/v1/submissions", {
        token: tokens[researchers[i % 3]!],
        body: { recipe: recipes[(i * 5) % recipes.length] }
      })
      assert.strictEqual(answer.status, 202, JSON.stringify(answer.body))
      answered.push((answer.body as { submissionId: string }).submissionId)
    }
    // 120 submissions, alternating between the two processes, 16 clients at once
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < 120; i = next++) await submitTo(i % 2 === 0 ? a.url : b.url, i)
    }))
    // a read through b reflects every write a answered (no stale cache)
    const seenByB = await call(b.url, "GET", "/v1/submissions", { token: tokens.operator })
    assert.sameMembers(
      (seenByB.body as { submissions: Array<{ submissionId: string }> }).submissions.map((s) => s.submissionId),
      answered
    )
    const settledAtKill = Number((await server.query("SELECT count(*) FROM market_events WHERE kind = 'settled'", "two_serves")).trim())
    a.child.kill("SIGKILL")
    assert.deepStrictEqual(await a.exited, { code: null, signal: "SIGKILL" })
    assert.isBelow(settledAtKill, 120, "the kill came mid-run, with jobs still to settle")

    // b keeps taking submissions and finishes every job, a's claimed one included
    for (let i = 120; i < 130; i++) await submitTo(b.url, i)
    const settled = await waitFor(b.url, allSettled(130))
    assert.sameMembers(settled.map((s) => s.submissionId), answered)

    // each submission settled exactly once, in submission order
    const settlements = (await server.query(
      "SELECT payload::json->>'index' FROM market_events WHERE kind = 'settled' ORDER BY seq",
      "two_serves"
    )).trim().split("\n").map(Number)
    assert.deepStrictEqual(settlements, Array.from({ length: 130 }, (_, i) => i))
    // both processes trained (the claims were shared) and both took the settler role or one did
    const workers = (await server.query("SELECT DISTINCT payload::json->>'worker' FROM market_events WHERE kind = 'started'", "two_serves"))
      .trim().split("\n")
    assert.isAtLeast(workers.length, 2, "both processes trained jobs")

    b.child.kill("SIGTERM")
    assert.strictEqual((await b.exited).code, 0)
    const replayed = await replayOf(market, settled, key, dir)
    assert.deepStrictEqual(settled.map((s) => s.paidWei), replayed.results.map((x) => x.paidWei))
    const audited = await auditOf(url, dir)
    assert.strictEqual(audited.code, 0, audited.stderr)
    assert.isTrue(audited.audit.recomputeAgrees)
    assert.deepStrictEqual(audited.audit.payouts, replayed.payouts)
    assert.isTrue(BigInt(replayed.spentWei) <= 400_000_000_000_000n, "the pool is never overspent")
  })
})
