/**
 * `trainmarket market replay <market.json>`: replay a continuous market from a
 * file (SPEC §8, §14) and print every submission's result, the payouts, the final
 * best and the wei spent. Results are written as they are settled: with `--json`
 * the single JSON document is written to stdout incrementally, so the output never
 * has to be held in memory. The market file is one JSON document and is read whole;
 * with `--submissions file.jsonl` the submissions come from a JSON Lines file instead,
 * read as a stream, so memory stays flat however many there are. A long replay shows
 * its progress on stderr when stderr is a terminal.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Chunk, Clock, Effect, Either, Option, Schema, Stream } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { BadInput, type RecipeInvalid } from "../domain/Errors.js"
import { defaultGate, Gate } from "../domain/Measurement.js"
import { Seed, Wei } from "../domain/Money.js"
import { Recipe } from "../domain/Recipe.js"
import * as Leaderboard from "../market/Leaderboard.js"
import * as Objective from "../market/Objective.js"
import * as Replay from "../market/Replay.js"
import type { Payout } from "../market/Reward.js"
import * as ScorerSpec from "../scorer/ScorerSpec.js"
import { DEFAULT_SHARDS } from "../scorer/HeldOutScorer.js"
import { layersOf } from "./Compete.js"
import * as Progress from "./Progress.js"
import {
  decode,
  fileError,
  inputLines,
  json,
  parseJson,
  readJsonFile,
  reporting,
  stderrIsTerminal,
  stringify,
  writeStdout
} from "./Shared.js"

/** One submission in a market file. */
export const MarketSubmission = Schema.Struct({ researcher: Schema.String, recipe: Recipe })
export type MarketSubmission = typeof MarketSubmission.Type

const fileFields = {
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
  scorer: Schema.optional(ScorerSpec.ScorerSpec)
}

/** A market file (SPEC §14); `id` is accepted for symmetry with competition files and ignored. */
export const MarketFile = Schema.Struct({ ...fileFields, submissions: Schema.Array(MarketSubmission) }).annotations({
  identifier: "MarketFile"
})
export type MarketFile = typeof MarketFile.Type

/** Everything but the submissions, which `readMarketFile` checks one by one. */
const MarketFileHead = Schema.Struct({ ...fileFields, submissions: Schema.Unknown })

const U32_MAX = 4294967295
const RECIPE_KEYS: ReadonlyArray<string> = ["islands", "innerSteps", "innerLr", "outerLr", "keepFraction"]
const SUBMISSION_KEYS: ReadonlyArray<string> = ["researcher", "recipe"]
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const exactKeys = (x: Record<string, unknown>, keys: ReadonlyArray<string>): boolean => {
  const own = Object.keys(x)
  return own.length === keys.length && own.every((key) => keys.includes(key))
}
const u32 = (x: unknown): boolean => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= U32_MAX
const positiveFinite = (x: unknown): boolean => typeof x === "number" && Number.isFinite(x) && x > 0

/**
 * A quick, conservative check that a raw submission is exactly what `MarketSubmission`
 * decodes unchanged (the same fields and rules as `Recipe`). It only ever says yes
 * for valid input; anything else goes through the schema, which names the problem.
 * Schema decoding costs microseconds per submission, this check nanoseconds, which
 * is what makes a market file of a million submissions readable in a second.
 */
export const isPlainSubmission = (x: unknown): x is MarketSubmission => {
  if (!isRecord(x) || !exactKeys(x, SUBMISSION_KEYS) || typeof x["researcher"] !== "string") return false
  const recipe = x["recipe"]
  if (!isRecord(recipe) || !exactKeys(recipe, RECIPE_KEYS)) return false
  const keep = recipe["keepFraction"]
  return u32(recipe["islands"]) && u32(recipe["innerSteps"]) && positiveFinite(recipe["innerLr"]) &&
    positiveFinite(recipe["outerLr"]) && typeof keep === "number" && Number.isFinite(keep) && keep > 0 && keep <= 1
}

/** A market file's settings: everything but its submissions. */
export type MarketHead = Omit<MarketFile, "submissions">

/** The submissions of a replay, as a stream, with how many there are and how wide to print names. */
/** What a replay runs on: the market's settings and its submissions. */
interface ReplayInput {
  readonly head: MarketHead
  readonly submissions: Submissions
}

interface Submissions {
  readonly stream: Stream.Stream<MarketSubmission, BadInput | RecipeInvalid, FileSystem.FileSystem>
  readonly total: number
  readonly nameWidth: number
}

const nameWidthOf = (names: ReadonlyArray<string>): number =>
  Math.min(24, Math.max(10, ...names.map((name) => name.length)))

