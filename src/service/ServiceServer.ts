/**
 * The live market served over HTTP (SPEC §16): the handlers of `MarketApi` over the
 * `ContinuousMarket`, the bearer-token checks, and one guard in front of every route
 * that answers 503 while the service stops, 413 for a body over 64 KiB, and turns
 * whatever failed before a handler ran (no such route, malformed JSON, a body that does
 * not match its schema, a defect) into the API's `{"error":{"_tag","message"}}`.
 *
 * `layer(options)` serves the API on Node's HTTP server; `app` is the API without a
 * listener (tests serve it on `NodeHttpServer.layerTest`). Stopping is the `Lifecycle`'s
 * business: `stop` makes every request a 503 and ends every event stream, after which
 * the market drains and the listener closes.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Web from "./Web.js"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Context, Deferred, Duration, Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import { createServer } from "node:http"
import type * as Errors from "../domain/Errors.js"
import type { Access } from "../files/MarketFile.js"
import { stringify } from "../files/Json.js"
import { type CommitRevealRequired as MarketCommitRevealRequired, ContinuousMarket } from "../market/ContinuousMarket.js"
import * as Api from "./ServiceApi.js"
import { identify } from "./ServedMarket.js"
import { oneLine } from "../domain/Text.js"

/** Whether the service is stopping; what the guard and the event streams watch. */
export class Lifecycle extends Context.Tag("trainmarket/service/Lifecycle")<
  Lifecycle,
  {
    /** True once `stop` ran: every request is answered 503. */
    readonly stopping: Effect.Effect<boolean>
    /** Stop taking requests and end every event stream (idempotent). */
    readonly stop: Effect.Effect<void>
    /** Completes when `stop` runs. */
    readonly stopped: Effect.Effect<void>
  }
>() {}

/** A lifecycle that is running until `stop`. */
export const makeLifecycle: Effect.Effect<Lifecycle["Type"]> = Effect.gen(function*() {
  const flag = yield* Ref.make(false)
  const done = yield* Deferred.make<void>()
  return Lifecycle.of({
    stopping: Ref.get(flag),
    stop: Effect.zipRight(Ref.set(flag, true), Deferred.succeed(done, undefined)),
    stopped: Deferred.await(done)
  })
})

/** A fresh lifecycle as a layer. */
export const layerLifecycle: Layer.Layer<Lifecycle> = Layer.effect(Lifecycle, makeLifecycle)

/** How the API is served. */
export interface AppOptions {
  /** Who may call (the market file's `access`). */
  readonly access: Access
  /** How often an event stream sends a keep-alive comment (default 15 s). */
  readonly keepAlive?: Duration.DurationInput | undefined
}

/** Each market error as the API answers it: same tag, same message, the API's status. */
const fail = {
  BadInput: (error: Errors.BadInput) => Effect.fail(new Api.BadInput({ message: error.message })),
  RecipeInvalid: (error: Errors.RecipeInvalid) => Effect.fail(new Api.RecipeInvalid({ message: error.message })),
  NotFound: (error: Errors.NotFound) => Effect.fail(new Api.NotFound({ message: error.message })),
  RevealMismatch: (error: Errors.RevealMismatch) => Effect.fail(new Api.RevealMismatch({ message: error.message })),
  DuplicateSubmission: (error: Errors.DuplicateSubmission) =>
    Effect.fail(new Api.DuplicateSubmission({ message: error.message })),
  SubmissionRefused: (error: Errors.SubmissionRefused) => Effect.fail(new Api.SubmissionRefused({ message: error.message })),
  StoreFailed: (error: Errors.StoreFailed) => Effect.fail(new Api.StoreFailed({ message: error.message })),
  CommitRevealRequired: (error: MarketCommitRevealRequired) =>
    Effect.fail(new Api.CommitRevealRequired({ message: error.message }))
}

const unauthorized = (token: string) =>
  new Api.Unauthorized({
    message: token === ""
      ? "a bearer token is required (Authorization: Bearer <token>)"
      : "unknown token: the market knows no caller with this token"
  })

