/**
 * The journal on a real PostgreSQL server (SPEC §16 "Postgres"; `support/postgres.ts`
 * starts a throwaway one, no mocks). First what the SQLite store guarantees, on
 * PostgreSQL: a reopened market finds everything, the payouts equal a replay, an edited
 * payout is `JournalCorrupt`, other rules, a bad URL and an unreachable server are
 * `StoreFailed`. Then several processes on one database, in the library: two market
 * instances with separate connection pools (each is what one `serve` process is) take
 * submissions through both, train each job once, settle through one of them in
 * submission order and answer reads with every write either answered; one is killed
 * while it trains a job and the other trains that job again and finishes; and a claim
 * whose connection dies (its backend terminated) is claimed by the other process.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Deferred, Duration, Effect, Exit, Layer, Option, Redacted, Ref, Schedule, Scope } from "effect"
import type { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { baseline as baselineRecipe, canonicalJson } from "../src/domain/Recipe.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import { MarketStore } from "../src/store/MarketStore.js"
import * as PgStore from "../src/store/PgStore.js"
import { freePort } from "./fixtures/standins.js"
import * as Store from "./support/market.js"
import { replayed, simulatedAround, submissions } from "./support/market.js"
import * as Postgres from "./support/postgres.js"

/** The shared store tests' market, looking at the database often (real time). */
const config: Continuous.MarketConfig = { ...Store.config, pollMillis: 50 }
const baselineKey = canonicalJson(baselineRecipe)

// one server for the file; without PostgreSQL installed every test fails saying so (none is skipped)
let server: Postgres.PostgresServer | Error = new Error("the PostgreSQL test server was not started")
beforeAll(async () => {
  server = await Postgres.start().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))
}, 120_000)
afterAll(async () => {
  if (!(server instanceof Error)) await server.stop()
})

let databases = 0
/** A fresh database on the test server: one market each. */
const freshDatabase = Effect.suspend(() => {
  const started = server
  if (started instanceof Error) return Effect.die(started)
  databases += 1
  return Effect.promise(() => started.createDatabase(`market_${databases}`))
})

/** Run SQL against the database at `url` on a connection pool of the test's own (as an operator would, with psql). */
const withSql = <A, E>(url: string, f: (sql: PgClient.PgClient) => Effect.Effect<A, E>) =>
  Effect.flatMap(PgClient.PgClient, f).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), applicationName: "test" })))

/** The applications (`applicationName` of each market instance) holding the settler role's advisory lock. */
const settlerHolders = (url: string) =>
  withSql(url, (sql) =>
    sql<{ readonly name: string }>`SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.objid = ${PgStore.locks.settler} AND l.granted`.pipe(
      Effect.map((rows) => rows.map((row) => row.name))
    ))

/** The journal's settlements, in journal order: submission indices. */
const settledIndices = (url: string) =>
  withSql(url, (sql) =>
    sql<{ readonly payload: string }>`SELECT payload FROM market_events WHERE kind = 'settled' ORDER BY seq`.pipe(
      Effect.map((rows) => rows.map((row) => Number((JSON.parse(row.payload) as { readonly index: number }).index)))
    ))

const storeOn = (url: string, name = "trainmarket") => PgStore.layer(url, { applicationName: name })

/** Open a market on the database at `url` in the current scope. */
const openOn = (url: string, rules: Continuous.MarketConfig = config) => Store.openOn(storeOn(url), rules)

