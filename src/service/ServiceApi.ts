/**
 * The live market's HTTP API (SPEC §16), described once: the server
 * (`Server.ts`) implements it, `GET /openapi.json` is generated from it, and the
 * clients (`Client.ts`, `market submit` / `market status`) are derived from it, so the
 * three cannot drift apart. Seeds, wei and micros travel as decimal strings.
 *
 * Every error, whatever raised it (a handler, the bearer check, a body too large, a
 * route that does not exist, a server that is stopping), has the body
 * `{"error":{"_tag","message"}}`; each `_tag` below is a schema-tagged class annotated
 * with its HTTP status, and its wire form wraps it in `error`.
 *
 * Beyond the table of §16 there are `GET /v1/market`, the public rules a client needs
 * before it submits (is commit-reveal on, the budget, the feedback rule, …), and
 * `GET /v1/me`, who a token belongs to (a commitment hashes the researcher's name).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Context, Schema } from "effect"
import { Gate } from "../domain/Measurement.js"
import { Micros, U32_MAX, Wei } from "../domain/Money.js"
import { Recipe } from "../domain/Recipe.js"
import type * as Continuous from "../market/ContinuousMarket.js"
import * as Journal from "../market/Journal.js"
import * as Leaderboard from "../market/Leaderboard.js"
import * as Objective from "../market/Objective.js"
import { RecordTest } from "../market/RecordTest.js"
import * as Rules from "../market/Rules.js"

/** The largest request body the service reads (SPEC §16): 64 KiB. */
export const MAX_BODY_BYTES = 64 * 1024

// ---------------------------------------------------------------------------------
// Errors: `{"error":{"_tag","message"}}` with the status each class is annotated with
// ---------------------------------------------------------------------------------

const status = <A>(code: number) => HttpApiSchema.annotations<A>({ status: code })

/** An API error class: a tag, a message, and the HTTP status it is answered with. */
const ApiErrorClass = <Self>() => <Tag extends string>(tag: Tag, code: number) =>
  Schema.TaggedError<Self>()(tag, { message: Schema.String }, status(code))

/** 400: a body that is not JSON, does not match its schema (unknown fields included), or a bad value. */
export class BadInput extends ApiErrorClass<BadInput>()("BadInput", 400) {}
/** 400: a recipe that breaks a rule of SPEC §2 (names the field). */
export class RecipeInvalid extends ApiErrorClass<RecipeInvalid>()("RecipeInvalid", 400) {}
/** 401: no bearer token, or one the market does not know. */
export class Unauthorized extends ApiErrorClass<Unauthorized>()("Unauthorized", 401) {}
/** 403: a known token whose role may not do this (a researcher auditing, the operator submitting). */
export class Forbidden extends ApiErrorClass<Forbidden>()("Forbidden", 403) {}
/** 404: no such route, submission or commitment, or one that is not the caller's to see (no existence leak). */
export class NotFound extends ApiErrorClass<NotFound>()("NotFound", 404) {}
/** 409: a reveal that does not hash to its commitment, or a commitment past its reveal window. */
export class RevealMismatch extends ApiErrorClass<RevealMismatch>()("RevealMismatch", 409) {}
/** 409: a revealed recipe someone committed earlier, or a commitment revealed twice. */
export class DuplicateSubmission extends ApiErrorClass<DuplicateSubmission>()("DuplicateSubmission", 409) {}
/**
 * 409: `POST /v1/submissions` on a market that takes submissions only by commit and
 * reveal. Not 400 (the request is well formed), not 403 (that means the wrong role):
 * the request conflicts with the market's rules, and the client resolves it by
 * committing and revealing instead (`GET /v1/market` says which way a market takes them).
 */
