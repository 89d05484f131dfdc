/**
 * What `trainmarket market replay` does (loaded when it runs). Results are written as
 * they are settled: with `--json` the single JSON document is written to stdout
 * incrementally, so the output never has to be held in memory. A long replay shows its
 * progress on stderr when stderr is a terminal.
 */
import { Chunk, Clock, Effect, Option, Stream } from "effect"
import * as MarketFile from "../../files/MarketFile.js"
import * as Layers from "../../Layers.js"
import type * as Replay from "../../market/Replay.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"

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
          Output.status(`replayed ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")}`),
          Output.Output,
          output
        )
      }
      return chunk
    }))
}

const run = (input: MarketFile.ReplayInput, asJson: boolean) =>
  Effect.flatMap(Output.Output, (output) =>
    MarketFile.replay(input, ({ canFail, results, settler }) => {
      const shown = withProgress(results, input.submissions.total, output)
      // a run that can fail mid-way (real training) settles everything first, so a failure
      // prints one error document rather than a truncated result document
      const text = canFail
        ? Stream.unwrap(Effect.map(Stream.runCollect(shown), (settled) =>
          MarketFile.replayText(input, settler, Stream.fromChunk(settled), asJson)))
        : MarketFile.replayText(input, settler, shown, asJson)
      return Stream.runForEach(text, output.stdout).pipe(Effect.ensuring(Output.clearStatus))
    }, { progress: Progress.layer }))

/** Replay the market file (its submissions inline, or streamed from `--submissions`). */
export const replay = (options: {
  readonly file: string
  readonly submissions: Option.Option<string>
  readonly out: Option.Option<string>
  readonly keyFile: Option.Option<string>
  readonly json: boolean
}) =>
  Option.match(options.submissions, {
    onNone: () => Effect.map(MarketFile.load(options.file), MarketFile.inline),
    onSome: (lines) => MarketFile.loadStreamed(options.file, lines)
  }).pipe(
    Effect.flatMap((input) => run(input, options.json)),
    Effect.provide(Layers.operatorKey(options.keyFile))
  )
