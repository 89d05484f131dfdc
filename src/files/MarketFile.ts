/**
 * The market file (SPEC §14): a continuous market as JSON — its cluster, referee,
 * gate, baseline, schedule, pool and objective — with its submissions inline or, for
 * long replays, in a JSON Lines file read as a stream so memory stays flat. A library
 * user loads one (`load`, `loadStreamed`), replays it (`replay`, SPEC §8's replay
 * form) and prints the result as the CLI does (`replayText`).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { Sha256Hex } from "../domain/CheckpointHash.js"
import { BadInput, type ClusterInvalid, type MarketInvalid, RecipeInvalid, type ScorerInvalid } from "../domain/Errors.js"
import { defaultGate, Gate } from "../domain/Measurement.js"
import { Seed, Wei } from "../domain/Money.js"
import { isRecipe, Recipe } from "../domain/Recipe.js"
import * as Layers from "../Layers.js"
import * as Leaderboard from "../market/Leaderboard.js"
import * as Objective from "../market/Objective.js"
import * as Replay from "../market/Replay.js"
import * as Rules from "../market/Rules.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import type { Payout } from "../market/Reward.js"
import { DEFAULT_SHARDS } from "../scorer/HeldOutScorer.js"
import * as ScorerSpec from "../scorer/ScorerSpec.js"
import * as Json from "./Json.js"
import { grouped } from "../domain/Text.js"

/** One submission in a market file. */
export const MarketSubmission = Schema.Struct({ researcher: Schema.String, recipe: Recipe })
export type MarketSubmission = typeof MarketSubmission.Type

const TokenDigest = Sha256Hex

/** The `access` block of a served market: the operator's and each researcher's bearer-token sha256. */
export const Access = Schema.Struct({
  operatorTokenSha256: TokenDigest,
  researchers: Schema.Array(Schema.Struct({ name: Schema.NonEmptyTrimmedString, tokenSha256: TokenDigest }))
}).annotations({ identifier: "Access" })
export type Access = typeof Access.Type

/** The settings of a market file: everything but its submissions. */
export const fields = {
  id: Schema.optional(Schema.Number.pipe(Schema.int())),
  cluster: ClusterSpec.ClusterSpec,
  evalShards: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.positive()), {
    default: () => DEFAULT_SHARDS
  }),
  gate: Schema.optionalWith(Gate, { default: () => defaultGate }),
  baseline: Schema.Struct({ recipe: Recipe, seed: Seed }),
  schedule: Leaderboard.ContinuousSchedule,
  poolWei: Schema.optional(Wei),
  objective: Schema.optional(Objective.Objective),
  scorer: Schema.optional(ScorerSpec.ScorerSpec),
  ...Rules.liveFields,
  /** Who may use a served market (SPEC §16): token digests only, never the tokens. */
  access: Schema.optional(Access)
}

/** A market file (SPEC §14); `id` is accepted for symmetry with competition files and ignored. */
export const MarketFile = Schema.Struct({ ...fields, submissions: Schema.Array(MarketSubmission) }).annotations({
  identifier: "MarketFile"
})
export type MarketFile = typeof MarketFile.Type

/** A market file's settings: everything but its submissions. */
export type MarketHead = Omit<MarketFile, "submissions">

/** Everything but the submissions, which are checked one by one (fast path first). */
const MarketFileHead = Schema.Struct({ ...fields, submissions: Schema.Unknown })

/**
 * Is a raw submission exactly what `MarketSubmission` decodes unchanged? A check of
 * nanoseconds against the recipe's own rules (`Recipe.isRecipe`), where a schema decode
 * costs microseconds: what makes a market file of a million submissions readable in a
 * second. Anything it refuses goes through the schema, which names the problem.
 */
export const isPlainSubmission = (x: unknown): x is MarketSubmission => {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false
  let researcher: unknown
  let recipe: unknown
  let count = 0
  for (const [key, value] of Object.entries(x)) {
    count += 1
    if (key === "researcher") researcher = value
    else if (key === "recipe") recipe = value
    else return false
  }
  return count === 2 && typeof researcher === "string" && isRecipe(recipe)
}

/** Decode one raw submission: the quick check, else the schema (which names the problem). */
const decodeSubmission = (entry: unknown, source: string): Effect.Effect<MarketSubmission, BadInput | RecipeInvalid> =>
  isPlainSubmission(entry) ? Effect.succeed(entry) : Json.decode(MarketSubmission, source)(entry)

