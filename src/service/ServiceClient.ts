/**
 * A typed client of the live market (SPEC §16), derived from `MarketApi` with
 * `HttpApiClient` over any `HttpClient` (the CLI uses Node's fetch: no extra
 * dependency). Errors the service answers arrive as the API's own error classes (same
 * `_tag` and message as on the wire); a service that cannot be reached, or that answers
 * something the API does not describe, is a typed `ServiceUnreachable` or
 * `UnexpectedResponse` naming the URL.
 *
 * `submit` does what `market submit` does: a direct submission, or on a commit-reveal
 * market a commitment (random salt, SPEC §15.7) followed by its reveal.
 */
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { bytesToHex, randomBytes } from "@noble/hashes/utils.js"
import { Effect, type ParseResult, Schema } from "effect"
import type { Recipe } from "../domain/Recipe.js"
import { commitment } from "../market/ContinuousMarket.js"
import * as Api from "./ServiceApi.js"

/** The service could not be reached (refused, reset, a name that does not resolve, a bad URL). */
export class ServiceUnreachable extends Schema.TaggedError<ServiceUnreachable>()("ServiceUnreachable", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot reach the market at ${this.url}: ${this.reason}`
  }
}

/** The service answered something the API does not describe (another server on that port, a proxy's error page). */
export class UnexpectedResponse extends Schema.TaggedError<UnexpectedResponse>()("UnexpectedResponse", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the market at ${this.url} answered unexpectedly: ${this.reason}`
  }
}

/** What talking to the service can fail with besides the API's own errors. */
export type TransportError = ServiceUnreachable | UnexpectedResponse


/**
 * Map what the transport can fail with to typed errors naming `url`: the API's own
 * errors pass through.
 */
export const transport = (url: string) =>
<A, E, R>(
  self: Effect.Effect<A, E | HttpClientError.HttpClientError | ParseResult.ParseError, R>
): Effect.Effect<A, Exclude<E, HttpClientError.HttpClientError | ParseResult.ParseError> | TransportError, R> =>
  Effect.catchIf(
    self,
    (error): error is HttpClientError.HttpClientError | ParseResult.ParseError =>
      typeof error === "object" && error !== null && "_tag" in error &&
      (error._tag === "RequestError" || error._tag === "ResponseError" || error._tag === "ParseError"),
    (error) => Effect.fail(describe(url, error))
  )

const describe = (url: string, error: HttpClientError.HttpClientError | ParseResult.ParseError): TransportError => {
  if (error._tag === "ParseError") return new UnexpectedResponse({ url, reason: `a body the API does not describe (${error.message.split("\n")[0]})` })
  if (error._tag === "RequestError") {
    const cause = error.cause instanceof Error ? causeText(error.cause) : error.message
    return new ServiceUnreachable({ url, reason: cause })
  }
  return new UnexpectedResponse({ url, reason: `HTTP ${error.response.status} on ${error.request.method} ${error.request.url}` })
}

/** The innermost reason of a fetch failure (`fetch failed` hides `connect ECONNREFUSED …`). */
const causeText = (error: Error): string => {
  const inner: unknown = error.cause
  return inner instanceof Error ? causeText(inner) : error.message
}

/** A client of the market at `url`, with `token` as the bearer token when given. */
export const make = (url: string, token?: string) =>
  HttpApiClient.make(Api.MarketApi, {
    baseUrl: url.replace(/\/+$/, ""),
    transformClient: token === undefined ? undefined : HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  })

/** The client of `MarketApi`, typed from the API. */
export type Client = Effect.Effect.Success<ReturnType<typeof make>>

/** What `submit` returns: the submission's id and status. */
export interface Submitted {
  readonly submissionId: string
  readonly status: "queued"
}

/** A fresh random salt for a commitment (16 bytes, hex). */
export const newSalt = (): string => bytesToHex(randomBytes(16))

/**
 * Submit a recipe the way the market asks: directly, or (commit-reveal) commit to
 * sha256(canonical recipe + salt + the caller's name) and then reveal recipe and salt.
 */
export const submit = (client: Client, recipe: Recipe) =>
  Effect.gen(function*() {
    const market = yield* client.market()
    if (!market.commitReveal) {
      const accepted = yield* client.submit({ payload: { recipe } })
      return { submissionId: accepted.submissionId, status: accepted.status }
    }
    const me = yield* client.me()
    const salt = newSalt()
    const committed = yield* client.commit({ payload: { commitment: commitment(recipe, salt, me.name ?? "") } })
    const accepted = yield* client.reveal({ payload: { commitId: committed.commitId, recipe, salt } })
    return { submissionId: accepted.submissionId, status: accepted.status }
  })
