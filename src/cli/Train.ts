/**
 * `trainmarket train`: train one recipe (`--recipe --seed`) or a JSON Lines stream of
 * `{"recipe","seed"}` (`--input file|-`) on a cluster, printing artifacts.
 */
import { Command, Options } from "@effect/cli"
import { describe } from "./Help.js"
import { json, keyFile, lazily, recipe as recipeOption, reported, seedOption } from "./Shared.js"

const recipe = recipeOption.pipe(Options.optional)
const seed = seedOption("seed", "the training seed, an unsigned 64-bit integer").pipe(Options.optional)
const input = Options.text("input").pipe(
  Options.withPseudoName("<file.jsonl|->"),
  Options.withDescription("train every {\"recipe\",\"seed\"} line of a JSON Lines file (- for stdin), one artifact out per line"),
  Options.optional
)
/** `--cluster`: a cluster spec, inline JSON or a path to a JSON file (default the simulator). */
export const cluster = Options.text("cluster").pipe(
  Options.withPseudoName("<json|file>"),
  Options.withDescription("the cluster spec as JSON or a path to a JSON file (default {\"kind\":\"local-sim\"})"),
  Options.optional
)

const trainConfig = { recipe, seed, input, cluster, keyFile, json }

/** What the `train` handler is given. */
export type TrainOptions = Command.Command.ParseConfig<typeof trainConfig>

/** The `train` subcommand. */
export const command = Command.make(
  "train",
  trainConfig,
  (options) => lazily(() => import("./handlers/Train.js"), (handler) => handler.train(options))
).pipe(
  Command.withDescription(describe("train a recipe on a cluster and print the trained artifact", {
    details: [
      "Give --recipe and --seed, or --input. The artifact carries a receipt signed with the operator's key: " +
      "only a referee holding that key will score it."
    ],
    examples: [
      "trainmarket train --recipe '{\"islands\":8,\"innerSteps\":32,\"innerLr\":0.003,\"outerLr\":0.7,\"keepFraction\":0.2}' --seed 7 --json",
      "trainmarket train --input examples/recipes.jsonl --json",
      "trainmarket train --cluster '{\"kind\":\"cpu-diloco\"}' --recipe examples/recipe.json --seed 1 --json > artifact.json"
    ]
  })),
  reported
)
