/**
 * The live market's HTTP API (SPEC §16) in-process: the API served on a loopback
 * listener over a market on the simulator, called through the typed client derived
 * from the same definition (and, where a client could never send it, through a raw
 * HTTP client). Every auth and bad-input case answers the error body
 * `{"error":{"_tag","message"}}` with its status; commit-reveal, budgets, Ladder
 * feedback, epochs and the event stream work over HTTP as in the library; concurrent
 * researchers never overspend the pool and buy the frontier once; a stopping service
 * answers 503.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Chunk, Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { defaultGate } from "../src/domain/Measurement.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import * as Replay from "../src/market/Replay.js"
import * as Api from "../src/service/ServiceApi.js"
import * as Client from "../src/service/ServiceClient.js"
import * as ServedMarket from "../src/service/ServedMarket.js"
import * as Server from "../src/service/ServiceServer.js"
import { baseConfig, r, served, tokens } from "./support/service.js"

/** A raw request, for what the typed client would never send. */
const raw = (
  method: "GET" | "POST",
  path: string,
  options: {
    readonly body?: string | Stream.Stream<Uint8Array>
    readonly token?: string
    readonly authorization?: string
    readonly contentType?: string
  } = {}
) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(path)
    if (typeof options.body === "string") {
      request = HttpClientRequest.bodyText(request, options.body, options.contentType ?? "application/json")
    }
    else if (options.body !== undefined) request = HttpClientRequest.bodyStream(request, options.body, { contentType: "application/json" })
    if (options.token !== undefined) request = HttpClientRequest.bearerToken(request, options.token)
    if (options.authorization !== undefined) request = HttpClientRequest.setHeader(request, "authorization", options.authorization)
    const response = yield* http.execute(request)
    const text = yield* response.text
    return { status: response.status, body: JSON.parse(text) as unknown, contentType: response.headers["content-type"] }
  })

/** Assert an answer is the error body with this status and tag; returns its message. */
const expectError = (answer: { readonly status: number; readonly body: unknown }, status: number, tag: string): string => {
  assert.strictEqual(answer.status, status, JSON.stringify(answer.body))
  const body = answer.body as { error?: { _tag?: unknown; message?: unknown } }
  assert.deepStrictEqual(Object.keys(body), ["error"])
  assert.deepStrictEqual(Object.keys(body.error ?? {}).sort(), ["_tag", "message"])
  assert.strictEqual(body.error?._tag, tag)
  assert.isString(body.error?.message)
  return String(body.error?.message)
}

const submitBody = (recipe: unknown) => JSON.stringify({ recipe })
const good = r(8, 32, 0.2)

/** The market behind the API. */
const market = Continuous.ContinuousMarket