/** Decode one raw submission: the quick check, else the schema (which names the problem). */
const decodeSubmission = (entry: unknown, source: string): Effect.Effect<MarketSubmission, BadInput | RecipeInvalid> =>
  isPlainSubmission(entry) ? Effect.succeed(entry) : decode(MarketSubmission, source)(entry)

/**
 * The submissions of a JSON Lines file, one `{"researcher","recipe"}` per non-blank
 * line, as a stream (memory stays flat); a bad line is an error naming its number.
 */
export const submissionLines = (
  path: string
): Stream.Stream<MarketSubmission, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Stream.suspend(() => {
    // each run of the stream counts its own lines
    let lineNumber = 0
    return inputLines(path).pipe(
      Stream.mapChunksEffect((lines) =>
        Effect.suspend(() => {
          const decoded: Array<MarketSubmission> = []
          const slow: Array<Effect.Effect<void, BadInput | RecipeInvalid>> = []
          for (const line of lines) {
            lineNumber += 1
            if (line.trim() === "") continue
            const source = `${path} line ${lineNumber}`
            const parsed = Either.getOrUndefined(Either.try((): unknown => JSON.parse(line)))
            if (isPlainSubmission(parsed)) {
              // the quick path; once a line needed the schema, later lines queue behind it to keep their order
              if (slow.length === 0) decoded.push(parsed)
              else slow.push(Effect.sync(() => decoded.push(parsed)))
              continue
            }
            slow.push(
              Effect.flatMap(parseJson(line, source), (entry) =>
                Effect.map(decodeSubmission(entry, source), (submission) => {
                  decoded.push(submission)
                }))
            )
          }
          return Effect.map(Effect.all(slow, { discard: true }), () => Chunk.unsafeFromArray(decoded))
        })
      )
    )
  })

/** Read and decode a market file; a bad submission is reported with its position. */
export const readMarketFile = (path: string): Effect.Effect<MarketFile, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const head = yield* readJsonFile(MarketFileHead, path)
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
      submissions.push(
        isPlainSubmission(entry) ? entry : yield* decode(MarketSubmission, `${path}: submissions[${i}]`)(entry)
      )
    }
    return { ...head, submissions }
  })

/**
 * A market file without submissions, and its submissions from a JSON Lines file. The
 * lines are checked in a first streaming pass (which also counts them), so a bad line
 * fails before anything is printed and the output stays one document.
 */
export const readStreamedMarket = (
  path: string,
  submissionsPath: string
): Effect.Effect<ReplayInput, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const { submissions: inline, ...head } = yield* readJsonFile(MarketFileHead, path)
    if (inline !== undefined) {
      return yield* new BadInput({
        source: path,
        reason: "at submissions: give the submissions either in the market file or with --submissions, not both"
      })
    }
    // the file is read twice (check and count, then replay), so it must be a regular file
    const fs = yield* FileSystem.FileSystem
    const notRegular = new BadInput({
      source: submissionsPath,
      reason: "--submissions needs a regular file (it is read twice: checked first, then replayed), not stdin or a pipe"
    })
    if (submissionsPath === "-") return yield* notRegular
    const info = yield* fs.stat(submissionsPath).pipe(Effect.mapError(fileError(submissionsPath)))
    if (info.type !== "File") return yield* notRegular
    const stream = submissionLines(submissionsPath)
    const total = yield* Stream.runCount(stream)
    return { head, submissions: { stream, total, nameWidth: nameWidthOf([]) } }
  })

/** The replay config of a decoded market file. */
export const toConfig = (file: MarketHead): Replay.ReplayConfig => ({
  gate: file.gate,
  schedule: file.schedule,
  poolWei: file.poolWei,
  objective: file.objective,
  baseline: file.baseline
})

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

const wei = (x: bigint): string => x.toLocaleString("en-US")

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

/** The output text of a replay: the document (or lines) written piece by piece as results are settled. */
const render = <E, R>(
  file: MarketHead,
  submissions: Submissions,
  settler: Replay.Settler,
  results: Stream.Stream<Replay.ReplayResult, E, R>,
  asJson: boolean
): Stream.Stream<string, E, R> => {
  if (asJson) {
    let first = true
    const body = Stream.mapChunks(results, (chunk) => {
      let text = ""
      for (const result of chunk) {
        text += (first ? "" : ",") + resultText(result)
        first = false
      }
      return Chunk.of(text)
    })
    return Stream.concat(
      Stream.concat(Stream.make("{\"results\":["), body),
      Stream.suspend(() => Stream.make(`],${stringify(summaryJson(settler.summary())).slice(1)}\n`))
    )
  }
  const nameWidth = submissions.nameWidth
  const header = `market replay: ${submissions.total} submissions, baseline seed ${file.baseline.seed}, ${
    file.schedule.kind
  }\n\n`
  const body = Stream.mapChunks(results, (chunk) => {
    let text = ""
    for (const result of chunk) text += `${humanResult(result, nameWidth)}\n`
    return Chunk.of(text)
  })
  return Stream.concat(
    Stream.concat(Stream.make(header), body),
    Stream.suspend(() => Stream.make(`${humanSummary(settler.summary(), file).join("\n")}\n`))
  )
}

