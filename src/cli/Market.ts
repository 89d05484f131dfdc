/**
 * `trainmarket market …`: continuous (king-of-the-hill) markets. `market replay
 * <market.json>` replays a market file (SPEC §8, §14): every submission's result, the
 * payouts, the final best and the wei spent, streamed as settled. `market serve`,
 * `submit`, `status`, `audit` and `token` are the live market service (`Service.ts`).
 */
import { Args, Command, Options } from "@effect/cli"
import { describe } from "./Help.js"
import * as Service from "./Service.js"
import { json, keyFile, lazily, out, reported, showHelp } from "./Shared.js"

const file = Args.text({ name: "market.json" }).pipe(Args.withDescription("the market file (SPEC §14)"))
const submissions = Options.text("submissions").pipe(
  Options.withPseudoName("<file.jsonl>"),
  Options.withDescription(
    "the submissions as JSON Lines ({\"researcher\",\"recipe\"} per line), streamed so memory stays flat; the market " +
      "file then has none"
  ),
  Options.optional
)

const replayConfig = { file, submissions, out, keyFile, json }

/** What the `replay` handler is given. */
export type ReplayOptions = Command.Command.ParseConfig<typeof replayConfig>

/** `market replay`. */
export const replayCommand = Command.make(
  "replay",
  replayConfig,
  (options) => lazily(() => import("./handlers/Market.js"), (handler) => handler.replay(options))
).pipe(
  Command.withDescription(describe("replay a continuous market: each submission's result, the payouts, the final best", {
    details: [
      "Submission i trains with seed i (or the keyed seeds of a record test) against the file's baseline; records are " +
      "paid as the schedule says, never beyond the pool. With --out the folder gets result.json, results.txt and " +
      "frontier.svg (the best lift after each submission)."
    ],
    examples: [
      "trainmarket market replay examples/continuous-market.json",
      "trainmarket market replay examples/market-head.json --submissions examples/submissions.jsonl --json",
      "trainmarket market replay examples/continuous-market.json --out replay"
    ]
  })),
  reported
)

/** The `market` group. */
export const command = Command.make("market", {}, showHelp).pipe(
  Command.withDescription("continuous (king-of-the-hill) markets"),
  Command.withSubcommands([replayCommand, ...Service.commands])
)