/** The submissions of a replay, as a stream, with how many there are and how wide to print names. */
export interface Submissions {
  readonly stream: Stream.Stream<MarketSubmission, BadInput | RecipeInvalid, FileSystem.FileSystem>
  readonly total: number
  readonly nameWidth: number
}

/** What a replay runs on: the market's settings and its submissions. */
export interface ReplayInput {
  readonly head: MarketHead
  readonly submissions: Submissions
}

const nameWidthOf = (longestName: number): number => Math.min(24, Math.max(10, longestName))

/**
 * JSON Lines of submissions, one `{"researcher","recipe"}` per non-blank line, as a
 * stream (memory stays flat); a bad line is an error naming its number. `source` names
 * the lines in errors (a path, or `stdin`).
 */
export const submissionLines = <E, R>(
  lines: Stream.Stream<string, E, R>,
  source: string
): Stream.Stream<MarketSubmission, E | BadInput | RecipeInvalid, R> =>
  Stream.suspend(() => {
    // each run of the stream counts its own lines
    let lineNumber = 0
    return Stream.mapChunksEffect(lines, (chunk) =>
      Effect.suspend(() => {
        const decoded: Array<MarketSubmission> = []
        const slow: Array<Effect.Effect<void, BadInput | RecipeInvalid>> = []
        for (const line of chunk) {
          lineNumber += 1
          if (line.trim() === "") continue
          const at = `${source} line ${lineNumber}`
          const parsed = Either.getOrUndefined(Either.try((): unknown => JSON.parse(line)))
          if (isPlainSubmission(parsed)) {
            // the quick path; once a line needed the schema, later lines queue behind it to keep their order
            if (slow.length === 0) decoded.push(parsed)
            else slow.push(Effect.sync(() => decoded.push(parsed)))
            continue
          }
          slow.push(
            Effect.flatMap(Json.parse(line, at), (entry) =>
              Effect.map(decodeSubmission(entry, at), (submission) => {
                decoded.push(submission)
              }))
          )
        }
        return Effect.map(Effect.all(slow, { discard: true }), () => Chunk.unsafeFromArray(decoded))
      }))
  })

/** Read and decode a market file with its submissions inline; a bad submission is reported with its position. */
export const load = (path: string): Effect.Effect<MarketFile, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const head = yield* Json.readFile(MarketFileHead, path)
    const raw = head.submissions
    if (!Array.isArray(raw)) {
      return yield* new BadInput({
        source: path,
        reason: raw === undefined ? "at submissions: is missing" : "at submissions: expected an array of submissions"
      })
    }
    const submissions: Array<MarketSubmission> = []
    for (let i = 0; i < raw.length; i++) {
      const entry: unknown = raw[i]
      submissions.push(yield* decodeSubmission(entry, `${path}: submissions[${i}]`))
    }
    return { ...head, submissions }
  })

/** A loaded market file's submissions as a replay input. */
export const inline = (market: MarketFile): ReplayInput => ({
  head: market,
  submissions: {
    stream: Stream.fromIterable(market.submissions),
    total: market.submissions.length,
    nameWidth: nameWidthOf(Math.max(0, ...market.submissions.slice(0, 1000).map((s) => s.researcher.length)))
  }
})

/**
 * A market file without submissions, and its submissions from a JSON Lines file. The
 * lines are checked in a first streaming pass (which also counts them), so a bad line
 * fails before anything is replayed; the file is read twice, so it must be a regular file.
 */
export const loadStreamed = (
  path: string,
  submissionsPath: string
): Effect.Effect<ReplayInput, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const { submissions: inlined, ...head } = yield* Json.readFile(MarketFileHead, path)
    if (inlined !== undefined) {
      return yield* new BadInput({
        source: path,
        reason: "at submissions: give the submissions either in the market file or with --submissions, not both"
      })
    }
    const fs = yield* FileSystem.FileSystem
    const notRegular = new BadInput({
      source: submissionsPath,
      reason: "--submissions needs a regular file (it is read twice: checked first, then replayed), not stdin or a pipe"
    })
    if (submissionsPath === "-") return yield* notRegular
    const info = yield* fs.stat(submissionsPath).pipe(Effect.mapError(Json.fileError(submissionsPath)))
    if (info.type !== "File") return yield* notRegular
    const stream = submissionLines(Json.fileLines(submissionsPath), submissionsPath)
    // the checking pass also counts the lines and finds the longest name among the first
    // thousand, as an inline file's column width is found
    const { total, longest } = yield* Stream.runFold(stream, { total: 0, longest: 0 }, (acc, submission) => ({
      total: acc.total + 1,
      longest: acc.total < 1000 ? Math.max(acc.longest, submission.researcher.length) : acc.longest
    }))
    return { head, submissions: { stream, total, nameWidth: nameWidthOf(longest) } }
  })

