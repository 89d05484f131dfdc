/**
 * `trainmarket compete <competition.json>`: run a one-shot competition from a file
 * (SPEC §14) on the cluster and scorer it names, and print its leaderboard (or the
 * whole result as JSON).
 */
import { Args, Command } from "@effect/cli"
import { Effect } from "effect"
import * as CompetitionFile from "../files/CompetitionFile.js"
import * as Layers from "../Layers.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import { json, keyFile, reported } from "./Shared.js"

const file = Args.text({ name: "competition.json" }).pipe(Args.withDescription("the competition file"))

/** The `compete` subcommand. */
export const command = Command.make(
  "compete",
  { file, keyFile, json },
  (options) =>
    Effect.gen(function*() {
      const competition = yield* CompetitionFile.load(options.file)
      const result = yield* CompetitionFile.run(competition, { progress: Progress.layer }).pipe(
        Effect.ensuring(Output.clearStatus),
        Effect.provide(Layers.operatorKey(options.keyFile))
      )
      if (options.json) return yield* Output.json(CompetitionFile.toJson(result))
      yield* Output.lines(CompetitionFile.render(result, competition))
    })
).pipe(Command.withDescription("run a one-shot competition from a file and print the ranking and payouts"), reported)
