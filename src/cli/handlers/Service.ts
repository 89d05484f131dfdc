/**
 * What the live market service's commands do (loaded when they run; SPEC §16):
 * `market serve` opens the market on its journal and serves the HTTP API until stopped
 * (SIGTERM: 503, drain within the grace, exit 0; SIGINT: the same stop, exit 130; a
 * second signal stops at once); `market submit`/`status` talk to a running market over
 * its API; `market audit` folds a journal offline and recomputes every payout; `market
 * token` makes a bearer token.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import { bytesToHex, randomBytes } from "@noble/hashes/utils.js"
import { Context, Duration, Effect, Layer, Logger, Option, Schema, Stream } from "effect"
import { BadInput, StoreFailed } from "../../domain/Errors.js"
import * as Layers from "../../Layers.js"
import * as Continuous from "../../market/ContinuousMarket.js"
import * as Journal from "../../market/Journal.js"
import type * as Api from "../../service/ServiceApi.js"
import * as Client from "../../service/ServiceClient.js"
import * as Server from "../../service/ServiceServer.js"
import * as ServedMarket from "../../service/ServedMarket.js"
import { MarketStore } from "../../store/MarketStore.js"
import * as Output from "../Output.js"
import type { AuditOptions, ServeOptions, StatusOptions, SubmitOptions, TokenOptions } from "../Service.js"
import { Reported } from "../Shared.js"
import { grouped } from "../../domain/Text.js"
import { readRecipe } from "./Input.js"

/** The listener could not be opened (the port is taken, the host is not this machine's). */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------
// market serve
// ---------------------------------------------------------------------------------

/** A public event as one log line. */
const eventLine = (event: Continuous.PublicEvent): string =>
  event.type === "record"
    ? `trainmarket: record by ${event.researcher}: ${event.micros} micros, paid ${event.wei} wei (spent ${event.spentWei})`
    : `trainmarket: epoch ${event.epoch} closed: ${event.researcher ?? "nobody"} credited ${event.wei} wei (spent ${event.spentWei})`

/** What serving needs: the market on its store, cluster and referee, and the API on a listener. */
const serving = (file: ServedMarket.ServedMarketFile, options: ServeOptions, lifecycle: Server.Lifecycle["Type"]) => {
  const market = Continuous.layer(ServedMarket.toConfig(file)).pipe(
    Layer.provide(Layer.merge(Layers.forFile(file), Layers.store(options.store))),
    Layer.provide(Layers.operatorKey(options.keyFile))
  )
  const http = Server.layer({
    access: file.access,
    host: options.host,
    port: options.port
  }).pipe(
    Layer.provide(Layer.succeed(Server.Lifecycle, lifecycle)),
    Layer.catchAll((error) =>
      Layer.fail(
        error._tag === "ServeError"
          ? new ListenFailed({
            address: `${options.host}:${options.port}`,
            reason: error.cause instanceof Error ? error.cause.message : String(error.cause)
          })
          : error
      )
    )
  )
  return Layer.provideMerge(http, market)
}

/**
 * Which signal stopped the service decides its exit code: a SIGTERM stop is a clean end
 * (0). The binary's run loop interrupts on SIGTERM and SIGINT alike; this only records
 * which one came, once (a second signal finds Node's default and ends the process).
 */
const exitZeroOnSigterm = Effect.acquireRelease(
  Effect.sync(() => {
    const onTerm = () => {
      process.exitCode = 0
    }
    process.once("SIGTERM", onTerm)
    return onTerm
  }),
  (onTerm) => Effect.sync(() => void process.off("SIGTERM", onTerm))
)

/** `market serve`: run the market until stopped. */
export const serve = (options: ServeOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const path = options.file
    const file = yield* ServedMarket.load(path)
    const lifecycle = yield* Server.makeLifecycle
    const context = yield* Layer.build(serving(file, options, lifecycle))
    const market = Context.get(context, Continuous.ContinuousMarket)
    const address = Context.get(context, HttpServer.HttpServer).address
    const url = Server.urlOf(address)
    yield* exitZeroOnSigterm
    // runs first when the service is stopped (by a signal): 503s, drain, then the listener and the market close
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Output.problem(`trainmarket: stopping: answering 503; running jobs have ${options.grace} s to finish`)
        yield* lifecycle.stop
        yield* market.drain(Duration.seconds(options.grace))
        yield* Output.problem("trainmarket: stopped")
      })
    )
    const events = yield* market.subscribe
    yield* Effect.forkScoped(Stream.runForEach(events, (event) => Output.problem(eventLine(event))))
    const store = Layers.storeName(options.store)
    yield* options.json
      ? Output.json({ url, store, host: options.host, port: address._tag === "TcpAddress" ? address.port : null })
      : Output.problem(`trainmarket: serving the market of ${path} on ${url} (store ${store}); stop with SIGTERM`)
    return yield* Effect.never
  })).pipe(
    // the service logs on stderr: stdout holds at most the one JSON document
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)))
  )

// ---------------------------------------------------------------------------------
// clients
// ---------------------------------------------------------------------------------