/** The rules of a market file (what the live market journals and settles by). */
export const toRules = (file: MarketHead): Rules.MarketRules => ({
  gate: file.gate,
  schedule: file.schedule,
  poolWei: file.poolWei,
  objective: file.objective,
  baseline: file.baseline,
  recordTest: file.recordTest,
  feedback: file.feedback,
  submissionBudget: file.submissionBudget,
  commitReveal: file.commitReveal,
  revealWindowSeconds: file.revealWindowSeconds,
  seedKey: file.seedKey,
  concurrency: file.concurrency,
  epochSeconds: file.epochSeconds
})

/**
 * The replay config of a market file's settings: its rules, and its seeds — with a
 * record test the keyed seeds of SPEC §15.3 (the file's `seedKey`, else the operator's
 * key), so a replay trains exactly what the live market trained.
 */
export const toConfig = (file: MarketHead, operatorKey: Uint8Array): Replay.ReplayConfig => {
  const rules = toRules(file)
  return { ...rules, seeds: Rules.seedPlan(rules, operatorKey) }
}

/** Is the file's cluster and scorer the simulator pair, which replays as plain functions? Its shard count if so. */
export const simulatedShards = (file: MarketHead): Option.Option<number> =>
  file.cluster.kind === "local-sim" && (file.scorer === undefined || file.scorer.kind === "sim-held-out")
    ? Option.some(file.scorer?.shards ?? file.evalShards)
    : Option.none()

/** What a replay can fail with: reading its submissions, building its services, training or scoring. */
export type ReplayError = BadInput | RecipeInvalid | ClusterInvalid | ScorerInvalid | MarketInvalid | Replay.EvaluateError

/** A replay under way: its results as a stream (settled in order as they come), and the settler's summary. */
export interface Replaying {
  readonly results: Stream.Stream<Replay.ReplayResult, ReplayError, FileSystem.FileSystem>
  readonly settler: Replay.Settler
  /** True when a result can fail mid-stream (real training); a printer then settles everything before writing. */
  readonly canFail: boolean
}

/**
 * Replay a market on the cluster and referee its file names, inside `use` (which
 * consumes the result stream while the services are alive). The simulator pair replays
 * as plain functions in chunks; any other pair goes through its services one
 * submission at a time.
 */
export const replay = <A, E, R, RP = never>(
  input: ReplayInput,
  use: (replaying: Replaying) => Effect.Effect<A, E, R>,
  options: Layers.BuildOptions<RP> = {}
): Effect.Effect<A, E | ReplayError, R | Layers.BuildContext | RP> => {
  const shards = simulatedShards(input.head)
  if (Option.isSome(shards)) {
    const evaluator = Replay.simEvaluator(shards.value)
    return Effect.flatMap(OperatorKey, ({ key }) =>
      Effect.flatMap(Replay.prepare(toConfig(input.head, key), evaluator), (settler) =>
        use({ results: Replay.stream(settler, input.submissions.stream, evaluator), settler, canFail: false })))
  }
  const replaying = Effect.gen(function*() {
    const config = toConfig(input.head, (yield* OperatorKey).key)
    const evaluator = yield* Replay.serviceEvaluator
    const settler = yield* Replay.prepare(config, evaluator)
    const results = Replay.stream(settler, input.submissions.stream, evaluator, { concurrency: input.head.concurrency })
    return yield* use({ results, settler, canFail: true })
  }).pipe(Effect.provide(Layers.forFile(input.head)))
  // provided outside the services, so the cluster layer and the replay share one sink
  return options.progress === undefined ? replaying : Effect.provide(replaying, options.progress)
}

/**
 * One result's JSON text, written by hand: the replay prints a million of these and
 * a generic `JSON.stringify` with a bigint replacer is several times slower. Same
 * text as `stringify(resultJson(result))`.
 */
