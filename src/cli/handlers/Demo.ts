/** What `trainmarket demo` does (loaded when it runs). */
import { Effect } from "effect"
import * as CompetitionFile from "../../files/CompetitionFile.js"
import * as OperatorKey from "../../integrity/OperatorKey.js"
import * as Layers from "../../Layers.js"
import { runOneShot } from "../../market/OneShot.js"
import { referenceCompetition } from "../../market/Reference.js"
import type { DemoOptions } from "../Demo.js"
import * as Output from "../Output.js"

/** Run the reference competition and print its leaderboard (or the JSON result). */
export const demo = (options: DemoOptions) =>
  Effect.gen(function*() {
    // the demo's clusters and referee live in this one process: a key of its own, never written to disk
    const outcome = yield* runOneShot(referenceCompetition).pipe(
      Effect.provide(Layers.simulated),
      Effect.provide(OperatorKey.layerEphemeral)
    )
    if (options.json) return yield* Output.json(CompetitionFile.outcomeJson(outcome))
    yield* Output.line("trainmarket demo: the reference one-shot competition on the built-in simulator\n")
    yield* Output.lines(CompetitionFile.leaderboard(outcome, referenceCompetition.poolWei))
    yield* Output.line(
      "\nEvery candidate was trained by the cluster and re-scored by the referee on the held-out split;" +
        "\nonly lifts whose 95% CI lower bound clears the gate (>= 0.02 over >= 12 shards) are paid."
    )
  })