/** The caller a request's bearer token names; 401 when it names nobody. */
const caller = (access: Access, token: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const header = request.headers["authorization"] ?? ""
    const value = Redacted.value(token).trim()
    // the platform reads any "Authorization" header as a bearer token: insist on the scheme
    if (!/^bearer\s/i.test(header) || value === "") return yield* unauthorized("")
    const found = identify(access, value)
    return found === undefined ? yield* unauthorized(value) : found
  })

/** The three bearer checks: anyone known, researchers only, the operator only. */
const authentication = (access: Access) =>
  Layer.mergeAll(
    Layer.succeed(Api.AnyCaller, Api.AnyCaller.of({ bearer: (token) => caller(access, token) })),
    Layer.succeed(
      Api.ResearcherOnly,
      Api.ResearcherOnly.of({
        bearer: (token) =>
          Effect.flatMap(caller(access, token), (who) =>
            who.role === "researcher"
              ? Effect.succeed(who.name)
              : Effect.fail(new Api.Forbidden({ message: "only researchers submit, commit and reveal: the operator's token cannot" })))
      })
    ),
    Layer.succeed(
      Api.OperatorOnly,
      Api.OperatorOnly.of({
        bearer: (token) =>
          Effect.flatMap(caller(access, token), (who) =>
            who.role === "operator"
              ? Effect.succeed(true as const)
              : Effect.fail(new Api.Forbidden({ message: "only the operator may do this" })))
      })
    )
  )

/** One server-sent event: its name and its data, a JSON line. */
const frame = (event: typeof Api.PublicEvent.Type): string =>
  `event: ${event.type}\ndata: ${stringify(Api.encodePublicEvent(event))}\n\n`

/** The handlers of every endpoint, over the market. */
const handlers = (options: AppOptions) =>
  HttpApiBuilder.group(Api.MarketApi, "market", (handle) =>
    Effect.gen(function*() {
      const market = yield* ContinuousMarket
      const lifecycle = yield* Lifecycle
      const info = Api.marketInfo(market.rules)
      const document = OpenApi.fromApi(Api.MarketApi)
      const keepAlive = Duration.decode(options.keepAlive ?? Duration.seconds(15))
      return handle
        .handle("commit", ({ payload }) =>
          Effect.flatMap(Api.Researcher, (who) => market.commit(who, payload.commitment)).pipe(
            Effect.catchTags({ BadInput: fail.BadInput, StoreFailed: fail.StoreFailed })
          ))
        .handle("reveal", ({ payload }) =>
          Effect.flatMap(Api.Researcher, (who) => market.reveal(who, payload.commitId, payload.recipe, payload.salt)).pipe(
            Effect.map(({ status, submissionId }) => ({ submissionId, status })),
            Effect.catchTags({
              RecipeInvalid: fail.RecipeInvalid,
              SubmissionRefused: fail.SubmissionRefused,
              RevealMismatch: fail.RevealMismatch,
              DuplicateSubmission: fail.DuplicateSubmission,
              NotFound: fail.NotFound,
              StoreFailed: fail.StoreFailed
            })
          ))
        .handle("submit", ({ payload }) =>
          Effect.flatMap(Api.Researcher, (who) => market.accept(who, payload.recipe)).pipe(
            Effect.map(({ status, submissionId }) => ({ submissionId, status })),
            Effect.catchTags({
              RecipeInvalid: fail.RecipeInvalid,
              SubmissionRefused: fail.SubmissionRefused,
              CommitRevealRequired: fail.CommitRevealRequired,
              StoreFailed: fail.StoreFailed
            })
          ))
        .handle("submission", ({ path }) =>
          Effect.flatMap(Api.Caller, (viewer) => market.view(path.id, viewer)).pipe(
            Effect.catchTags({ NotFound: fail.NotFound, StoreFailed: fail.StoreFailed })
          ))
        .handle("submissions", () =>
          Effect.flatMap(Api.Caller, (viewer) => market.list(viewer)).pipe(
            Effect.map((submissions) => ({ submissions })),
            Effect.catchTags({ StoreFailed: fail.StoreFailed })
          ))
        .handle("leaderboard", () => Effect.catchTags(market.leaderboard, { StoreFailed: fail.StoreFailed }))
        .handle("events", () =>
          Effect.succeed(
            HttpServerResponse.stream(
              // subscribed before the first byte: a client that has read the opening comment misses nothing after it
              Stream.unwrapScoped(Effect.map(market.subscribe, (events) =>
                Stream.concat(
                  Stream.make(": trainmarket events\n\n"),
                  Stream.merge(
                    Stream.map(events, frame),
                    Stream.map(Stream.tick(keepAlive), () => ": keep-alive\n\n").pipe(Stream.drop(1))
                  )
                ))).pipe(Stream.interruptWhen(lifecycle.stopped), Stream.encodeText),
              {
                contentType: "text/event-stream",
                headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
              }
            )
          ))
        .handle("audit", () =>
          Effect.map(market.audit, ({ events, payouts, recomputeAgrees }) => ({ events, recomputeAgrees, payouts })).pipe(
            Effect.catchTags({ StoreFailed: fail.StoreFailed })
          ))
        .handle("market", () => Effect.succeed(info))
        .handle("me", () =>
          Effect.map(Api.Caller, (who) =>
            who.role === "operator"
              ? { role: "operator" as const, name: null }
              : { role: "researcher" as const, name: who.name }))
        .handle("openapi", () => Effect.succeed(document))
    }))

