/** What `trainmarket compete` does (loaded when it runs). */
import { Effect, Layer, Option } from "effect"
import { TrainingProgress } from "../../cluster/TrainingCluster.js"
import * as CompetitionFile from "../../files/CompetitionFile.js"
import * as Results from "../../files/Results.js"
import * as Layers from "../../Layers.js"
import type { CompeteOptions } from "../Compete.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"

/** Run the competition file and print its leaderboard (or the JSON result); keep the results with --out. */
export const compete = (options: CompeteOptions) =>
  Effect.gen(function*() {
    const competition = yield* CompetitionFile.load(options.file)
    // one sink: it draws the status lines and records each run's loss curve for --out
    const progress = yield* Progress.make
    const result = yield* CompetitionFile.run(competition, { progress: Layer.succeed(TrainingProgress, progress.sink) }).pipe(
      Effect.ensuring(Output.clearStatus)
    )
    if (options.json) yield* Output.json(CompetitionFile.toJson(result))
    else yield* Output.lines(CompetitionFile.render(result, competition))
    if (Option.isSome(options.out)) {
      const written = yield* Results.writeCompetition(options.out.value, {
        result,
        file: competition,
        curves: yield* progress.curves
      })
      yield* Output.problem(`trainmarket: kept ${written.length} files in ${options.out.value}`)
    }
  }).pipe(Effect.provide(Layers.operatorKey(options.keyFile)))
