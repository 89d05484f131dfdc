/**
 * Crash safety of `market serve` (SPEC §16), with real signals to real processes:
 *
 * - SIGKILL while jobs are queued (the simulator, one job at a time, hundreds of
 *   submissions): every answered submission is in the journal, the restarted service
 *   trains the rest, nothing settles twice, and the payouts equal `market replay` of
 *   the same recipes in the same order and the offline audit.
 * - SIGKILL while a job trains for real (`cpu-diloco`): the trainer does not outlive its
 *   parent for long; the restarted service retrains the job from scratch (same seeds,
 *   same result) and the payouts equal the replay.
 * - SIGTERM while a job trains: requests get 503 during the drain, the job finishes
 *   within the grace period and settles, the process exits 0; with no grace the job is
 *   left unsettled and is retrained after a restart.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { running, tempDir } from "./fixtures/standins.js"
import {
  allSettled,
  auditOf,
  call,
  killServed,
  replayOf,
  serve,
  type WireSubmission,
  waitFor,
  writeKey,
  writeMarketFile
} from "./support/serve.js"
import { r, tokens } from "./support/service.js"

afterAll(killServed)

/** What the journal file holds: the submissions accepted, and the settlements (by submission id). */
const journal = (store: string) => {
  const db = new Database(store, { readonly: true })
  try {
    const rows = db.prepare<[], { kind: string; payload: string }>("SELECT kind, payload FROM market_events ORDER BY seq").all()
    const ids = (kind: string) =>
      rows.filter((row) => row.kind === kind).map((row) => (JSON.parse(row.payload) as { submissionId: string }).submissionId)
    return { accepted: ids("accepted"), started: ids("started"), measured: ids("measured"), settled: ids("settled") }
  } finally {
    db.close()
  }
}

/** Every payout equals the replay's, the audit agrees and pays the same, and every submission settled exactly once. */
const checkAgainstReplay = async (
  settled: ReadonlyArray<WireSubmission>,
  files: { readonly market: string; readonly store: string; readonly key: string; readonly dir: string }
) => {
  const replayed = await replayOf(files.market, settled, files.key, files.dir)
  assert.deepStrictEqual(settled.map((s) => s.paidWei), replayed.results.map((x) => x.paidWei))
  assert.deepStrictEqual(settled.map((s) => s.becameRecord), replayed.results.map((x) => x.becameRecord))
  const audited = await auditOf(files.store, files.dir)
  assert.strictEqual(audited.code, 0, audited.stderr)
  assert.isTrue(audited.audit.recomputeAgrees)
  assert.deepStrictEqual(audited.audit.payouts, replayed.payouts)
  const settlements = journal(files.store).settled
  assert.strictEqual(settlements.length, settled.length, "one settlement per submission")
  assert.strictEqual(new Set(settlements).size, settlements.length, "no submission settled twice")
  return replayed
}

/** Pids of live processes whose command line mentions `needle` (the trainers of one run directory). */
const processesMentioning = (needle: string): Array<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    if (pid === process.pid) return false
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle) && running(pid)
    } catch {
      return false
    }
  })

/** Wait (real time) until no live process mentions `needle`; fails after `seconds`. */
const waitGone = async (needle: string, seconds: number) => {
  const start = Date.now()
  while (processesMentioning(needle).length > 0) {
    if (Date.now() - start > seconds * 1000) assert.fail(`still running: ${processesMentioning(needle).join(", ")}`)
    await new Promise((wake) => setTimeout(wake, 100))
  }
}

describe("SIGKILL while jobs are queued (SPEC §16)", () => {
  it("restarted: every answered submission is there, the rest are trained, nothing settles twice, payouts = replay", async () => {
    const dir = tempDir("crash-queued")
    const key = writeKey(dir)
    const market = writeMarketFile(dir, { concurrency: 1, poolWei: "400000000000000" })
    const store = path.join(dir, "market.sqlite")
    const first = await serve(market, ["--store", store, "--key-file", key], dir)

    const recipes = [r(2, 32, 0.1), r(4, 32, 0.1), r(8, 32, 0.2), r(4, 32, 0.0005), r(16, 32, 0.2), r(6, 16, 0.15), r(4, 4000, 0.1)]
    const researchers = ["alice", "bob", "carol"] as const
    const total = 240
    let next = 0
    const answered: Array<string> = []
    // 32 clients at once, each submitting until the total is reached
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = next++; i < total; i = next++) {
        const answer = await call(first.url, "POST", "/v1/submissions", {
          token: tokens[researchers[i % 3]!],
          body: { recipe: recipes[(i * 5) % recipes.length] }
        })
        assert.strictEqual(answer.status, 202)
        answered.push((answer.body as { submissionId: string }).submissionId)
      }
    }))
    first.child.kill("SIGKILL")
    assert.deepStrictEqual(await first.exited, { code: null, signal: "SIGKILL" })

    const atKill = journal(store)
    assert.sameMembers(atKill.accepted, answered, "every answered submission was journaled before its answer")
    assert.isBelow(atKill.settled.length, total, "the kill came while jobs were still queued")

    const second = await serve(market, ["--store", store, "--key-file", key], dir)
    const settled = await waitFor(second.url, allSettled(total))
    assert.sameMembers(settled.map((s) => s.submissionId), answered)
    second.child.kill("SIGTERM")
    assert.strictEqual((await second.exited).code, 0)
    const replayed = await checkAgainstReplay(settled, { market, store, key, dir })
    assert.isTrue(BigInt(replayed.spentWei) <= 400_000_000_000_000n, "the pool is never overspent")
  })
})

