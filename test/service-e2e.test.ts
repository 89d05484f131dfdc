/**
 * The live market end to end, as a user runs it (SPEC §16): `market serve` as a real
 * process on a loopback port, `market submit` / `status` / `token` / `audit` as real
 * processes against it. Commit-reveal is done by the client; the audit of the journal
 * agrees with `market replay` of the same recipes in the same order; a restarted
 * service still has everything it answered; a journal edited by hand makes `serve`
 * refuse to start and `market audit` disagree; every refusal is the SPEC's error line.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { type CliResult, runCli } from "./support/cli.js"
import {
  allSettled,
  auditOf,
  call,
  killServed,
  operatorList,
  replayOf,
  serve,
  waitFor,
  writeKey,
  writeMarketFile
} from "./support/serve.js"
import { r, tokens } from "./support/service.js"

afterAll(killServed)

const json = (result: CliResult): unknown => JSON.parse(result.stdout)
const recipeJson = (recipe: unknown) => JSON.stringify(recipe)

describe("market token", () => {
  it("prints a fresh 32-byte token and its sha256", async () => {
    const first = await runCli(["market", "token", "--json"])
    const second = await runCli(["market", "token", "--json"])
    assert.strictEqual(first.code, 0)
    const a = json(first) as { token: string; tokenSha256: string }
    const b = json(second) as { token: string; tokenSha256: string }
    assert.deepStrictEqual(Object.keys(a), ["token", "tokenSha256"])
    assert.match(a.token, /^[0-9a-f]{64}$/)
    assert.strictEqual(a.tokenSha256, createHash("sha256").update(a.token).digest("hex"))
    assert.notStrictEqual(a.token, b.token)
    const text = await runCli(["market", "token"])
    assert.match(text.stdout, /^token {8}[0-9a-f]{64}\ntokenSha256 {2}[0-9a-f]{64}/)
  })
})

describe("a served market, from the command line (SPEC §16)", () => {
  it("takes submissions from market submit (commit and reveal), answers market status, and audits to a replay", async () => {
    const dir = tempDir("serve-e2e")
    const key = writeKey(dir)
    const file = writeMarketFile(dir, { commitReveal: true, feedback: "ladder", poolWei: "1000000000000000000" })
    const store = path.join(dir, "market.sqlite")
    const served = await serve(file, ["--store", store, "--key-file", key], dir)
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+$/)

    const submit = (who: keyof typeof tokens, recipe: string) =>
      runCli(["market", "submit", "--url", served.url, "--token", tokens[who], "--recipe", recipe, "--json"], { cwd: dir })
    // a recipe given as a file works as well as inline JSON
    const recipeFile = path.join(dir, "recipe.json")
    fs.writeFileSync(recipeFile, recipeJson(r(8, 32, 0.2)))
    const submissions = [
      { researcher: "alice", recipe: r(4, 32, 0.1) },
      { researcher: "bob", recipe: r(2, 32, 0.1) },
      { researcher: "alice", recipe: r(8, 32, 0.2) },
      { researcher: "bob", recipe: r(16, 32, 0.2) }
    ] as const
    const ids: Array<string> = []
    for (const [i, s] of submissions.entries()) {
      const result = await submit(s.researcher, i === 2 ? recipeFile : recipeJson(s.recipe))
      assert.strictEqual(result.code, 0, result.stderr)
      const printed = json(result) as { submissionId: string; status: string }
      assert.deepStrictEqual(Object.keys(printed), ["submissionId", "status"])
      assert.strictEqual(printed.status, "queued")
      ids.push(printed.submissionId)
    }
    // a copy of a committed recipe is refused, the SPEC way
    const copy = await submit("carol", recipeJson(r(8, 32, 0.2)))
    assert.strictEqual(copy.code, 1)
    assert.strictEqual((json(copy) as { error: { _tag: string } }).error._tag, "DuplicateSubmission")
    const copyText = await runCli(
      ["market", "submit", "--url", served.url, "--token", tokens.carol, "--recipe", recipeJson(r(16, 32, 0.2))],
      { cwd: dir }
    )
    assert.strictEqual(copyText.code, 1)
    assert.match(copyText.stderr, /^trainmarket: DuplicateSubmission: duplicate submission: /)

    const settled = await waitFor(served.url, allSettled(submissions.length))
    assert.deepStrictEqual(settled.map((s) => s.submissionId), ids)

    // status: the leaderboard without a token; your own with one; one by id
    const board = await runCli(["market", "status", "--url", served.url, "--json"], { cwd: dir })
    assert.strictEqual(board.code, 0, board.stderr)
    const leaderboard = json(board) as { bestMicros: string; holder: string; spentWei: string; submissions: number }
    assert.strictEqual(leaderboard.submissions, 4)
    // a token alone still gives the leaderboard (SPEC §14); --mine gives your own submissions
    const boardWithToken = await runCli(["market", "status", "--url", served.url, "--token", tokens.alice, "--json"], { cwd: dir })
    assert.deepStrictEqual(json(boardWithToken), leaderboard)
    const mine = await runCli(["market", "status", "--url", served.url, "--token", tokens.alice, "--mine", "--json"], { cwd: dir })
    const aliceSees = json(mine) as { submissions: Array<{ researcher: string }> }
    assert.deepStrictEqual(aliceSees.submissions.map((s) => s.researcher), ["alice", "alice"])
    const one = await runCli(
      ["market", "status", "--url", served.url, "--token", tokens.bob, "--submission", ids[1]!, "--json"],
      { cwd: dir }
    )
    assert.strictEqual((json(one) as { submissionId: string }).submissionId, ids[1])
    const stranger = await runCli(
      ["market", "status", "--url", served.url, "--token", tokens.bob, "--submission", ids[0]!, "--json"],
      { cwd: dir }
    )
    assert.strictEqual(stranger.code, 1)
    assert.strictEqual((json(stranger) as { error: { _tag: string } }).error._tag, "NotFound")
    const readable = await runCli(["market", "status", "--url", served.url], { cwd: dir })
    assert.match(readable.stdout, /^best \d+ micros held by (alice|bob); spent [\d,]+ wei, [\d,]+ left; 4 submissions\n/)

    // SIGTERM: a clean stop
    served.child.kill("SIGTERM")
    assert.deepStrictEqual(await served.exited, { code: 0, signal: null })
    assert.include(served.stderr(), "stopped")

    // the offline audit agrees with itself and with a replay of the same recipes in the same order
    const audited = await auditOf(store, dir)
    assert.strictEqual(audited.code, 0, audited.stderr)
    assert.isTrue(audited.audit.recomputeAgrees)
    const replayed = await replayOf(file, settled, key, dir)
    assert.deepStrictEqual(audited.audit.payouts, replayed.payouts)
    assert.deepStrictEqual(settled.map((s) => s.paidWei), replayed.results.map((x) => x.paidWei))
    assert.strictEqual(leaderboard.spentWei, replayed.spentWei)
    const text = await runCli(["market", "audit", "--store", store], { cwd: dir })
    assert.match(text.stdout, /^\d+ events; recomputed payouts agree with the journal; spent [\d,]+ wei\n/)

    // restarted on the same store: everything it answered is still there
    const again = await serve(file, ["--store", store, "--key-file", key], dir)
    assert.deepStrictEqual(await operatorList(again.url), settled)
    again.child.kill("SIGTERM")
    assert.strictEqual((await again.exited).code, 0)
  })

  it("clients report an unreachable market, a bad token and a bad command line the SPEC way", async () => {
    const dir = tempDir("serve-clients")
    // a port nobody listens on
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    const refused = await runCli(
      ["market", "submit", "--url", `http://127.0.0.1:${port}`, "--token", tokens.alice, "--recipe", recipeJson(r(4, 32, 0.1))],
      { cwd: dir }
    )
    assert.strictEqual(refused.code, 1)
    assert.match(refused.stderr, /^trainmarket: ServiceUnreachable: cannot reach the market at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/)
    const refusedJson = await runCli(["market", "status", "--url", `http://127.0.0.1:${port}`, "--json"], { cwd: dir })
    assert.strictEqual((json(refusedJson) as { error: { _tag: string } }).error._tag, "ServiceUnreachable")

    const key = writeKey(dir)
    const file = writeMarketFile(dir)
    const served = await serve(file, ["--store", path.join(dir, "m.sqlite"), "--key-file", key], dir)
    const unknown = await runCli(
      ["market", "submit", "--url", served.url, "--token", "not-a-token", "--recipe", recipeJson(r(4, 32, 0.1)), "--json"],
      { cwd: dir }
    )
    assert.strictEqual(unknown.code, 1)
    assert.strictEqual((json(unknown) as { error: { _tag: string } }).error._tag, "Unauthorized")
    const badRecipe = await runCli(
      ["market", "submit", "--url", served.url, "--token", tokens.alice, "--recipe", recipeJson({ ...r(4, 32, 0.1), islands: 0 })],
      { cwd: dir }
    )
    assert.strictEqual(badRecipe.code, 1)
    assert.match(badRecipe.stderr, /^trainmarket: RecipeInvalid: .*islands/)
    // without a token the service itself refuses (401): the client passes its answer on
    const noToken = await runCli(["market", "status", "--url", served.url, "--submission", "sub-x"], { cwd: dir })
    assert.strictEqual(noToken.code, 1)
    assert.match(noToken.stderr, /^trainmarket: Unauthorized: /)
    const noTokenMine = await runCli(["market", "status", "--url", served.url, "--mine", "--json"], { cwd: dir })
    assert.strictEqual(noTokenMine.code, 1)
    assert.strictEqual((json(noTokenMine) as { error: { _tag: string } }).error._tag, "Unauthorized")
    // a direct submission to this market works with the same command (no commit-reveal here)
    const direct = await runCli(
      ["market", "submit", "--url", served.url, "--token", tokens.alice, "--recipe", recipeJson(r(4, 32, 0.1)), "--json"],
      { cwd: dir }
    )
    assert.strictEqual(direct.code, 0, direct.stderr)
    served.child.kill("SIGTERM")
    assert.strictEqual((await served.exited).code, 0)
  })

  it("serve refuses a file with submissions or without access, a taken port, a postgres URL, and another market's store", async () => {
    const dir = tempDir("serve-refusals")
    const key = writeKey(dir)
    const store = path.join(dir, "m.sqlite")
    const run = (file: string, extra: ReadonlyArray<string> = []) =>
      runCli(["market", "serve", file, "--port", "0", "--store", store, "--key-file", key, ...extra], { cwd: dir })

    const withSubmissions = path.join(dir, "with-submissions.json")
    fs.writeFileSync(
      withSubmissions,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(writeMarketFile(dir), "utf8")), submissions: [] })
    )
    const refused = await run(withSubmissions)
    assert.strictEqual(refused.code, 1)
    assert.match(refused.stderr, /^trainmarket: BadInput: .*with-submissions\.json: at submissions: a served market takes its submissions over HTTP/)

    const withoutAccess = path.join(dir, "without-access.json")
    const { access: _access, ...rest } = JSON.parse(fs.readFileSync(writeMarketFile(dir), "utf8")) as Record<string, unknown>
    fs.writeFileSync(withoutAccess, JSON.stringify(rest))
    const noAccess = await run(withoutAccess)
    assert.match(noAccess.stderr, /^trainmarket: BadInput: .*at access: is missing/)

    const postgres = await runCli(
      ["market", "serve", writeMarketFile(dir), "--store", "postgres://market:secret@localhost/market", "--key-file", key, "--json"],
      { cwd: dir }
    )
    assert.strictEqual(postgres.code, 1)
    const error = (json(postgres) as { error: { _tag: string; message: string } }).error
    assert.strictEqual(error._tag, "StoreFailed")
    assert.notInclude(error.message, "secret", "the password is not printed")

    // a port that is taken
    const served = await serve(writeMarketFile(dir), ["--store", store, "--key-file", key], dir)
    const taken = served.url.split(":").at(-1)!
    const busy = await runCli(
      ["market", "serve", writeMarketFile(dir), "--port", taken, "--store", path.join(dir, "other.sqlite"), "--key-file", key],
      { cwd: dir }
    )
    assert.strictEqual(busy.code, 1)
    assert.match(busy.stderr, /^trainmarket: ListenFailed: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
    served.child.kill("SIGTERM")
    assert.strictEqual((await served.exited).code, 0)

    // the store holds this market: a file with other rules is refused; new tokens are not other rules
    const other = await run(writeMarketFile(dir, { poolWei: "5" }))
    assert.strictEqual(other.code, 1)
    assert.match(other.stderr, /^trainmarket: StoreFailed: market store .*another market file/)
    const rotated = path.join(dir, "rotated.json")
    const original = JSON.parse(fs.readFileSync(writeMarketFile(dir), "utf8")) as { access: { researchers: Array<unknown> } }
    fs.writeFileSync(rotated, JSON.stringify({
      ...original,
      access: { ...original.access, researchers: original.access.researchers.slice(0, 1) }
    }))
    const reopened = await serve(rotated, ["--store", store, "--key-file", key], dir)
    reopened.child.kill("SIGTERM")
    assert.strictEqual((await reopened.exited).code, 0)
  })
})

describe("a journal edited by hand (SPEC §16)", () => {
  it("makes serve refuse to start with JournalCorrupt and market audit report the disagreement", async () => {
    const dir = tempDir("serve-corrupt")
    const key = writeKey(dir)
    const file = writeMarketFile(dir)
    const store = path.join(dir, "market.sqlite")
    const served = await serve(file, ["--store", store, "--key-file", key], dir)
    for (const recipe of [r(4, 32, 0.1), r(8, 32, 0.2), r(2, 32, 0.1)]) {
      const answer = await call(served.url, "POST", "/v1/submissions", { token: tokens.alice, body: { recipe } })
      assert.strictEqual(answer.status, 202)
    }
    await waitFor(served.url, allSettled(3))
    served.child.kill("SIGTERM")
    assert.strictEqual((await served.exited).code, 0)

    // raise a record's payout in the file
    const db = new Database(store)
    try {
      const row = db.prepare<[], { seq: number; payload: string }>(
        "SELECT seq, payload FROM market_events WHERE kind = 'settled' AND payload LIKE '%\"becameRecord\":true%' LIMIT 1"
      ).get()
      if (row === undefined) return assert.fail("no record was settled")
      const event = JSON.parse(row.payload) as { paidWei: string }
      event.paidWei = (BigInt(event.paidWei) + 1n).toString()
      db.prepare("UPDATE market_events SET payload = ? WHERE seq = ?").run(JSON.stringify(event), row.seq)
    } finally {
      db.close()
    }

    const refused = await runCli(["market", "serve", file, "--port", "0", "--store", store, "--key-file", key], { cwd: dir })
    assert.strictEqual(refused.code, 1)
    assert.match(refused.stderr, /^trainmarket: JournalCorrupt: journal is corrupt: 1 recomputed payout\(s\) disagree with the journal: /)
    const refusedJson = await runCli(
      ["market", "serve", file, "--port", "0", "--store", store, "--key-file", key, "--json"],
      { cwd: dir }
    )
    assert.strictEqual((json(refusedJson) as { error: { _tag: string } }).error._tag, "JournalCorrupt")

    const audited = await auditOf(store, dir)
    assert.strictEqual(audited.code, 1)
    assert.isFalse(audited.audit.recomputeAgrees)
    assert.match(audited.stderr, /^trainmarket: journal: event \d+ \(settled\): submission \d+: the journal says/)
    const missing = await runCli(["market", "audit", "--store", path.join(dir, "nothing.sqlite")], { cwd: dir })
    assert.strictEqual(missing.code, 1)
    assert.match(missing.stderr, /^trainmarket: StoreFailed: .*no such file/)
    assert.isFalse(fs.existsSync(path.join(dir, "nothing.sqlite")), "an audit creates no store")
  })
})