/** Run a client call against `url`: the transport's failures as typed errors naming it. */
const calling = <A, E, R>(address: string, self: Effect.Effect<A, E, R>) =>
  self.pipe(Client.transport(address), Effect.provide(FetchHttpClient.layer))

/** `market submit`: submit a recipe (committing and revealing when the market asks for it). */
export const submit = (options: SubmitOptions) =>
  Effect.gen(function*() {
    const valid = yield* readRecipe(options.recipe)
    const submitted = yield* calling(
      options.url,
      Effect.flatMap(Client.make(options.url, options.token), (client) => Client.submit(client, valid))
    )
    yield* options.json
      ? Output.json(submitted)
      : Output.line(`submitted ${submitted.submissionId}: ${submitted.status}`)
  })

const money = (x: bigint | null): string => (x === null ? "-" : grouped(x))

const submissionLine = (s: Api.Submission): string =>
  `${s.submissionId}  #${s.index}  ${s.researcher}  ${s.status}` +
  (s.status === "settled"
    ? `  ${s.becameRecord === true ? "record" : "no record"}  lift ${s.liftMicros === null ? "-" : `${s.liftMicros} micros`}` +
      `  paid ${money(s.paidWei)} wei`
    : "") +
  (s.error === null ? "" : `  ${s.error._tag}: ${s.error.message}`)

const leaderboardLines = (board: typeof Api.LeaderboardView.Type): ReadonlyArray<string> => [
  `best ${board.bestMicros} micros${board.holder === null ? " (nobody has beaten the baseline)" : ` held by ${board.holder}`}; ` +
  `spent ${money(board.spentWei)} wei${board.poolLeftWei === null ? "" : `, ${money(board.poolLeftWei)} left`}; ` +
  `${board.submissions} submissions`,
  ...board.records.map((record) =>
    `  ${new Date(record.at).toISOString()}  ${record.researcher}  ${record.micros} micros  paid ${money(record.wei)} wei`
  )
]

/**
 * `market status`: the leaderboard (SPEC §14); with `--submission` that submission, and
 * with `--mine` the caller's submissions, as the service answers them. Without a token
 * those two are asked anyway: the service's own answer (401 `Unauthorized`) is what the
 * caller sees.
 */
export const status = (options: StatusOptions) =>
  calling(
    options.url,
    Effect.gen(function*() {
      const client = yield* Client.make(options.url, Option.getOrUndefined(options.token))
      if (Option.isSome(options.submission)) {
        if (options.mine) return yield* new BadInput({ source: "--mine", reason: "cannot be given with --submission" })
        const one = yield* client.submission({ path: { id: options.submission.value } })
        return yield* options.json ? Output.json(one) : Output.line(submissionLine(one))
      }
      if (options.mine) {
        const all = yield* client.submissions()
        return yield* options.json
          ? Output.json(all)
          : Output.lines(all.submissions.length === 0 ? ["no submissions"] : all.submissions.map(submissionLine))
      }
      const board = yield* client.leaderboard()
      return yield* options.json ? Output.json(board) : Output.lines(leaderboardLines(board))
    })
  )

// ---------------------------------------------------------------------------------
// market audit, market token
// ---------------------------------------------------------------------------------

/** `market audit`: fold a journal offline, recompute, print the verdict (exit 1 when it disagrees). */
export const audit = (options: AuditOptions) =>
  Effect.gen(function*() {
    const journal = yield* MarketStore
    const state = Journal.fold(yield* journal.read(0))
    if (state.rules === undefined) {
      return yield* new StoreFailed({ store: journal.name, reason: "it holds no market (no opened event)" })
    }
    const audit = Journal.audit(state)
    const document = { events: audit.events, recomputeAgrees: audit.recomputeAgrees, payouts: audit.payouts }
    if (options.json) yield* Output.json(document)
    else {
      yield* Output.lines([
        `${audit.events} events; recomputed payouts ${audit.recomputeAgrees ? "agree" : "DISAGREE"} with the journal; ` +
        `spent ${money(audit.spentWei)} wei`,
        ...(audit.payouts.length === 0 ? ["no payouts"] : audit.payouts.map((p) => `  ${p.researcher}  ${money(p.wei)} wei`))
      ])
    }
    if (!audit.recomputeAgrees) {
      yield* Effect.forEach(audit.discrepancies, (line) => Output.problem(`trainmarket: journal: ${line}`), { discard: true })
      return yield* new Reported({ exitCode: 1 })
    }
  }).pipe(Effect.provide(Layers.store(options.store, { mustExist: true })))

/** `market token`: a new bearer token and its sha256. */
export const token = (options: TokenOptions) =>
  Effect.gen(function*() {
    const fresh = bytesToHex(randomBytes(32))
    const digest = ServedMarket.tokenSha256(fresh)
    yield* options.json
      ? Output.json({ token: fresh, tokenSha256: digest })
      : Output.lines([`token        ${fresh}`, `tokenSha256  ${digest}   (this goes in the market file's access block)`])
  })