export class CommitRevealRequired extends ApiErrorClass<CommitRevealRequired>()("CommitRevealRequired", 409) {}
/** 413: a request body over 64 KiB. */
export class PayloadTooLarge extends ApiErrorClass<PayloadTooLarge>()("PayloadTooLarge", 413) {}
/** 429: over the researcher's submission budget (SPEC §15.5); nothing was trained or journaled. */
export class SubmissionRefused extends ApiErrorClass<SubmissionRefused>()("SubmissionRefused", 429) {}
/** 500: the journal could not be read or written; nothing was answered as done. */
export class StoreFailed extends ApiErrorClass<StoreFailed>()("StoreFailed", 500) {}
/** 500: a bug (a defect), reported rather than hidden. */
export class Defect extends ApiErrorClass<Defect>()("Defect", 500) {}
/** 503: the service is stopping (SIGTERM): it takes no more requests while running jobs drain. */
export class ServiceUnavailable extends ApiErrorClass<ServiceUnavailable>()("ServiceUnavailable", 503) {}

/** What the guard in front of every route answers with (declared on every endpoint). */
export type GuardError = BadInput | NotFound | PayloadTooLarge | Defect | ServiceUnavailable

/** Any error the API answers with. */
export type ApiError =
  | BadInput
  | RecipeInvalid
  | Unauthorized
  | Forbidden
  | NotFound
  | RevealMismatch
  | DuplicateSubmission
  | CommitRevealRequired
  | PayloadTooLarge
  | SubmissionRefused
  | StoreFailed
  | Defect
  | ServiceUnavailable

/**
 * The wire form of an error class: `{"error":{"_tag","message"}}` on the outside, the
 * class on the inside, with the class's status.
 */
const wire = <Tag extends string, A>(
  tag: Tag,
  self: Schema.Schema<A, { readonly _tag: Tag; readonly message: string }>
) =>
  Schema.transform(
    Schema.Struct({ error: Schema.Struct({ _tag: Schema.Literal(tag), message: Schema.String }) }),
    self,
    { strict: true, decode: (body) => body.error, encode: (error) => ({ error }) }
  ).annotations({
    ...status(HttpApiSchema.getStatusError(self)),
    identifier: `${tag}Error`,
    description: "an error: {\"error\":{\"_tag\",\"message\"}}"
  })

/** Each error's wire schema (what `addError` takes). */
export const Errors = {
  BadInput: wire("BadInput", BadInput),
  RecipeInvalid: wire("RecipeInvalid", RecipeInvalid),
  Unauthorized: wire("Unauthorized", Unauthorized),
  Forbidden: wire("Forbidden", Forbidden),
  NotFound: wire("NotFound", NotFound),
  RevealMismatch: wire("RevealMismatch", RevealMismatch),
  DuplicateSubmission: wire("DuplicateSubmission", DuplicateSubmission),
  CommitRevealRequired: wire("CommitRevealRequired", CommitRevealRequired),
  PayloadTooLarge: wire("PayloadTooLarge", PayloadTooLarge),
  SubmissionRefused: wire("SubmissionRefused", SubmissionRefused),
  StoreFailed: wire("StoreFailed", StoreFailed),
  Defect: wire("Defect", Defect),
  ServiceUnavailable: wire("ServiceUnavailable", ServiceUnavailable)
}

/** The body of any error response, whatever its tag (for clients that read raw responses). */
export const ErrorBody = Schema.Struct({ error: Schema.Struct({ _tag: Schema.String, message: Schema.String }) })

// ---------------------------------------------------------------------------------
// Who is calling
// ---------------------------------------------------------------------------------

/** The authenticated caller of a request: the operator, or a researcher by name. */
export class Caller extends Context.Tag("trainmarket/service/Caller")<Caller, Continuous.Viewer>() {}

/** A researcher's name, for endpoints only researchers may call. */
export class Researcher extends Context.Tag("trainmarket/service/Researcher")<Researcher, string>() {}

/** The operator, for endpoints only the operator may call. */
export class Operator extends Context.Tag("trainmarket/service/Operator")<Operator, true>() {}

const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "a token whose sha256 is in the market file's `access` block")
)

/** A bearer token of anyone the market knows (401 otherwise); provides the caller. */
export class AnyCaller extends HttpApiMiddleware.Tag<AnyCaller>()("trainmarket/service/AnyCaller", {
  failure: Errors.Unauthorized,
  provides: Caller,
  security: { bearer }
}) {}

/** A researcher's bearer token (401 unknown, 403 the operator's); provides the researcher's name. */
export class ResearcherOnly extends HttpApiMiddleware.Tag<ResearcherOnly>()("trainmarket/service/ResearcherOnly", {
  failure: Schema.Union(Errors.Unauthorized, Errors.Forbidden),
  provides: Researcher,
  security: { bearer }
}) {}