describe("bearer tokens and roles (SPEC §16)", () => {
  it.live("401 without a token, with an unknown one, or with another scheme; 403 for the wrong role", () =>
    Effect.gen(function*() {
      const missing = yield* raw("POST", "/v1/submissions", { body: submitBody(good) })
      assert.include(expectError(missing, 401, "Unauthorized"), "bearer token is required")
      expectError(yield* raw("POST", "/v1/submissions", { body: submitBody(good), token: "not-a-token" }), 401, "Unauthorized")
      expectError(
        yield* raw("POST", "/v1/submissions", { body: submitBody(good), authorization: `Basic ${tokens.alice}` }),
        401,
        "Unauthorized"
      )
      expectError(yield* raw("GET", "/v1/submissions", {}), 401, "Unauthorized")
      expectError(yield* raw("GET", "/v1/audit", { token: "nope" }), 401, "Unauthorized")
      // a researcher auditing, the operator submitting, committing or revealing: 403
      expectError(yield* raw("GET", "/v1/audit", { token: tokens.alice }), 403, "Forbidden")
      expectError(yield* raw("POST", "/v1/submissions", { body: submitBody(good), token: tokens.operator }), 403, "Forbidden")
      expectError(
        yield* raw("POST", "/v1/commits", { body: JSON.stringify({ commitment: "0".repeat(64) }), token: tokens.operator }),
        403,
        "Forbidden"
      )
      expectError(
        yield* raw("POST", "/v1/reveals", {
          body: JSON.stringify({ commitId: "c", recipe: good, salt: "s" }),
          token: tokens.operator
        }),
        403,
        "Forbidden"
      )
      // the role is checked before the body is read: a bad body from the wrong role is still 403
      expectError(yield* raw("POST", "/v1/submissions", { body: "{oops", token: tokens.operator }), 403, "Forbidden")
      // nothing of that reached the market
      assert.strictEqual((yield* (yield* market).leaderboard).submissions, 0)

      // the typed client sees the same errors as its classes
      const anonymous = yield* Client.make("")
      const denied = yield* Effect.flip(anonymous.submissions())
      assert.instanceOf(denied, Api.Unauthorized)
      const alice = yield* Client.make("", tokens.alice)
      assert.instanceOf(yield* Effect.flip(alice.audit()), Api.Forbidden)
      const operator = yield* Client.make("", tokens.operator)
      assert.instanceOf(yield* Effect.flip(operator.submit({ payload: { recipe: good } })), Api.Forbidden)
      assert.deepStrictEqual(yield* alice.me(), { role: "researcher", name: "alice" })
      assert.deepStrictEqual(yield* operator.me(), { role: "operator", name: null })
      // what anyone may read needs no token
      assert.strictEqual((yield* anonymous.leaderboard()).submissions, 0)
      assert.isFalse((yield* anonymous.market()).commitReveal)
    }).pipe(Effect.provide(served())))

  it.live("a stranger's submission is 404 with the same body as an id that does not exist", () =>
    Effect.gen(function*() {
      const alice = yield* Client.make("", tokens.alice)
      const accepted = yield* alice.submit({ payload: { recipe: good } })
      assert.strictEqual(accepted.status, "queued")
      const bob = yield* raw("GET", `/v1/submissions/${accepted.submissionId}`, { token: tokens.bob })
      const made = "sub-00000000-0000-0000-0000-000000000000"
      const unknown = yield* raw("GET", `/v1/submissions/${made}`, { token: tokens.bob })
      expectError(bob, 404, "NotFound")
      expectError(unknown, 404, "NotFound")
      assert.deepStrictEqual(JSON.stringify(bob.body).replace(accepted.submissionId, made), JSON.stringify(unknown.body))
      // bob's list does not show it either; the operator's and alice's do
      const bobClient = yield* Client.make("", tokens.bob)
      assert.deepStrictEqual((yield* bobClient.submissions()).submissions, [])
      const operator = yield* Client.make("", tokens.operator)
      assert.strictEqual((yield* operator.submission({ path: { id: accepted.submissionId } })).researcher, "alice")
      assert.strictEqual((yield* alice.submission({ path: { id: accepted.submissionId } })).index, 0)
      // an endpoint that does not exist has the error body too
      expectError(yield* raw("GET", "/v2/nothing"), 404, "NotFound")
      expectError(yield* raw("POST", "/v1/leaderboard", { body: "{}" }), 404, "NotFound")
    }).pipe(Effect.provide(served())))
})