/** A served market that trains for real (a small cpu-diloco run takes seconds). */
const cpuMarket = (dir: string, budget: number) =>
  writeMarketFile(dir, {
    cluster: {
      kind: "cpu-diloco",
      budget,
      batchSize: 32,
      data: { kind: "markov", order: 2, alphabet: 8, seed: "0" },
      deadlineSeconds: 300,
      checkpointDir: path.join(dir, "runs")
    },
    scorer: {
      kind: "checkpoint",
      shards: 16,
      tokensPerShard: 1024,
      data: { kind: "markov", order: 2, alphabet: 8, seed: "0" }
    }
  })

/** A fresh directory with a key, a cpu-diloco market file and where its store and runs go. */
const cpuSetup = (prefix: string) => {
  const dir = tempDir(prefix)
  return { dir, key: writeKey(dir), market: cpuMarket(dir, 512), store: path.join(dir, "market.sqlite"), runs: path.join(dir, "runs") }
}

describe("SIGKILL while a job trains for real (SPEC §16)", () => {
  it("the trainer ends with its parent; the restarted service retrains the job and the payouts equal the replay", async () => {
    const { dir, key, market, runs, store } = cpuSetup("crash-training")
    const first = await serve(market, ["--store", store, "--key-file", key], dir)
    for (const [who, recipe] of [["alice", r(4, 16, 1)], ["bob", r(8, 32, 1)]] as const) {
      const answer = await call(first.url, "POST", "/v1/submissions", { token: tokens[who], body: { recipe } })
      assert.strictEqual(answer.status, 202)
    }
    await waitFor(first.url, (list) => list[0]?.status === "training")
    // the trainer is up (its command line names its run directory)
    const start = Date.now()
    while (processesMentioning(runs).length === 0) {
      if (Date.now() - start > 60_000) assert.fail("no trainer started")
      await new Promise((wake) => setTimeout(wake, 50))
    }
    first.child.kill("SIGKILL")
    await first.exited
    const atKill = journal(store)
    assert.strictEqual(atKill.accepted.length, 2)
    assert.strictEqual(atKill.settled.length, 0)
    // no trainer of this run outlives its killed parent for more than a few seconds
    await waitGone(runs, 10)

    const second = await serve(market, ["--store", store, "--key-file", key], dir)
    const settled = await waitFor(second.url, allSettled(2), 300_000)
    assert.deepStrictEqual(settled.map((s) => s.status), ["settled", "settled"])
    second.child.kill("SIGTERM")
    assert.strictEqual((await second.exited).code, 0)
    // the killed job was trained again from scratch, in a new run directory
    assert.isAtLeast(journal(store).started.filter((id) => id === settled[0]!.submissionId).length, 2)
    await checkAgainstReplay(settled, { market, store, key, dir })
  })
})

describe("SIGTERM drains (SPEC §16)", () => {
  it("without grace the training job is left and retrained after a restart; with grace it finishes, requests get 503, exit 0", async () => {
    const { dir, key, market, runs, store } = cpuSetup("drain")

    // no grace: stopped at once, the job that was training is not settled
    const first = await serve(market, ["--store", store, "--key-file", key, "--grace", "0"], dir)
    const answer = await call(first.url, "POST", "/v1/submissions", { token: tokens.alice, body: { recipe: r(4, 16, 1) } })
    const id = (answer.body as { submissionId: string }).submissionId
    await waitFor(first.url, (list) => list[0]?.status === "training")
    first.child.kill("SIGTERM")
    assert.deepStrictEqual(await first.exited, { code: 0, signal: null })
    assert.deepStrictEqual(journal(store).settled, [])
    await waitGone(runs, 10)

    // restarted with a grace period: the job is retrained; SIGTERM while it trains waits for it
    const second = await serve(market, ["--store", store, "--key-file", key, "--grace", "300"], dir)
    await waitFor(second.url, (list) => list[0]?.status === "training")
    second.child.kill("SIGTERM")
    // while it drains, every request is refused with the error body
    let refused: { status: number; body: unknown } | undefined
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const during = await call(second.url, "GET", "/v1/leaderboard")
      if (during.status === 503) refused = during
      else await new Promise((wake) => setTimeout(wake, 10))
    }
    assert.deepStrictEqual(refused?.body, {
      error: { _tag: "ServiceUnavailable", message: "the market is stopping: try again once it is back" }
    })
    assert.deepStrictEqual(await second.exited, { code: 0, signal: null })
    assert.include(second.stderr(), "trainmarket: stopped")
    // the job finished within the grace period and settled before the process ended
    const after = journal(store)
    assert.deepStrictEqual(after.measured, [id])
    assert.deepStrictEqual(after.settled, [id])
    const audited = await auditOf(store, dir)
    assert.isTrue(audited.audit.recomputeAgrees)
  })
})