export const resultText = (result: Replay.ReplayResult): string =>
  `{"researcher":${JSON.stringify(result.researcher)},"heldOutValue":${JSON.stringify(result.heldOutValue)},` +
  `"liftMicros":${result.liftMicros === undefined ? "null" : `"${result.liftMicros}"`},` +
  `"becameRecord":${result.becameRecord},"paidWei":"${result.paidWei}"}`

/** One result as SPEC §14 prints it. */
export const resultJson = (result: Replay.ReplayResult) => ({
  researcher: result.researcher,
  heldOutValue: result.heldOutValue,
  liftMicros: result.liftMicros ?? null,
  becameRecord: result.becameRecord,
  paidWei: result.paidWei
})

/** The document's closing fields as SPEC §14 prints them. */
export const summaryJson = (summary: Replay.ReplaySummary) => ({
  payouts: summary.payouts,
  finalBestMicros: summary.finalBestMicros ?? null,
  spentWei: summary.spentWei
})

/** The whole `market replay --json` document of a finished replay (for small, collected replays). */
export const replayJson = (results: ReadonlyArray<Replay.ReplayResult>, summary: Replay.ReplaySummary) => ({
  results: results.map(resultJson),
  ...summaryJson(summary)
})

const wei = grouped

const humanResult = (result: Replay.ReplayResult, nameWidth: number): string => {
  const head = `#${String(result.index).padEnd(7)}${result.researcher.padEnd(nameWidth + 2)}held-out ${
    result.heldOutValue.toFixed(6)
  }  `
  if (result.liftMicros === undefined) return `${head}gated`
  const lift = `lift ${result.liftMicros >= 0n ? "+" : ""}${wei(result.liftMicros)} micros`
  const outcome = result.becameRecord ? "record" : "no record"
  return `${head}${lift}  ${outcome}${result.paidWei > 0n ? `  paid ${wei(result.paidWei)} wei` : ""}`
}

const humanSummary = (summary: Replay.ReplaySummary, file: MarketHead): ReadonlyArray<string> => [
  "",
  `${summary.submissions} submissions, ${summary.records} records; final best ${
    summary.finalBestMicros === undefined ? "none (the baseline stands)" : `${wei(summary.finalBestMicros)} micros`
  }; spent ${wei(summary.spentWei)} wei${file.poolWei === undefined ? "" : ` of a ${wei(file.poolWei)} wei pool`}`,
  ...(summary.payouts.length === 0
    ? ["no payouts"]
    : ["payouts:", ...summary.payouts.map((p: Payout) => `  ${p.researcher}  ${wei(p.wei)} wei`)])
]

/** How a replay is printed, piece by piece as results are settled: a head, each chunk of results, a tail. */
export interface ReplayPrinter {
  readonly head: string
  readonly chunk: (results: Iterable<Replay.ReplayResult>) => string
  /** The closing text, once every result is settled. */
  readonly tail: () => string
}

/**
 * The printer of a replay: with `asJson` the one `market replay --json` document, else
 * a line per submission and a summary.
 */
export const printer = (input: ReplayInput, settler: Replay.Settler, asJson: boolean): ReplayPrinter => {
  if (asJson) {
    let first = true
    return {
      head: "{\"results\":[",
      chunk: (results) => {
        let text = ""
        for (const result of results) {
          text += (first ? "" : ",") + resultText(result)
          first = false
        }
        return text
      },
      tail: () => `],${Json.stringify(summaryJson(settler.summary())).slice(1)}\n`
    }
  }
  const file = input.head
  const nameWidth = input.submissions.nameWidth
  return {
    head: `market replay: ${input.submissions.total} submissions, baseline seed ${file.baseline.seed}, ${file.schedule.kind}\n\n`,
    chunk: (results) => {
      let text = ""
      for (const result of results) text += `${humanResult(result, nameWidth)}\n`
      return text
    },
    tail: () => `${humanSummary(settler.summary(), file).join("\n")}\n`
  }
}

/**
 * The printed output of a replay, piece by piece as results are settled: with `asJson`
 * the one `market replay --json` document, else a line per submission and a summary.
 */
export const replayText = <E, R>(
  input: ReplayInput,
  settler: Replay.Settler,
  results: Stream.Stream<Replay.ReplayResult, E, R>,
  asJson: boolean
): Stream.Stream<string, E, R> => {
  const print = printer(input, settler, asJson)
  return Stream.concat(
    Stream.concat(Stream.make(print.head), Stream.mapChunks(results, (chunk) => Chunk.of(print.chunk(chunk)))),
    Stream.suspend(() => Stream.make(print.tail()))
  )
}