describe("bad input (SPEC §16)", () => {
  it.live("400 for malformed JSON, an unknown or missing field, a bad recipe or commitment; 413 past 64 KiB", () =>
    Effect.gen(function*() {
      const as = { token: tokens.alice }
      assert.include(expectError(yield* raw("POST", "/v1/submissions", { ...as, body: "{not json" }), 400, "BadInput"), "JSON")
      const unknown = expectError(
        yield* raw("POST", "/v1/submissions", { ...as, body: JSON.stringify({ recipe: good, priority: "high" }) }),
        400,
        "BadInput"
      )
      assert.include(unknown, "priority")
      assert.include(expectError(yield* raw("POST", "/v1/submissions", { ...as, body: "{}" }), 400, "BadInput"), "recipe")
      const badKnob = expectError(
        yield* raw("POST", "/v1/submissions", { ...as, body: submitBody({ ...good, keepFraction: 2 }) }),
        400,
        "RecipeInvalid"
      )
      assert.include(badKnob, "keepFraction")
      assert.include(
        expectError(yield* raw("POST", "/v1/submissions", { ...as, body: submitBody({ ...good, momentum: 0.9 }) }), 400, "RecipeInvalid"),
        "momentum"
      )
      assert.include(
        expectError(
          yield* raw("POST", "/v1/commits", { ...as, body: JSON.stringify({ commitment: "not-a-hash" }) }),
          400,
          "BadInput"
        ),
        "hex"
      )
      // 64 KiB and one byte: refused by its length, and as a chunked body without one
      const padding = "x".repeat(Api.MAX_BODY_BYTES)
      const large = JSON.stringify({ recipe: good, padding })
      expectError(yield* raw("POST", "/v1/submissions", { ...as, body: large }), 413, "PayloadTooLarge")
      const chunks = Stream.fromIterable(Array.from({ length: 20 }, () => new TextEncoder().encode(padding.slice(0, 4096))))
      expectError(yield* raw("POST", "/v1/submissions", { ...as, body: chunks }), 413, "PayloadTooLarge")
      // a body just under the limit is read (and refused for its unknown field, not its size)
      const under = JSON.stringify({ recipe: good, p: "x".repeat(Api.MAX_BODY_BYTES - 200) })
      expectError(yield* raw("POST", "/v1/submissions", { ...as, body: under }), 400, "BadInput")
      // none of it was accepted
      assert.strictEqual((yield* (yield* market).leaderboard).submissions, 0)
      // the typed client gets the same RecipeInvalid
      const alice = yield* Client.make("", tokens.alice)
      const invalid = yield* Effect.flip(alice.submit({ payload: { recipe: { ...good, islands: 0 } } }))
      assert.instanceOf(invalid, Api.RecipeInvalid)
      assert.include(invalid.message, "islands")
    }).pipe(Effect.provide(served())))
})

describe("bodies are JSON whatever the Content-Type says (SPEC §16)", () => {
  it.live("a submission sent as text/plain (fetch's default for a string body) or form-encoded is read as JSON", () =>
    Effect.gen(function*() {
      for (const contentType of ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]) {
        const answer = yield* raw("POST", "/v1/submissions", { token: tokens.alice, body: submitBody(good), contentType })
        assert.strictEqual(answer.status, 202, JSON.stringify(answer.body))
        assert.strictEqual((answer.body as { status: string }).status, "queued")
      }
      // still JSON, and still checked: malformed text is BadInput, an unknown field is named
      assert.include(
        expectError(yield* raw("POST", "/v1/submissions", { token: tokens.alice, body: "recipe=x", contentType: "text/plain" }), 400, "BadInput"),
        "JSON"
      )
      assert.include(
        expectError(
          yield* raw("POST", "/v1/submissions", {
            token: tokens.alice,
            body: JSON.stringify({ recipe: good, extra: 1 }),
            contentType: "application/x-www-form-urlencoded"
          }),
          400,
          "BadInput"
        ),
        "extra"
      )
      assert.strictEqual((yield* (yield* market).leaderboard).submissions, 2)
    }).pipe(Effect.provide(served())))
})