describe("the PostgreSQL journal (what the SQLite store guarantees)", () => {
  it.scopedLive("a market reopened on its database has every submission and payout; the payouts equal a replay", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const events = yield* Store.reopenFindsEverything(storeOn(url))
      const [rows, jobs] = yield* withSql(url, (sql) =>
        Effect.all([
          sql<{ readonly n: string }>`SELECT COUNT(*) AS n FROM market_events`,
          sql<{ readonly open: string; readonly all: string }>`SELECT COUNT(*) FILTER (WHERE NOT done) AS open, COUNT(*) AS all FROM market_jobs`
        ]))
      assert.strictEqual(Number(rows[0]?.n), events)
      // one job row per submission, each marked done
      assert.deepStrictEqual([Number(jobs[0]?.open), Number(jobs[0]?.all)], [0, submissions.length])
    }))

  it.scopedLive("a payout edited by hand in the database: the market refuses to start with JournalCorrupt", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      yield* Store.submitAll(storeOn(url))
      yield* withSql(url, (sql) =>
        Effect.gen(function*() {
          const [row] = yield* sql<{ readonly seq: string; readonly payload: string }>`SELECT seq, payload FROM market_events
            WHERE ${sql.literal(Store.RECORD_SETTLEMENT)} ORDER BY seq LIMIT 1`
          if (row === undefined) return assert.fail("no record was settled")
          yield* sql`UPDATE market_events SET payload = ${Store.doublePayout(row.payload)} WHERE seq = ${row.seq}`
        }))
      const error = yield* Effect.flip(openOn(url))
      assert.strictEqual(error._tag, "JournalCorrupt")
      assert.include(error.message, "recomputed")
    }))

  it.scopedLive("a database holding another market is refused; a bad URL or an unreachable server is StoreFailed", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      yield* Effect.scoped(openOn(url))
      const other = yield* Effect.flip(openOn(url, { ...config, poolWei: 5n }))
      assert.strictEqual(other._tag, "StoreFailed")
      assert.include(other.message, "another market file")

      const notUrl = yield* Effect.flip(openOn("market.sqlite"))
      assert.strictEqual(notUrl._tag, "StoreFailed")
      // nothing listens on a free port; the password never shows in messages
      const port = yield* Effect.promise(freePort)
      const unreachable = yield* Effect.flip(openOn(`postgres://someone:s3cret@127.0.0.1:${port}/market`))
      assert.strictEqual(unreachable._tag, "StoreFailed")
      assert.include(unreachable.message, `postgres://someone@127.0.0.1:${port}/market`)
      assert.notInclude(unreachable.message, "s3cret")
      const noDatabase = yield* Effect.flip(openOn(`${url}_missing`))
      assert.strictEqual(noDatabase._tag, "StoreFailed")
    }))
})

/** Who trained what: one entry per training call, by instance and recipe. */
interface Call {
  readonly who: string
  readonly recipe: string
}
type Calls = Ref.Ref<ReadonlyArray<Call>>

/** The simulator, logging each training call (after a short pause, so the instances' workers overlap). */
const counting = (who: string, calls: Calls) =>
  simulatedAround((recipe, train) =>
    Ref.update(calls, (all) => [...all, { who, recipe: canonicalJson(recipe) }]).pipe(
      Effect.zipRight(Effect.sleep(Duration.millis(20))),
      Effect.zipRight(train)
    )
  )

/** The simulator for the baseline; any other recipe is logged, announced in `stuck`, and trains forever. */
const stuckOnFirstJob = (who: string, calls: Calls, stuck: Deferred.Deferred<string>) =>
  simulatedAround((recipe, train) =>
    canonicalJson(recipe) === baselineKey ? train : Ref.update(calls, (all) => [...all, { who, recipe: canonicalJson(recipe) }]).pipe(
      Effect.zipRight(Deferred.succeed(stuck, canonicalJson(recipe))),
      Effect.zipRight(Effect.never)
    )
  )

/** Which instance's writes journaled which settlements (submission indices). */
interface Settlement {
  readonly who: string
  readonly index: number
}

/** The store's answers to an instance's claims: the submission claimed, or none (every open job is held). */
interface ClaimAnswer {
  readonly who: string
  readonly claimed: string | undefined
}

/** The logs of one multi-process test: training calls, settlements and claims, by instance. */
const logs = Effect.all({
  calls: Ref.make<ReadonlyArray<Call>>([]),
  settlers: Ref.make<ReadonlyArray<Settlement>>([]),
  claims: Ref.make<ReadonlyArray<ClaimAnswer>>([])
})
type Logs = Effect.Effect.Success<typeof logs>

/** The PostgreSQL store of instance `who`, noting the settlements it appends and the answers to its claims. */
const recordingStore = (url: string, who: string, { claims, settlers }: Logs) =>
  Layer.effect(
    MarketStore,
    Effect.map(MarketStore, (store) =>
      MarketStore.of({
        ...store,
        append: (events) =>
          Effect.tap(store.append(events), () =>
            Ref.update(settlers, (all) => [
              ...all,
              ...events.flatMap((event) => (event._tag === "settled" ? [{ who, index: event.index }] : []))
            ])),
        claim: (queued) =>
          Effect.tap(store.claim(queued), (claim) =>
            Ref.update(claims, (all) => [...all, { who, claimed: Option.getOrUndefined(claim)?.submissionId }]))
      }))
  ).pipe(Layer.provide(storeOn(url, who)))

/**
 * One market instance (one `serve` process): its own store layer, so its own connection
 * pools, in a scope of its own; `kill` closes it (its fibers stop, its claims roll back).
 */
const instance = (url: string, who: string, cluster: Layer.Layer<TrainingCluster>, logged: Logs) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(
      Layer.provide(Continuous.layer({ ...config, worker: who }), Store.servicesOn(recordingStore(url, who, logged), cluster)),
      scope
    )
    return { market: Context.get(context, Continuous.ContinuousMarket), kill: Scope.close(scope, Exit.void) }
  })

