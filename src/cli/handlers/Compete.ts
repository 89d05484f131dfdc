/** What `trainmarket compete` does (loaded when it runs). */
import { Effect, Option } from "effect"
import * as CompetitionFile from "../../files/CompetitionFile.js"
import * as Layers from "../../Layers.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"

/** Run the competition file and print its leaderboard (or the JSON result); keep the results with --out. */
export const compete = (options: {
  readonly file: string
  readonly out: Option.Option<string>
  readonly keyFile: Option.Option<string>
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const competition = yield* CompetitionFile.load(options.file)
    const result = yield* CompetitionFile.run(competition, { progress: Progress.layer }).pipe(
      Effect.ensuring(Output.clearStatus),
      Effect.provide(Layers.operatorKey(options.keyFile))
    )
    if (options.json) return yield* Output.json(CompetitionFile.toJson(result))
    yield* Output.lines(CompetitionFile.render(result, competition))
  })