describe("commit-reveal over HTTP (SPEC §15.7)", () => {
  const config = { ...baseConfig, commitReveal: true, revealWindowSeconds: 600 }

  it.effect("a direct submission is 409 CommitRevealRequired; the client commits and reveals; copies and mismatches are 409", () =>
    Effect.gen(function*() {
      const live = yield* market
      const alice = yield* Client.make("", tokens.alice)
      const bob = yield* Client.make("", tokens.bob)
      assert.isTrue((yield* alice.market()).commitReveal)
      const direct = yield* raw("POST", "/v1/submissions", { token: tokens.alice, body: submitBody(good) })
      expectError(direct, 409, "CommitRevealRequired")

      // the CLI's way: commit sha256(canonical recipe + salt + name), then reveal
      const submitted = yield* Client.submit(alice, good)
      const receipt = yield* live.settled(submitted.submissionId)
      assert.isTrue(receipt.becameRecord)

      // bob copies the revealed recipe: his reveal matches his commitment, but alice committed first
      const copy = yield* Effect.flip(Client.submit(bob, good))
      assert.instanceOf(copy, Api.DuplicateSubmission)
      const duplicate = yield* raw("POST", "/v1/reveals", {
        token: tokens.bob,
        body: JSON.stringify({ commitId: "commit-unknown", recipe: good, salt: "s" })
      })
      expectError(duplicate, 404, "NotFound")

      // a wrong salt is a mismatch; another researcher's commitment is as unknown as a made-up one
      const recipe = r(4, 32, 0.1)
      const salt = "bob-salt"
      const committed = yield* bob.commit({ payload: { commitment: Continuous.commitment(recipe, salt, "bob") } })
      assert.strictEqual(committed.committedAt, 0, "the market's clock (TestClock) stamps commitments")
      const mismatch = yield* raw("POST", "/v1/reveals", {
        token: tokens.bob,
        body: JSON.stringify({ commitId: committed.commitId, recipe, salt: "other" })
      })
      expectError(mismatch, 409, "RevealMismatch")
      const stolen = yield* raw("POST", "/v1/reveals", {
        token: tokens.carol,
        body: JSON.stringify({ commitId: committed.commitId, recipe, salt })
      })
      expectError(stolen, 404, "NotFound")

      // past the reveal window (on the Clock) the commitment has expired
      yield* TestClock.adjust(Duration.seconds(601))
      const late = yield* raw("POST", "/v1/reveals", {
        token: tokens.bob,
        body: JSON.stringify({ commitId: committed.commitId, recipe, salt })
      })
      assert.include(expectError(late, 409, "RevealMismatch"), "expired")
      // a commitment revealed in time is accepted
      const fresh = yield* bob.commit({ payload: { commitment: Continuous.commitment(recipe, salt, "bob") } })
      const accepted = yield* bob.reveal({ payload: { commitId: fresh.commitId, recipe, salt } })
      assert.strictEqual(accepted.status, "queued")
      assert.strictEqual((yield* live.settled(accepted.submissionId)).index, 1)
    }).pipe(Effect.provide(served(config))))
})