/** Repeat `check` until it holds (real time; the test's timeout bounds it). */
const eventually = <E>(check: Effect.Effect<boolean, E>) =>
  Effect.repeat(check, { until: (ok) => ok, schedule: Schedule.spaced(Duration.millis(20)) })

/** Training calls per submission (in submission order), per instance. */
const callsPer = (all: ReadonlyArray<Call>, who?: string) =>
  submissions.map((s) => all.filter((c) => c.recipe === canonicalJson(s.recipe) && (who === undefined || c.who === who)).length)

describe("several processes on one PostgreSQL database (SPEC §16 Postgres)", () => {
  it.scopedLive("two instances: submissions through both, each job trained once, one settler in order, no stale reads", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const logged = yield* logs
      const { calls, settlers } = logged
      const a = (yield* instance(url, "a", counting("a", calls), logged)).market
      const b = (yield* instance(url, "b", counting("b", calls), logged)).market
      const through = (i: number) => (i % 2 === 0 ? a : b)
      const other = (i: number) => (i % 2 === 0 ? b : a)

      const accepted = yield* Effect.forEach(submissions, (s, i) =>
        Effect.gen(function*() {
          const answer = yield* through(i).accept(s.researcher, s.recipe)
          // what one process answered, the other reads at once
          const seen = yield* other(i).view(answer.submissionId, Continuous.operator)
          assert.strictEqual(seen.index, i)
          assert.strictEqual((yield* other(i).list(Continuous.operator)).length, i + 1)
          return answer
        }))
      assert.deepStrictEqual(accepted.map((x) => x.index), submissions.map((_, i) => i))

      // each waits on the other instance than the one that accepted it
      const receipts = yield* Effect.forEach(accepted, (x, i) => other(i).settled(x.submissionId), { concurrency: "unbounded" })
      for (const [i, receipt] of receipts.entries()) {
        // the instance that accepted it reads the settlement the moment the other has answered it
        const view = yield* through(i).view(receipt.submissionId, Continuous.operator)
        assert.strictEqual(view.status, "settled")
        assert.strictEqual(view.paidWei, receipt.paidWei)
      }

      // each job was trained exactly once, by one of the two
      assert.deepStrictEqual(callsPer(yield* Ref.get(calls)), submissions.map(() => 1))
      // one process holds the settler role, and it journaled every settlement, in submission order, each once
      const holders = yield* settlerHolders(url)
      assert.strictEqual(holders.length, 1)
      const settledBy = yield* Ref.get(settlers)
      assert.deepStrictEqual([...new Set(settledBy.map((s) => s.who))], holders)
      assert.deepStrictEqual(settledBy.map((s) => s.index), submissions.map((_, i) => i))
      assert.deepStrictEqual(yield* settledIndices(url), submissions.map((_, i) => i))

      // both answer the same market: the replay's payouts, an audit that agrees
      assert.deepStrictEqual(receipts.map((x) => x.paidWei), replayed.results.map((x) => x.paidWei))
      assert.deepStrictEqual(yield* a.leaderboard, yield* b.leaderboard)
      for (const market of [a, b]) {
        assert.deepStrictEqual((yield* market.snapshot).payouts, replayed.summary.payouts)
        assert.isTrue((yield* market.audit).recomputeAgrees)
      }
    }))

  it.scopedLive("the settler is killed while it trains a job: the other claims the job again, finishes and settles everything once", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const logged = yield* logs
      const { calls, settlers } = logged
      const stuck = yield* Deferred.make<string>()
      // b opens first (it trains the baseline) and takes the settler role; its training of any job never ends
      const b = yield* instance(url, "b", stuckOnFirstJob("b", calls, stuck), logged)
      yield* eventually(Effect.map(settlerHolders(url), (holders) => holders.length === 1 && holders[0] === "b"))
      const a = (yield* instance(url, "a", counting("a", calls), logged)).market

      const accepted = yield* Effect.forEach(submissions, (s, i) => (i % 2 === 0 ? a : b.market).accept(s.researcher, s.recipe))
      const victimRecipe = yield* Deferred.await(stuck)
      const victim = submissions.findIndex((s) => canonicalJson(s.recipe) === victimRecipe)
      assert.isAtLeast(victim, 0)

      // a trains every other job, never the one b holds; nothing after it settles before it
      const views = a.list(Continuous.operator)
      yield* eventually(Effect.map(views, (all) => all.every((v) => v.index === victim || v.heldOutValue !== null)))
      yield* eventually(Effect.map(views, (all) => all.every((v) => v.index >= victim || v.status === "settled")))
      assert.strictEqual(callsPer(yield* Ref.get(calls), "a")[victim], 0)
      for (const view of yield* views) {
        if (view.index >= victim) assert.notStrictEqual(view.status, "settled")
      }
      assert.deepStrictEqual(yield* settledIndices(url), submissions.map((_, i) => i).filter((i) => i < victim))

      // the store refuses a the job b holds (a's claims find nothing open while only b's job is left)
      const claimedBefore = (yield* Ref.get(logged.claims)).flatMap((x) => (x.claimed === undefined ? [] : [x]))
      assert.deepStrictEqual(claimedBefore.filter((x) => x.who === "b").map((x) => x.claimed), [accepted[victim]?.submissionId])
      assert.notInclude(claimedBefore.filter((x) => x.who === "a").map((x) => x.claimed), accepted[victim]?.submissionId)

      // kill b mid-run: its claim's transaction rolls back and its settler role ends
      yield* b.kill
      const receipts = yield* Effect.forEach(accepted, (x) => a.settled(x.submissionId))

      // the victim was trained by b (never finished) and again by a; every other job once, by a
      assert.deepStrictEqual(callsPer(yield* Ref.get(calls), "b"), submissions.map((_, i) => (i === victim ? 1 : 0)))
      assert.deepStrictEqual(callsPer(yield* Ref.get(calls), "a"), submissions.map(() => 1))
      assert.deepStrictEqual(yield* settlerHolders(url), ["a"])
      // each submission settled once, in submission order: by b before the kill, by a after it
      assert.deepStrictEqual(yield* settledIndices(url), submissions.map((_, i) => i))
      const settledBy = yield* Ref.get(settlers)
      assert.deepStrictEqual(settledBy.map((s) => s.index), submissions.map((_, i) => i))
      assert.isTrue(settledBy.every((s) => s.who === (s.index < victim ? "b" : "a")))

      assert.deepStrictEqual(receipts.map((x) => x.paidWei), replayed.results.map((x) => x.paidWei))
      assert.deepStrictEqual((yield* a.snapshot).payouts, replayed.summary.payouts)
      assert.isTrue((yield* a.audit).recomputeAgrees)
      // a reopened market (`market audit --store`) reads the same journal
      const audited = yield* openOn(url)
      assert.deepStrictEqual((yield* audited.snapshot).payouts, replayed.summary.payouts)
    }))

  it.scopedLive("a claim whose connection dies (its backend terminated) is claimable again: the other process trains it", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase
      const logged = yield* logs
      const { calls, claims } = logged
      const stuck = yield* Deferred.make<string>()
      const c = yield* instance(url, "c", stuckOnFirstJob("c", calls, stuck), logged)
      const [submission] = submissions
      if (submission === undefined) return assert.fail("no submission")
      const { submissionId } = yield* c.market.accept(submission.researcher, submission.recipe)
      yield* Deferred.await(stuck)
      const a = (yield* instance(url, "a", counting("a", calls), logged)).market
      // a knows the job is queued, and the store tells it nothing is claimable while c holds it
      const missedByA = Effect.map(Ref.get(claims), (all) => all.some((x) => x.who === "a" && x.claimed === undefined))
      yield* eventually(missedByA)

      // c's claim is a transaction holding the job's row lock on a connection of c's: cut that connection
      // (as when c's machine dies), without c releasing anything
      const terminated = yield* withSql(url, (sql) =>
        sql<{ readonly terminated: boolean }>`SELECT pg_terminate_backend(a.pid) AS terminated
          FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
          WHERE a.application_name = 'c' AND l.relation = 'market_jobs'::regclass AND l.mode = 'RowShareLock'`)
      assert.deepStrictEqual(terminated.map((row) => row.terminated), [true])

      const receipt = yield* a.settled(submissionId)
      assert.deepStrictEqual((yield* Ref.get(claims)).flatMap((x) => (x.claimed === undefined ? [] : [x.who])), ["c", "a"])
      assert.deepStrictEqual(callsPer(yield* Ref.get(calls), "a"), submissions.map((_, i) => (i === 0 ? 1 : 0)))
      assert.deepStrictEqual(callsPer(yield* Ref.get(calls), "c"), submissions.map((_, i) => (i === 0 ? 1 : 0)))
      assert.strictEqual(receipt.paidWei, replayed.results[0]?.paidWei)
      const started = yield* withSql(url, (sql) =>
        sql<{ readonly payload: string }>`SELECT payload FROM market_events WHERE kind = 'started' ORDER BY seq`)
      assert.deepStrictEqual(started.map((row) => (JSON.parse(row.payload) as { readonly worker: string }).worker), ["c", "a"])
      assert.deepStrictEqual(yield* settledIndices(url), [0])
      assert.isTrue((yield* a.audit).recomputeAgrees)
      // c stops (its training interrupted, its dead claim rolled back) without trouble
      yield* c.kill
    }))
})
