/**
 * What `trainmarket market replay` does (loaded when it runs). Results are written as
 * they are settled: with `--json` the single JSON document is written to stdout
 * incrementally, so the output never has to be held in memory. A long replay shows its
 * progress on stderr when stderr is a terminal.
 */
import { Chunk, Clock, Effect, Option, Stream } from "effect"
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
 * Progress on stderr ("replayed k / n"), redrawn at most every 100 ms of Clock time
 * and at the end, only when stderr is a terminal.
 */
const withProgress = <E, R>(
  results: Stream.Stream<Replay.ReplayResult, E, R>,
  total: number,
  output: Output.Output["Type"]
): Stream.Stream<Replay.ReplayResult, E, R> => {
  if (!output.stderrIsTerminal) return results
  let done = 0
  let drawnAt = Number.NEGATIVE_INFINITY
  return Stream.mapChunksEffect(results, (chunk) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      done += Chunk.size(chunk)
      if (now - drawnAt >= 100 || done === total) {
        drawnAt = now
        yield* Effect.provideService(
          Output.status(`replayed ${grouped(done)} / ${grouped(total)}`),
          Output.Output,
          output
        )
      }
      return chunk
    }))
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
  Effect.flatMap(Output.Output, (output) =>
    MarketFile.replay(input, ({ canFail, results, settler }) =>
      Effect.scoped(Effect.gen(function*() {
        const keep = Option.isSome(out) ? yield* keeper(out.value, input, settler) : undefined
        const progressed = withProgress(results, input.submissions.total, output)
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
      })), { progress: Progress.layer }))

/** Replay the market file (its submissions inline, or streamed from `--submissions`). */
export const replay = (options: ReplayOptions) =>
  Option.match(options.submissions, {
    onNone: () => Effect.map(MarketFile.load(options.file), MarketFile.inline),
    onSome: (lines) => MarketFile.loadStreamed(options.file, lines)
  }).pipe(
    Effect.flatMap((input) => run(input, options.json, options.out)),
    Effect.provide(Layers.operatorKey(options.keyFile))
  )