describe("budgets, Ladder feedback and epochs over HTTP (SPEC §15.5, §6)", () => {
  it.effect("the (c+1)th submission within the window is 429 and not journaled; the window slides on the Clock", () =>
    Effect.gen(function*() {
      const alice = yield* Client.make("", tokens.alice)
      const bob = yield* Client.make("", tokens.bob)
      yield* alice.submit({ payload: { recipe: r(2, 32, 0.1) } })
      yield* TestClock.adjust(Duration.seconds(30))
      yield* alice.submit({ payload: { recipe: r(4, 32, 0.1) } })
      const third = yield* raw("POST", "/v1/submissions", { token: tokens.alice, body: submitBody(r(8, 32, 0.2)) })
      assert.include(expectError(third, 429, "SubmissionRefused"), "budget")
      // a bad recipe does not count; bob has his own budget
      expectError(
        yield* raw("POST", "/v1/submissions", { token: tokens.bob, body: submitBody({ ...good, islands: 0 }) }),
        400,
        "RecipeInvalid"
      )
      yield* bob.submit({ payload: { recipe: r(8, 32, 0.2) } })
      assert.strictEqual((yield* alice.leaderboard()).submissions, 3)
      // 60 s after alice's first, one slot is free again
      yield* TestClock.adjust(Duration.seconds(30))
      yield* alice.submit({ payload: { recipe: r(16, 32, 0.2) } })
      assert.instanceOf(yield* Effect.flip(alice.submit({ payload: { recipe: r(6, 16, 0.15) } })), Api.SubmissionRefused)
    }).pipe(Effect.provide(served({ ...baseConfig, submissionBudget: { count: 2, perSeconds: 60 } }))))

  it.live("Ladder: a researcher sees held-out figures of records only; the operator sees everything", () =>
    Effect.gen(function*() {
      const live = yield* market
      const alice = yield* Client.make("", tokens.alice)
      const operator = yield* Client.make("", tokens.operator)
      assert.strictEqual((yield* alice.market()).feedback, "ladder")
      const record = yield* alice.submit({ payload: { recipe: r(8, 32, 0.2) } })
      const weaker = yield* alice.submit({ payload: { recipe: r(2, 32, 0.1) } })
      const recordReceipt = yield* live.settled(record.submissionId)
      yield* live.settled(weaker.submissionId)
      const seenRecord = yield* alice.submission({ path: { id: record.submissionId } })
      assert.strictEqual(seenRecord.status, "settled")
      assert.strictEqual(seenRecord.heldOutValue, recordReceipt.heldOut.value)
      assert.strictEqual(seenRecord.liftMicros, recordReceipt.liftMicros)
      assert.strictEqual(seenRecord.paidWei, recordReceipt.paidWei)
      const seenWeaker = yield* alice.submission({ path: { id: weaker.submissionId } })
      assert.strictEqual(seenWeaker.becameRecord, false)
      assert.strictEqual(seenWeaker.heldOutValue, null)
      assert.strictEqual(seenWeaker.liftMicros, null)
      assert.strictEqual(seenWeaker.bestMicros, recordReceipt.liftMicros)
      const operatorView = yield* operator.submission({ path: { id: weaker.submissionId } })
      assert.isNumber(operatorView.heldOutValue)
      assert.isNotNull(operatorView.liftMicros)
      // on the wire: decimal strings, and the fields of SPEC §16
      const wire = yield* raw("GET", `/v1/submissions/${record.submissionId}`, { token: tokens.alice })
      const body = wire.body as Record<string, unknown>
      assert.strictEqual(body.paidWei, String(recordReceipt.paidWei))
      assert.strictEqual(body.liftMicros, String(recordReceipt.liftMicros))
      for (const field of ["submissionId", "researcher", "status", "becameRecord", "paidWei", "heldOutValue", "liftMicros", "error"]) {
        assert.property(body, field)
      }
      // newest first
      assert.deepStrictEqual(
        (yield* alice.submissions()).submissions.map((s) => s.submissionId),
        [weaker.submissionId, record.submissionId]
      )
    }).pipe(Effect.provide(served({ ...baseConfig, feedback: "ladder" }))))

  it.scoped("time-at-top: epochs close on the Clock, credit the holder, and reach the leaderboard, the audit and the events", () =>
    Effect.gen(function*() {
      const live = yield* market
      const alice = yield* Client.make("", tokens.alice)
      const operator = yield* Client.make("", tokens.operator)
      const info = yield* alice.market()
      assert.strictEqual(info.epochSeconds, 60)
      assert.deepStrictEqual(info.schedule, { kind: "time-at-top", weiPerEpoch: 1000n })
      assert.strictEqual(info.poolWei, 2500n)
      const events = yield* live.subscribe
      const collected = yield* Effect.fork(Stream.runCollect(Stream.take(events, 4)))
      const accepted = yield* alice.submit({ payload: { recipe: good } })
      yield* live.settled(accepted.submissionId)
      yield* TestClock.adjust(Duration.minutes(3))
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      assert.deepStrictEqual(seen.map((e) => e.type), ["record", "epoch", "epoch", "epoch"])
      // 1000 + 1000 + what is left of the 2500 pool
      assert.deepStrictEqual(seen.map((e) => e.wei), [0n, 1000n, 1000n, 500n])
      const board = yield* alice.leaderboard()
      assert.strictEqual(board.spentWei, 2500n)
      assert.strictEqual(board.poolLeftWei, 0n)
      const audit = yield* operator.audit()
      assert.isTrue(audit.recomputeAgrees)
      assert.deepStrictEqual(audit.payouts, [{ researcher: "alice", wei: 2500n }])
    }).pipe(
      Effect.provide(
        served({
          ...baseConfig,
          schedule: { kind: "time-at-top", weiPerEpoch: 1000n },
          poolWei: 2500n,
          epochSeconds: 60
        })
      )
    ))
})