/** The operator's bearer token (401 unknown, 403 a researcher's). */
export class OperatorOnly extends HttpApiMiddleware.Tag<OperatorOnly>()("trainmarket/service/OperatorOnly", {
  failure: Schema.Union(Errors.Unauthorized, Errors.Forbidden),
  provides: Operator,
  security: { bearer }
}) {}

// ---------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------

/** A request body: unknown fields are refused by name (a typo must not silently change a request). */
const strict = <Fields extends Schema.Struct.Fields>(identifier: string, fields: Fields) =>
  Schema.Struct(fields).annotations({ identifier, parseOptions: { onExcessProperty: "error" } })

/**
 * A recipe as a request carries it: any JSON, checked by the market itself so a bad
 * knob is a `RecipeInvalid` naming the field (SPEC §2); documented as a recipe.
 */
const RecipeInput = Schema.Unknown.pipe(Schema.filter((x) => x !== undefined, { message: () => "is missing" })).annotations({
  identifier: "RecipeInput",
  jsonSchema: {
    type: "object",
    description: "a training recipe (SPEC §2); a field that breaks its rule is RecipeInvalid naming it",
    required: ["islands", "innerSteps", "innerLr", "outerLr", "keepFraction"],
    additionalProperties: false,
    properties: {
      islands: { type: "integer", minimum: 1, maximum: U32_MAX },
      innerSteps: { type: "integer", minimum: 1, maximum: U32_MAX },
      innerLr: { type: "number", exclusiveMinimum: 0 },
      outerLr: { type: "number", exclusiveMinimum: 0 },
      keepFraction: { type: "number", exclusiveMinimum: 0, maximum: 1 }
    }
  }
})

/** `POST /v1/commits`. */
export const CommitRequest = strict("CommitRequest", {
  commitment: Schema.String.annotations({
    description: "sha256hex(canonical recipe JSON + \"\\n\" + salt + \"\\n\" + researcher), 64 lower-case hex digits"
  })
})

/** A commitment's receipt. */
export const Committed = Schema.Struct({
  commitId: Schema.String,
  committedAt: Schema.Number.annotations({ description: "the market's clock, in milliseconds since the epoch" })
}).annotations({ identifier: "Committed" })

/** `POST /v1/reveals`. */
export const RevealRequest = strict("RevealRequest", { commitId: Schema.String, recipe: RecipeInput, salt: Schema.String })

/** `POST /v1/submissions`. */
export const SubmitRequest = strict("SubmitRequest", { recipe: RecipeInput })

/** An accepted submission: queued for training. */
export const Accepted = Schema.Struct({ submissionId: Schema.String, status: Schema.Literal("queued") }).annotations({
  identifier: "Accepted"
})

/** Where a submission is. */
export const Status = Schema.Literal("queued", "training", "settled", "failed")

/** One submission as its researcher (within the feedback rule) or the operator sees it. */
export const Submission = Schema.Struct({
  submissionId: Schema.String,
  researcher: Schema.String,
  recipe: Recipe,
  index: Schema.Number.annotations({ description: "submission order: its place in settlement" }),
  status: Status,
  becameRecord: Schema.NullOr(Schema.Boolean),
  paidWei: Schema.NullOr(Wei),
  heldOutValue: Schema.NullOr(Schema.Number),
  liftMicros: Schema.NullOr(Micros),
  error: Schema.NullOr(Journal.Failure),
  bestMicros: Schema.optional(Micros).annotations({
    description: "under Ladder feedback, on a submission that is not a record: the public best, all it reveals"
  })
}).annotations({ identifier: "Submission" })
export type Submission = typeof Submission.Type

/** `GET /v1/submissions`: newest first. */
export const Submissions = Schema.Struct({ submissions: Schema.Array(Submission) }).annotations({ identifier: "Submissions" })

