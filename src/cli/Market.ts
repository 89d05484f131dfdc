/**
 * `trainmarket market replay <market.json>`: replay a continuous market from a
 * file (SPEC §8, §14) and print every submission's result, the payouts, the final
 * best and the wei spent. Results are written as they are settled: with `--json`
 * the single JSON document is written to stdout incrementally, so the output never
 * has to be held in memory. With `--submissions file.jsonl` the submissions come from
 * a JSON Lines file read as a stream, so memory stays flat however many there are. A
 * long replay shows its progress on stderr when stderr is a terminal.
 */
import { Args, Command, Options } from "@effect/cli"
import { Chunk, Clock, Effect, Option, Stream } from "effect"
import * as MarketFile from "../files/MarketFile.js"
import * as Layers from "../Layers.js"
import type * as Replay from "../market/Replay.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import * as Service from "./Service.js"
import { json, keyFile, reported } from "./Shared.js"

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

const replay = (input: MarketFile.ReplayInput, asJson: boolean) =>
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

const file = Args.text({ name: "market.json" }).pipe(Args.withDescription("the market file"))
const submissions = Options.text("submissions").pipe(
  Options.withDescription(
    "a JSON Lines file of submissions ({\"researcher\",\"recipe\"} per line), streamed so memory stays flat; " +
      "the market file then has no submissions field"
  ),
  Options.optional
)

/** `market replay`. */
export const replayCommand = Command.make(
  "replay",
  { file, submissions, keyFile, json },
  (options) =>
    Option.match(options.submissions, {
      onNone: () => Effect.map(MarketFile.load(options.file), MarketFile.inline),
      onSome: (lines) => MarketFile.loadStreamed(options.file, lines)
    }).pipe(
      Effect.flatMap((input) => replay(input, options.json)),
      Effect.provide(Layers.operatorKey(options.keyFile))
    )
).pipe(
  Command.withDescription(
    "replay a continuous market from a file: submission i trains with seed i; prints each result, the payouts, the final best and the wei spent"
  ),
  reported
)

/** The `market` subcommand. */
export const command = Command.make("market").pipe(
  Command.withDescription("continuous (king-of-the-hill) markets"),
  Command.withSubcommands([replayCommand, ...Service.commands])
)