/** Read an event stream until `until` holds of what arrived; returns the text. */
const readEvents = (response: HttpClientResponse.HttpClientResponse, until: (text: string) => boolean) =>
  response.stream.pipe(
    Stream.decodeText(),
    Stream.scan("", (all, piece) => all + piece),
    Stream.takeUntil(until),
    Stream.runLast,
    Effect.map(Option.getOrElse(() => ""))
  )

describe("the event stream (SPEC §16 GET /v1/events)", () => {
  it.live("a new record arrives as a server-sent event; the stream ends when the service stops", () =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const lifecycle = yield* Server.Lifecycle
      const response = yield* http.execute(HttpClientRequest.get("/v1/events"))
      assert.strictEqual(response.status, 200)
      assert.include(response.headers["content-type"] ?? "", "text/event-stream")
      // the opening comment: from here on, nothing is missed
      const reading = yield* Effect.fork(readEvents(response, (text) => text.includes("event: record")))
      const alice = yield* Client.make("", tokens.alice)
      const accepted = yield* alice.submit({ payload: { recipe: good } })
      const text = yield* Fiber.join(reading)
      assert.match(text, /^: trainmarket events\n\n/)
      const frame = text.split("\n\n").find((f) => f.startsWith("event: record"))
      const data = JSON.parse((frame ?? "").split("\n")[1]!.replace(/^data: /, "")) as Record<string, unknown>
      const receipt = yield* (yield* market).settled(accepted.submissionId)
      assert.deepStrictEqual(data, {
        type: "record",
        researcher: "alice",
        micros: String(receipt.liftMicros),
        wei: String(receipt.paidWei),
        at: data.at,
        spentWei: String(receipt.paidWei)
      })
      // a second stream, then the service stops: the stream ends (so the listener can close)
      const second = yield* http.execute(HttpClientRequest.get("/v1/events"))
      const ended = yield* Effect.fork(readEvents(second, () => false))
      yield* lifecycle.stop
      assert.match(yield* Fiber.join(ended), /^: trainmarket events/)
    }).pipe(Effect.provide(served())))
})

describe("stopping (SPEC §16)", () => {
  it.live("once the service is stopping every request is 503 with the error body", () =>
    Effect.gen(function*() {
      const lifecycle = yield* Server.Lifecycle
      const alice = yield* Client.make("", tokens.alice)
      yield* alice.submit({ payload: { recipe: good } })
      yield* lifecycle.stop
      expectError(yield* raw("POST", "/v1/submissions", { token: tokens.alice, body: submitBody(r(4, 32, 0.1)) }), 503, "ServiceUnavailable")
      expectError(yield* raw("GET", "/v1/leaderboard"), 503, "ServiceUnavailable")
      expectError(yield* raw("GET", "/openapi.json"), 503, "ServiceUnavailable")
      assert.instanceOf(yield* Effect.flip(alice.leaderboard()), Api.ServiceUnavailable)
      assert.strictEqual((yield* (yield* market).leaderboard).submissions, 1)
    }).pipe(Effect.provide(served())))
})

describe("the API document (GET /openapi.json)", () => {
  it.live("lists every path of the API with its methods, and the bearer scheme", () =>
    Effect.gen(function*() {
      const answer = yield* raw("GET", "/openapi.json")
      assert.strictEqual(answer.status, 200)
      const document = answer.body as {
        openapi: string
        paths: Record<string, Record<string, unknown>>
        components: { securitySchemes: Record<string, unknown> }
      }
      assert.match(document.openapi, /^3\./)
      const listed = Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)
      ).sort()
      assert.deepStrictEqual(listed, [
        "GET /openapi.json",
        "GET /v1/audit",
        "GET /v1/events",
        "GET /v1/leaderboard",
        "GET /v1/market",
        "GET /v1/me",
        "GET /v1/submissions",
        "GET /v1/submissions/{id}",
        "POST /v1/commits",
        "POST /v1/reveals",
        "POST /v1/submissions"
      ])
      assert.property(document.components.securitySchemes, "bearer")
      // every error status of SPEC §16 is documented with the error body
      const statuses = new Set(Object.values(document.paths).flatMap((methods) =>
        Object.values(methods).flatMap((operation) => Object.keys((operation as { responses: object }).responses))
      ))
      for (const status of ["201", "202", "400", "401", "403", "404", "409", "413", "429", "503"]) assert.isTrue(statuses.has(status), status)
      assert.notInclude(JSON.stringify(document), "HttpApiDecodeError")
    }).pipe(Effect.provide(served())))
})

