/**
 * What `trainmarket market replay` does (loaded when it runs). Results are written as
 * they are settled: with `--json` the single JSON document is written to stdout
 * incrementally, so the output never has to be held in memory. A long replay shows its
 * progress on stderr when stderr is a terminal.
 */
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { TrainingProgress } from "../../cluster/TrainingCluster.js"
import type * as Charts from "../../charts/Charts.js"
import * as MarketFile from "../../files/MarketFile.js"
import * as Results from "../../files/Results.js"
import * as Layers from "../../Layers.js"
import type * as Replay from "../../market/Replay.js"
import type { ReplayOptions } from "../Market.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"
import { grouped } from "../../domain/Text.js"

/**
 * "replayed k / n" under the progress lines of the jobs training (on stderr, only when
 * it is a terminal): one drawing, throttled with them, and drawn at once at the end.
 */
const withProgress = <E, R>(
  results: Stream.Stream<Replay.ReplayResult, E, R>,
  total: number,
  footer: (text: string, final: boolean) => Effect.Effect<void>
): Stream.Stream<Replay.ReplayResult, E, R> => {
  let done = 0
  return Stream.mapChunksEffect(results, (chunk) => {
    done += Chunk.size(chunk)
    return Effect.as(footer(`replayed ${grouped(done)} / ${grouped(total)}`, done === total), chunk)
  })
}

/**
 * A results folder being written as a replay settles (`--out`): `result.json` and
 * `results.txt` grow chunk by chunk (memory stays flat), and `frontier.svg` is drawn
 * from the records at the end.
 */
const keeper = (dir: string, input: MarketFile.ReplayInput, settler: Replay.Settler) =>
  Effect.gen(function*() {
    yield* Results.makeFolder(dir)
    const files = [
      { write: yield* Results.openForWrite(dir, "result.json"), print: MarketFile.printer(input, settler, true) },
      { write: yield* Results.openForWrite(dir, "results.txt"), print: MarketFile.printer(input, settler, false) }
    ]
    yield* Effect.forEach(files, ({ print, write }) => write(print.head), { discard: true })
    const records: Array<Charts.FrontierRecord> = []
    return {
      add: (chunk: Chunk.Chunk<Replay.ReplayResult>) =>
        Effect.suspend(() => {
          for (const result of chunk) {
            if (result.becameRecord && result.liftMicros !== undefined) {
              records.push({ index: result.index, researcher: result.researcher, micros: Number(result.liftMicros) })
            }
          }
          return Effect.forEach(files, ({ print, write }) => write(print.chunk(chunk)), { discard: true })
        }),
      finish: Effect.gen(function*() {
        yield* Effect.forEach(files, ({ print, write }) => write(print.tail()), { discard: true })
        const summary = settler.summary()
        yield* Results.writeText(
          dir,
          "frontier.svg",
          Results.frontierSvg(records, {
            submissions: summary.submissions,
            heading: `market replay: best lift after each of ${grouped(summary.submissions)} submissions ` +
              `(${summary.records} records, ${grouped(summary.spentWei)} wei spent)`
          })
        )
        yield* Output.problem(`trainmarket: kept result.json, results.txt and frontier.svg in ${dir}`)
      })
    }
  })

const run = (input: MarketFile.ReplayInput, asJson: boolean, out: Option.Option<string>) =>
  Effect.flatMap(Effect.zip(Output.Output, Progress.makeWith({ record: false })), ([output, progress]) =>
    MarketFile.replay(input, ({ canFail, results, settler }) =>
      Effect.scoped(Effect.gen(function*() {
        const keep = Option.isSome(out) ? yield* keeper(out.value, input, settler) : undefined
        const progressed = withProgress(results, input.submissions.total, progress.footer)
        const shown = keep === undefined
          ? progressed
          : Stream.mapChunksEffect(progressed, (chunk) => Effect.as(keep.add(chunk), chunk))
        // a run that can fail mid-way (real training) settles everything first, so a failure
        // prints one error document rather than a truncated result document
        const text = canFail
          ? Stream.unwrap(Effect.map(Stream.runCollect(shown), (settled) =>
            MarketFile.replayText(input, settler, Stream.fromChunk(settled), asJson)))
          : MarketFile.replayText(input, settler, shown, asJson)
        yield* Stream.runForEach(text, output.stdout).pipe(Effect.ensuring(Output.clearStatus))
        if (keep !== undefined) yield* keep.finish
      })), { progress: Layer.succeed(TrainingProgress, progress.sink) }))

/** Replay the market file (its submissions inline, or streamed from `--submissions`). */
export const replay = (options: ReplayOptions) =>
  Option.match(options.submissions, {
    onNone: () => Effect.map(MarketFile.load(options.file), MarketFile.inline),
    onSome: (lines) => MarketFile.loadStreamed(options.file, lines)
  }).pipe(
    Effect.flatMap((input) => run(input, options.json, options.out)),
    Effect.provide(Layers.operatorKey(options.keyFile))
  )