/** The public leaderboard. */
export const LeaderboardView = Schema.Struct({
  bestMicros: Micros,
  holder: Schema.NullOr(Schema.String),
  spentWei: Wei,
  poolLeftWei: Schema.NullOr(Wei),
  submissions: Schema.Number,
  records: Schema.Array(Schema.Struct({ researcher: Schema.String, micros: Micros, wei: Wei, at: Schema.Number }))
}).annotations({ identifier: "Leaderboard" })

/** A payout. */
export const Payout = Schema.Struct({ researcher: Schema.String, wei: Wei })

/** The operator's audit: did every settlement and credit recompute to what the journal says? */
export const Audit = Schema.Struct({
  events: Schema.Number,
  recomputeAgrees: Schema.Boolean,
  payouts: Schema.Array(Payout)
}).annotations({ identifier: "Audit" })

/** The public rules of the market (`GET /v1/market`): what a client and a web page need. */
export const MarketInfo = Schema.Struct({
  schedule: Leaderboard.ContinuousSchedule,
  poolWei: Schema.NullOr(Wei),
  gate: Gate,
  objective: Objective.Objective,
  baselineRecipe: Recipe,
  commitReveal: Schema.Boolean,
  revealWindowSeconds: Schema.Number,
  feedback: Rules.Feedback,
  submissionBudget: Schema.NullOr(Rules.SubmissionBudget),
  recordTest: Schema.NullOr(RecordTest),
  epochSeconds: Schema.Number.annotations({ description: "the length of an epoch (time-at-top credits)" })
}).annotations({ identifier: "MarketInfo" })
export type MarketInfo = typeof MarketInfo.Type

/** `GET /v1/me`: who a token belongs to (a client needs its researcher's name for a commitment). */
export const Me = Schema.Struct({
  role: Schema.Literal("operator", "researcher"),
  name: Schema.NullOr(Schema.String)
}).annotations({ identifier: "Me" })

/** A public event on `GET /v1/events` (the `data:` of each server-sent event, named by `event:`). */
export const PublicEvent = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("record"),
    researcher: Schema.String,
    micros: Micros,
    wei: Wei,
    at: Schema.Number,
    spentWei: Wei
  }),
  Schema.Struct({
    type: Schema.Literal("epoch"),
    epoch: Schema.Number,
    researcher: Schema.NullOr(Schema.String),
    wei: Wei,
    at: Schema.Number,
    spentWei: Wei
  })
).annotations({ identifier: "PublicEvent" })

// ---------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------

const SubmissionId = Schema.Struct({ id: Schema.String })