describe("the example served market (examples/service-market.json)", () => {
  it.effect("loads, and its digests are those of the example tokens docs/service.md gives", () =>
    Effect.gen(function*() {
      const file = yield* ServedMarket.load("examples/service-market.json")
      assert.deepStrictEqual(ServedMarket.identify(file.access, "operator-example-token"), { role: "operator" })
      assert.deepStrictEqual(ServedMarket.identify(file.access, "alice-example-token"), { role: "researcher", name: "alice" })
      assert.deepStrictEqual(ServedMarket.identify(file.access, "bob-example-token"), { role: "researcher", name: "bob" })
      assert.isUndefined(ServedMarket.identify(file.access, "alice-example-token "))
      // the journal keeps the file without its access block
      assert.notProperty(ServedMarket.journaled(file), "access")
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("several researchers at once (SPEC §16)", () => {
  const recipes = [r(2, 32, 0.1), r(4, 32, 0.1), r(8, 32, 0.2), r(4, 32, 0.0005), r(16, 32, 0.2), r(6, 16, 0.15), r(4, 4000, 0.1)]
  const researchers = ["alice", "bob", "carol"] as const

  for (const poolWei of [undefined, 300_000_000_000_000n]) {
    it.live(`concurrent submissions settle as a replay of the accepted order; the pool (${poolWei ?? "unlimited"}) is never overspent`, () =>
      Effect.gen(function*() {
        const live = yield* market
        const clients = yield* Effect.forEach(researchers, (name) => Client.make("", tokens[name]))
        // 3 researchers x 7 recipes, all in flight at once
        const accepted = yield* Effect.all(
          researchers.flatMap((_, who) => recipes.map((recipe) => clients[who]!.submit({ payload: { recipe } }))),
          { concurrency: "unbounded" }
        )
        yield* Effect.forEach(accepted, (a) => live.settled(a.submissionId), { discard: true })
        const operator = yield* Client.make("", tokens.operator)
        const all = [...(yield* operator.submissions()).submissions].sort((a, b) => a.index - b.index)
        assert.deepStrictEqual(all.map((s) => s.index), all.map((_, i) => i), "indices are the acceptance order, no gap")
        const replayed = Effect.runSync(Replay.collect(
          { ...baseConfig, gate: defaultGate, poolWei },
          all.map((s) => ({ researcher: s.researcher, recipe: s.recipe })),
          Replay.simEvaluator(16)
        ))
        assert.deepStrictEqual(all.map((s) => s.paidWei), replayed.results.map((x) => x.paidWei))
        const board = yield* operator.leaderboard()
        assert.strictEqual(board.spentWei, replayed.summary.spentWei)
        if (poolWei !== undefined) assert.isTrue(board.spentWei <= poolWei)
        // the frontier is bought once: each record pays its margin over the previous one
        const paid = all.reduce((sum, s) => sum + (s.paidWei ?? 0n), 0n)
        assert.strictEqual(paid, board.spentWei)
        if (poolWei === undefined) assert.strictEqual(paid, 1_000_000_000n * board.bestMicros)
        const micros = board.records.map((x) => x.micros)
        assert.deepStrictEqual(micros, [...micros].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        assert.strictEqual(new Set(micros).size, micros.length)
        assert.isTrue((yield* operator.audit()).recomputeAgrees)
      }).pipe(Effect.provide(served({ ...baseConfig, poolWei, concurrency: 4 }))))
  }
})