/** The first schema issue of a decode failure, as one line naming where. */
const decodeProblem = (error: HttpApiDecodeError): string => {
  const issue = error.issues[0]
  if (issue === undefined) return "the request does not match the expected shape"
  const path = issue.path.map(String)
  const at = path.length === 0 ? "" : `at ${path.join(".")}: `
  if (issue._tag === "Unexpected") return `request body: ${at}unknown field "${path.at(-1) ?? ""}"`
  if (issue._tag === "Missing") return `request body: ${at}is missing`
  return `request body: ${at}${oneLine(issue.message)}`
}

const tooLarge = () => new Api.PayloadTooLarge({ message: `request bodies are limited to ${Api.MAX_BODY_BYTES} bytes` })

/**
 * What failed before (or around) a handler, as the API's error: unknown routes are 404,
 * bodies that cannot be read or parsed 400 (413 past the limit), schema mismatches 400,
 * defects 500. The API's own errors pass through unchanged, as does an interruption.
 */
const asApiError = (cause: Cause.Cause<unknown>): Option.Option<Api.GuardError> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (error instanceof HttpApiDecodeError) return Option.some(new Api.BadInput({ message: decodeProblem(error) }))
    if (error instanceof HttpServerError.RouteNotFound) {
      return Option.some(
        new Api.NotFound({ message: `no such endpoint: ${error.request.method} ${error.request.url.split("?")[0] ?? ""}` })
      )
    }
    if (error instanceof HttpServerError.RequestError) return Option.some(requestProblem(error))
    return Option.none()
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const error = defect.value
    if (error instanceof HttpServerError.RequestError) return Option.some(requestProblem(error))
    return Option.some(new Api.Defect({ message: error instanceof Error ? error.message : String(error) }))
  }
  return Option.none()
}

/** A request body that could not be read: too large, or not JSON. */
const requestProblem = (error: HttpServerError.RequestError): Api.BadInput | Api.PayloadTooLarge => {
  const inner = error.cause instanceof Error ? error.cause.message : String(error.cause)
  if (inner.includes("maxBytes exceeded")) return tooLarge()
  return new Api.BadInput({ message: `request body: not valid JSON (${oneLine(inner)})` })
}

/**
 * How much of a body is read at most to answer 413 politely: a body past 64 KiB but
 * within this is read to its end (the connection stays usable and the client sees the
 * answer); one past it is cut off.
 */
const READ_LIMIT = 1024 * 1024

/**
 * Read the request body (once: the platform caches it for the route) and refuse one
 * over 64 KiB. A declared length over the limit is refused without reading.
 */
const limitBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const declared = Number(request.headers["content-length"] ?? "0")
  if (declared > Api.MAX_BODY_BYTES) return yield* tooLarge()
  if (!HttpMethod.hasBody(request.method)) return
  const text = yield* request.text.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(READ_LIMIT)),
    Effect.mapError(requestProblem)
  )
  if (Buffer.byteLength(text, "utf8") > Api.MAX_BODY_BYTES) return yield* tooLarge()
})

/**
 * Every body of this API is JSON (SPEC §16), whatever the request's Content-Type says:
 * `fetch(url, { method: "POST", body: JSON.stringify(x) })` sends `text/plain`, and a
 * form-encoded or missing type is read as JSON too rather than decoded as something the
 * API never takes. The request is replaced before its body is read, so it is read once.
 */
const bodyAsJson = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest =>
  HttpMethod.hasBody(request.method) && !(request.headers["content-type"] ?? "").toLowerCase().includes("application/json")
    ? request.modify({ headers: Headers.set(request.headers, "content-type", "application/json") })
    : request

/** The guard in front of every route: 503 while stopping, 413 past the limit, every failure as the API's error. */
const guard = HttpApiBuilder.middleware(
  Api.MarketApi,
  Effect.map(Lifecycle, (lifecycle) => (app) =>
    Effect.gen(function*() {
      if (yield* lifecycle.stopping) {
        return yield* new Api.ServiceUnavailable({ message: "the market is stopping: try again once it is back" })
      }
      const request = bodyAsJson(yield* HttpServerRequest.HttpServerRequest)
      return yield* Effect.zipRight(limitBody, app).pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, request)
      )
    }).pipe(
      Effect.catchAllCause((cause) =>
        Option.match(asApiError(cause), {
          onNone: () => Effect.failCause(cause),
          onSome: (error) =>
            (error._tag === "Defect" ? Effect.logError("request failed with a defect", cause) : Effect.void).pipe(
              Effect.zipRight(Effect.fail(error))
            )
        })
      )
    ))
)

/** The last net: anything the API could not encode is still answered in the error form, as a 500. */
const answerAnything = (app: HttpApp.Default): HttpApp.Default =>
  Effect.catchAllCause(app, (cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.failCause(cause).pipe(Effect.orDie)
      : Effect.zipRight(
        Effect.logError("request failed", cause),
        HttpServerResponse.json(
          { error: { _tag: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "internal error" } },
          { status: 500 }
        ).pipe(Effect.orDie)
      ))

/**
 * The API over the market and the lifecycle, ready to be served: handlers, bearer
 * checks and the guard.
 */
export const app = (options: AppOptions) =>
  HttpApiBuilder.api(Api.MarketApi).pipe(
    Layer.provide(handlers(options)),
    Layer.provide(authentication(options.access)),
    Layer.provide(guard)
  )

/** Where to listen. */
export interface ListenOptions {
  readonly host: string
  /** 0: any free port (the bound one is in `HttpServer.address`). */
  readonly port: number
}

/** The API served on whatever `HttpServer` is provided (tests: `NodeHttpServer.layerTest`). */
export const serve = (options: AppOptions) =>
  HttpApiBuilder.serve(answerAnything).pipe(Layer.provide(app(options)), Layer.provide(Web.layer))

/**
 * Node's HTTP server listening at `host:port`. When it closes (after the market has
 * drained) every connection still open is closed with it: the streams have ended and
 * every request since the stop was answered 503, so nothing waits for idle keep-alive
 * connections to time out.
 */
export const listen = (options: ListenOptions) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = createServer()
    const closeConnections = Layer.scopedDiscard(
      Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    )
    return Layer.provideMerge(closeConnections, NodeHttpServer.layer(() => server, { host: options.host, port: options.port }))
  }))

/** The API served on Node's HTTP server at `host:port` (needs the market and the lifecycle). */
export const layer = (options: AppOptions & ListenOptions) => serve(options).pipe(Layer.provideMerge(listen(options)))

/** The URL a server listens on. */
export const urlOf = (address: HttpServer.Address): string =>
  address._tag === "UnixAddress"
    ? `unix:${address.path}`
    : `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
