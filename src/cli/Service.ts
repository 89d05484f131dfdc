/**
 * The live market service from the command line (SPEC §16): `market serve`, the
 * clients `market submit` and `market status`, the offline `market audit`, and `market
 * token`. Options and help here; what each command does is in `handlers/Service.ts`,
 * loaded when it runs.
 */
import { Args, Command, Options } from "@effect/cli"
import * as StoreSpec from "../store/StoreSpec.js"
import { describe } from "./Help.js"
import { json, keyFile, lazily, recipe, reported } from "./Shared.js"


const store = Options.text("store").pipe(
  Options.withPseudoName("<file|postgres://…>"),
  Options.withDescription(
    "the market's journal: a SQLite file (created on first use) or a postgres:// URL shared by several serve processes"
  ),
  Options.withDefault(StoreSpec.DEFAULT_FILE)
)

const serveConfig = {
  file: Args.text({ name: "market.json" }).pipe(
    Args.withDescription("the served market file: a market file without submissions, with an access block")
  ),
  store,
  host: Options.text("host").pipe(Options.withDescription("the address to listen on"), Options.withDefault("127.0.0.1")),
  port: Options.integer("port").pipe(
    Options.withDescription("the port to listen on (0: any free port, printed at start)"),
    Options.withDefault(8080)
  ),
  keyFile,
  grace: Options.integer("grace").pipe(
    Options.withDescription("seconds running jobs get to finish after SIGTERM (unfinished ones are retrained at the next start)"),
    Options.withDefault(30)
  ),
  json
}

/** What the `serve` handler is given. */
export type ServeOptions = Command.Command.ParseConfig<typeof serveConfig>

/** `market serve`. */
export const serveCommand = Command.make(
  "serve",
  serveConfig,
  (options) => lazily(() => import("./handlers/Service.js"), (handler) => handler.serve(options))
).pipe(
  Command.withDescription(describe("run a live market over HTTP until stopped: journaled, crash-safe", {
    details: [
      "Researchers submit over the API (docs/service.md); every change is journaled before it is answered. SIGTERM " +
      "answers 503, lets running jobs finish within --grace and exits 0; a restart retrains what was not settled. " +
      "GET / is the market's web page."
    ],
    examples: [
      "trainmarket market serve examples/service-market.json",
      "trainmarket market serve examples/service-market.json --store postgres://market@127.0.0.1/market --port 8081",
      "trainmarket market serve examples/service-market.json --port 0 --json"
    ]
  })),
  reported
)

const url = Options.text("url").pipe(
  Options.withPseudoName("<url>"),
  Options.withDescription("the market's URL, as `market serve` printed it")
)

const submitConfig = {
  url,
  token: Options.text("token").pipe(Options.withPseudoName("<token>"), Options.withDescription("your bearer token")),
  recipe,
  json
}

/** What the `submit` handler is given. */
export type SubmitOptions = Command.Command.ParseConfig<typeof submitConfig>

/** `market submit`. */
export const submitCommand = Command.make(
  "submit",
  submitConfig,
  (options) => lazily(() => import("./handlers/Service.js"), (handler) => handler.submit(options))
).pipe(
  Command.withDescription(describe("submit a recipe to a running market", {
    details: ["When the market takes submissions by commit and reveal, this commits first, then reveals (SPEC §15.7)."],
    examples: [
      "trainmarket market submit --url http://127.0.0.1:8080 --token \"$TOKEN\" --recipe examples/recipe.json",
      "trainmarket market submit --url http://127.0.0.1:8080 --token \"$TOKEN\" --recipe examples/recipe.json --json"
    ]
  })),
  reported
)

const statusConfig = {
  url,
  token: Options.text("token").pipe(
    Options.withPseudoName("<token>"),
    Options.withDescription("your bearer token, for --submission and --mine (the leaderboard needs none)"),
    Options.optional
  ),
  submission: Options.text("submission").pipe(
    Options.withPseudoName("<id>"),
    Options.withDescription("one submission, as GET /v1/submissions/{id} (with --token: yours, or the operator's)"),
    Options.optional
  ),
  mine: Options.boolean("mine").pipe(
    Options.withDescription("your submissions, newest first, as GET /v1/submissions (the operator's token: all)")
  ),
  json
}

/** What the `status` handler is given. */
export type StatusOptions = Command.Command.ParseConfig<typeof statusConfig>

/** `market status`. */
export const statusCommand = Command.make(
  "status",
  statusConfig,
  (options) => lazily(() => import("./handlers/Service.js"), (handler) => handler.status(options))
).pipe(
  Command.withDescription(describe("a running market's leaderboard, one submission, or your submissions", {
    examples: [
      "trainmarket market status --url http://127.0.0.1:8080",
      "trainmarket market status --url http://127.0.0.1:8080 --token \"$TOKEN\" --submission sub-…",
      "trainmarket market status --url http://127.0.0.1:8080 --token \"$TOKEN\" --mine --json"
    ]
  })),
  reported
)

const auditConfig = { store, json }

/** What the `audit` handler is given. */
export type AuditOptions = Command.Command.ParseConfig<typeof auditConfig>

/** `market audit`. */
export const auditCommand = Command.make(
  "audit",
  auditConfig,
  (options) => lazily(() => import("./handlers/Service.js"), (handler) => handler.audit(options))
).pipe(
  Command.withDescription(describe("offline: recompute every payout from a market's journal", {
    details: [
      "Reads the journal (never creates one), folds it, recomputes every settlement and epoch credit, and prints " +
      "{\"events\",\"recomputeAgrees\",\"payouts\"}; exits 1 when the journal disagrees with itself."
    ],
    examples: [
      "trainmarket market audit --store market.sqlite",
      "trainmarket market audit --store postgres://market@127.0.0.1/market --json"
    ]
  })),
  reported
)

const tokenConfig = { json }

/** What the `token` handler is given. */
export type TokenOptions = Command.Command.ParseConfig<typeof tokenConfig>

/** `market token`. */
export const tokenCommand = Command.make(
  "token",
  tokenConfig,
  (options) => lazily(() => import("./handlers/Service.js"), (handler) => handler.token(options))
).pipe(
  Command.withDescription(describe("a new random bearer token and the sha256 a market file stores", {
    examples: ["trainmarket market token", "trainmarket market token --json"]
  })),
  reported
)

/** The service's subcommands of `market`. */
export const commands = [serveCommand, submitCommand, statusCommand, auditCommand, tokenCommand] as const
