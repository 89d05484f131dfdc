/**
 * `trainmarket demo`: the reference one-shot competition of SPEC §7 on the
 * built-in simulator, as a readable leaderboard.
 */
import { Command } from "@effect/cli"
import { Console, Effect, Layer } from "effect"
import * as LocalSim from "../cluster/LocalSimCluster.js"
import { runOneShot } from "../market/OneShot.js"
import { referenceCompetition } from "../market/Reference.js"
import * as SimHeldOut from "../scorer/HeldOutScorer.js"
import { outcomeJson } from "./Compete.js"
import { leaderboard } from "./Render.js"
import { json, printJson, reporting } from "./Shared.js"

/** The `demo` subcommand. */
export const command = Command.make(
  "demo",
  { json },
  (options) =>
    Effect.gen(function*() {
      const outcome = yield* runOneShot(referenceCompetition).pipe(
        Effect.provide(Layer.merge(LocalSim.layer, SimHeldOut.layer))
      )
      if (options.json) return yield* printJson(outcomeJson(outcome))
      yield* Console.log("trainmarket demo: the reference one-shot competition on the built-in simulator\n")
      for (const line of leaderboard(outcome, referenceCompetition.poolWei)) yield* Console.log(line)
      yield* Console.log(
        "\nEvery candidate was trained by the cluster and re-scored by the referee on the held-out split;" +
          "\nonly lifts whose 95% CI lower bound clears the gate (>= 0.02 over >= 12 shards) are paid."
      )
    }).pipe(reporting(options.json))
).pipe(Command.withDescription("run the reference competition on the simulator and print its leaderboard"))