/**
 * Progress on stderr ("replayed k / n"), redrawn at most every 100 ms of Clock time
 * and at the end, only when stderr is a terminal.
 */
const withProgress = <E, R>(
  results: Stream.Stream<Replay.ReplayResult, E, R>,
  total: number,
  terminal: boolean
): Stream.Stream<Replay.ReplayResult, E, R> => {
  if (!terminal) return results
  let done = 0
  let drawnAt = Number.NEGATIVE_INFINITY
  return Stream.mapChunksEffect(results, (chunk) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      done += Chunk.size(chunk)
      if (now - drawnAt >= 100 || done === total) {
        drawnAt = now
        Progress.draw(`replayed ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")}`)
      }
      return chunk
    }))
}

/** Is the file's cluster and scorer the simulator pair, which replays as plain functions? */
const simulated = (file: MarketHead): Option.Option<number> =>
  file.cluster.kind === "local-sim" && (file.scorer === undefined || file.scorer.kind === "sim-held-out")
    ? Option.some(file.scorer?.shards ?? file.evalShards)
    : Option.none()

const replay = (file: MarketHead, input: Submissions, asJson: boolean) =>
  Effect.gen(function*() {
    const config = toConfig(file)
    const terminal = yield* stderrIsTerminal
    const submissions = input.stream
    const shards = simulated(file)
    if (Option.isSome(shards)) {
      // the simulator cannot fail after decoding: results are written as they are settled
      const evaluator = Replay.simEvaluator(shards.value)
      const settler = yield* Replay.prepare(config, evaluator)
      const results = withProgress(Replay.stream(settler, submissions, evaluator), input.total, terminal)
      return yield* Stream.runForEach(render(file, input, settler, results, asJson), writeStdout).pipe(
        Effect.ensuring(Progress.finish)
      )
    }
    // real clusters and scorers can fail mid-run: settle everything first, so a failure
    // prints one error document rather than a truncated result document
    const evaluator = yield* Replay.serviceEvaluator
    const settler = yield* Replay.prepare(config, evaluator)
    const settled = yield* Stream.runCollect(
      withProgress(Replay.stream(settler, submissions, evaluator), input.total, terminal)
    ).pipe(Effect.ensuring(Progress.finish))
    yield* Stream.runForEach(render(file, input, settler, Stream.fromChunk(settled), asJson), writeStdout)
  }).pipe(
    Effect.provide(layersOf(file))
  )

const file = Args.text({ name: "market.json" }).pipe(Args.withDescription("the market file"))
const submissionsOption = Options.text("submissions").pipe(
  Options.withDescription(
    "a JSON Lines file of submissions ({\"researcher\",\"recipe\"} per line), streamed so memory stays flat; " +
      "the market file then has no submissions field"
  ),
  Options.optional
)

/** A market file's submissions as a stream. */
const inlineSubmissions = (market: MarketFile): Submissions => ({
  stream: Stream.fromIterable(market.submissions),
  total: market.submissions.length,
  nameWidth: nameWidthOf(market.submissions.slice(0, 1000).map((s) => s.researcher))
})

/** `market replay`. */
export const replayCommand = Command.make(
  "replay",
  { file, submissions: submissionsOption, json },
  (options) =>
    Option.match(options.submissions, {
      onNone: () =>
        Effect.map(readMarketFile(options.file), (market): ReplayInput => ({
          head: market,
          submissions: inlineSubmissions(market)
        })),
      onSome: (lines) => readStreamedMarket(options.file, lines)
    }).pipe(
      Effect.flatMap(({ head, submissions }) => replay(head, submissions, options.json)),
      reporting(options.json)
    )
).pipe(
  Command.withDescription(
    "replay a continuous market from a file: submission i trains with seed i; prints each result, the payouts, the final best and the wei spent"
  )
)

/** The `market` subcommand. */
export const command = Command.make("market").pipe(
  Command.withDescription("continuous (king-of-the-hill) markets"),
  Command.withSubcommands([replayCommand])
)