/** The endpoints of SPEC §16 (and `GET /v1/market`). */
export class MarketGroup extends HttpApiGroup.make("market", { topLevel: true })
  .add(
    HttpApiEndpoint.post("commit", "/v1/commits")
      .setPayload(CommitRequest)
      .addSuccess(Committed, { status: 201 })
      .middleware(ResearcherOnly)
      .annotate(OpenApi.Description, "commit to a recipe without showing it (SPEC §15.7); researchers only")
  )
  .add(
    HttpApiEndpoint.post("reveal", "/v1/reveals")
      .setPayload(RevealRequest)
      .addSuccess(Accepted, { status: 202 })
      .addError(Errors.RecipeInvalid)
      .addError(Errors.RevealMismatch)
      .addError(Errors.DuplicateSubmission)
      .addError(Errors.SubmissionRefused)
      .middleware(ResearcherOnly)
      .annotate(OpenApi.Description, "reveal a committed recipe and salt; a match is queued for training")
  )
  .add(
    HttpApiEndpoint.post("submit", "/v1/submissions")
      .setPayload(SubmitRequest)
      .addSuccess(Accepted, { status: 202 })
      .addError(Errors.RecipeInvalid)
      .addError(Errors.CommitRevealRequired)
      .addError(Errors.SubmissionRefused)
      .middleware(ResearcherOnly)
      .annotate(OpenApi.Description, "submit a recipe for training (markets without commit-reveal); researchers only")
  )
  .add(
    HttpApiEndpoint.get("submission", "/v1/submissions/:id")
      .setPath(SubmissionId)
      .addSuccess(Submission)
      .middleware(AnyCaller)
      .annotate(OpenApi.Description, "one submission: its researcher's (as the feedback rule allows) or, for the operator, anyone's")
  )
  .add(
    HttpApiEndpoint.get("submissions", "/v1/submissions")
      .addSuccess(Submissions)
      .middleware(AnyCaller)
      .annotate(OpenApi.Description, "a researcher's own submissions, or (operator) all of them; newest first")
  )
  .add(
    HttpApiEndpoint.get("leaderboard", "/v1/leaderboard")
      .addSuccess(LeaderboardView)
      .annotate(OpenApi.Description, "the public leaderboard: best, holder, spent, pool left, records")
  )
  .add(
    HttpApiEndpoint.get("events", "/v1/events")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({ description: "server-sent events" }))
      .annotate(
        OpenApi.Description,
        "server-sent events: each public event (records, epoch credits) as `event: <type>` and `data: <PublicEvent JSON>`, " +
          "with a comment line as keep-alive; the stream ends when the service stops"
      )
  )
  .add(
    HttpApiEndpoint.get("audit", "/v1/audit")
      .addSuccess(Audit)
      .middleware(OperatorOnly)
      .annotate(OpenApi.Description, "recompute every payout from the journal; operator only")
  )
  .add(
    HttpApiEndpoint.get("market", "/v1/market")
      .addSuccess(MarketInfo)
      .annotate(OpenApi.Description, "the market's public rules (an addition to SPEC §16: what a client needs before submitting)")
  )
  .add(
    HttpApiEndpoint.get("me", "/v1/me")
      .addSuccess(Me)
      .middleware(AnyCaller)
      .annotate(
        OpenApi.Description,
        "who the bearer token belongs to (an addition to SPEC §16: a commitment hashes the researcher's name)"
      )
  )
  .add(
    HttpApiEndpoint.get("openapi", "/openapi.json")
      .addSuccess(Schema.Unknown)
      .annotate(OpenApi.Description, "this document")
  )
  // the journal could not be read or written
  .addError(Errors.StoreFailed)
{}

/** The live market's API. */
export class MarketApi extends HttpApi.make("trainmarket")
  .add(MarketGroup)
  // anything that can go wrong before (or around) a handler, on every endpoint
  .addError(Errors.NotFound)
  .addError(Errors.BadInput)
  .addError(Errors.PayloadTooLarge)
  .addError(Errors.ServiceUnavailable)
  .addError(Errors.Defect)
  .annotateContext(
  OpenApi.annotations({
    title: "trainmarket live market",
    version: "1",
    description: "A continuous market that pays researchers for certified improvements to distributed-training " +
      "recipes (SPEC §16). Errors are {\"error\":{\"_tag\",\"message\"}}; seeds, wei and micros are decimal strings.",
    // the platform's own decode error is never answered (it becomes BadInput): keep it out of the document
    transform: (spec) => withoutPlatformDecodeError(spec)
  })
) {}

const isPlatformDecodeError = (value: unknown): boolean =>
  typeof value === "object" && value !== null && "$ref" in value &&
  value.$ref === "#/components/schemas/HttpApiDecodeError"

const prune = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.filter((member) => !isPlatformDecodeError(member)).map(prune)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).filter(([key]) => key !== "HttpApiDecodeError").map(([key, member]) => [key, prune(member)])
  )
}

/** Drop the platform's `HttpApiDecodeError` from a generated document: the service answers `BadInput` instead. */
const withoutPlatformDecodeError = (spec: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(spec).map(([key, value]) => [key, prune(value)]))

/** Encode a public event as the market publishes it. */
export const encodePublicEvent = Schema.encodeSync(PublicEvent)

/** What the service's rules and a published market share: the public part of the rules. */
export const marketInfo = (rules: Rules.MarketRules): MarketInfo => ({
  schedule: rules.schedule,
  poolWei: rules.poolWei ?? null,
  gate: rules.gate,
  objective: rules.objective ?? Objective.valueObjective,
  baselineRecipe: rules.baseline.recipe,
  commitReveal: rules.commitReveal,
  revealWindowSeconds: rules.revealWindowSeconds,
  feedback: rules.feedback,
  submissionBudget: rules.submissionBudget ?? null,
  recordTest: rules.recordTest ?? null,
  epochSeconds: rules.epochSeconds ?? Rules.DEFAULT_EPOCH_SECONDS
})
