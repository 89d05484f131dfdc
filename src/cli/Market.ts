/**
 * `trainmarket market replay <market.json>`: replay a continuous market from a
 * file (SPEC §8, §14) and print every submission's result, the payouts, the final
 * best and the wei spent. Results are written as they are settled: with `--json`
 * the single JSON document is written to stdout incrementally, so the output never
 * has to be held in memory (the input file is one JSON document and is read whole).
 * A long replay shows its progress on stderr when stderr is a terminal.
 */
import { Args, Command } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Chunk, Clock, Effect, Option, Schema, Stream } from "effect"
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
import { DEFAULT_SHARDS } from "../scorer/SimHeldOut.js"
import { layersOf } from "./Compete.js"
import * as Progress from "./Progress.js"
import { decode, json, readJsonFile, reporting, stderrIsTerminal, stringify, writeStdout } from "./Shared.js"

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

/** The replay config of a decoded market file. */
export const toConfig = (file: MarketFile): Replay.ReplayConfig => ({
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

const humanSummary = (summary: Replay.ReplaySummary, file: MarketFile): ReadonlyArray<string> => [
  "",
  `${summary.submissions} submissions, ${summary.records} records; final best ${
    summary.finalBestMicros === undefined ? "none (the baseline stands)" : `${wei(summary.finalBestMicros)} micros`
  }; spent ${wei(summary.spentWei)} wei${file.poolWei === undefined ? "" : ` of a ${wei(file.poolWei)} wei pool`}`,
  ...(summary.payouts.length === 0
    ? ["no payouts"]
    : ["payouts:", ...summary.payouts.map((p: Payout) => `  ${p.researcher}  ${wei(p.wei)} wei`)])
]

/** The output text of a replay: the document (or lines) written piece by piece as results are settled. */
const render = (
  file: MarketFile,
  settler: Replay.Settler,
  results: Stream.Stream<Replay.ReplayResult, Replay.EvaluateError>,
  asJson: boolean
): Stream.Stream<string, Replay.EvaluateError> => {
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
  const nameWidth = Math.min(24, Math.max(10, ...file.submissions.slice(0, 1000).map((s) => s.researcher.length)))
  const header = `market replay: ${file.submissions.length} submissions, baseline seed ${file.baseline.seed}, ${
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
const withProgress = (
  results: Stream.Stream<Replay.ReplayResult, Replay.EvaluateError>,
  total: number,
  terminal: boolean
): Stream.Stream<Replay.ReplayResult, Replay.EvaluateError> => {
  if (!terminal) return results
  let done = 0
  let drawnAt = Number.NEGATIVE_INFINITY
  return Stream.mapChunksEffect(results, (chunk) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      done += Chunk.size(chunk)
      if (now - drawnAt >= 100 || done === total) {
        drawnAt = now
        process.stderr.write(`\r\x1b[2Kreplayed ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")}`)
      }
      return chunk
    }))
}

/** Is the file's cluster and scorer the simulator pair, which replays as plain functions? */
const simulated = (file: MarketFile): Option.Option<number> =>
  file.cluster.kind === "local-sim" && (file.scorer === undefined || file.scorer.kind === "sim-held-out")
    ? Option.some(file.scorer?.shards ?? file.evalShards)
    : Option.none()

const replay = (file: MarketFile, asJson: boolean) =>
  Effect.gen(function*() {
    const config = toConfig(file)
    const terminal = yield* stderrIsTerminal
    const submissions = Stream.fromIterable(file.submissions)
    const shards = simulated(file)
    if (Option.isSome(shards)) {
      // the simulator cannot fail after decoding: results are written as they are settled
      const evaluator = Replay.simEvaluator(shards.value)
      const settler = yield* Replay.prepare(config, evaluator)
      const results = withProgress(Replay.stream(settler, submissions, evaluator), file.submissions.length, terminal)
      return yield* Stream.runForEach(render(file, settler, results, asJson), writeStdout).pipe(Effect.ensuring(Progress.finish))
    }
    // real clusters and scorers can fail mid-run: settle everything first, so a failure
    // prints one error document rather than a truncated result document
    const evaluator = yield* Replay.serviceEvaluator
    const settler = yield* Replay.prepare(config, evaluator)
    const settled = yield* Stream.runCollect(
      withProgress(Replay.stream(settler, submissions, evaluator), file.submissions.length, terminal)
    ).pipe(Effect.ensuring(Progress.finish))
    yield* Stream.runForEach(render(file, settler, Stream.fromChunk(settled), asJson), writeStdout)
  }).pipe(
    Effect.provide(layersOf(file))
  )

const file = Args.text({ name: "market.json" }).pipe(Args.withDescription("the market file"))

/** `market replay`. */
export const replayCommand = Command.make(
  "replay",
  { file, json },
  (options) =>
    readMarketFile(options.file).pipe(
      Effect.flatMap((market) => replay(market, options.json)),
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
