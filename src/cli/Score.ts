/**
 * `trainmarket score`: the referee measures an artifact (`--artifact`) or a JSON Lines
 * stream of artifacts (`--input file|-`) on a split.
 */
import { Command, Options } from "@effect/cli"
import { describe } from "./Help.js"
import { artifact as artifactOption, json, keyFile, lazily, reported } from "./Shared.js"

const artifact = artifactOption.pipe(Options.optional)
const input = Options.text("input").pipe(
  Options.withPseudoName("<file.jsonl|->"),
  Options.withDescription("score every artifact line of a JSON Lines file (- for stdin), one measurement out per line"),
  Options.optional
)
const split = Options.choice("split", ["held-out", "dev"]).pipe(
  Options.withDescription("the split to measure on (default: held-out)"),
  Options.withDefault("held-out" as const)
)
const shards = Options.integer("shards").pipe(
  Options.withPseudoName("<n>"),
  Options.withDescription("evaluation shards (default: the scorer spec's, else 16)"),
  Options.optional
)
const scorer = Options.text("scorer").pipe(
  Options.withPseudoName("<json|file>"),
  Options.withDescription("the scorer spec as JSON or a path to a JSON file (default {\"kind\":\"sim-held-out\"})"),
  Options.optional
)

const scoreConfig = { artifact, input, split, shards, scorer, keyFile, json }

/** What the `score` handler is given. */
export type ScoreOptions = Command.Command.ParseConfig<typeof scoreConfig>

/** The `score` subcommand. */
export const command = Command.make(
  "score",
  scoreConfig,
  (options) => lazily(() => import("./handlers/Score.js"), (handler) => handler.score(options))
).pipe(
  Command.withDescription(describe("re-score a trained artifact on a split: the referee's measurement", {
    details: [
      "Give --artifact or --input. The artifact's receipt is checked first (it must be signed with the operator's " +
      "key); a real artifact needs the checkpoint scorer."
    ],
    examples: [
      "trainmarket score --artifact artifact.json --json",
      "trainmarket score --scorer '{\"kind\":\"checkpoint\"}' --artifact artifact.json --split dev",
      "trainmarket train --input examples/recipes.jsonl --json | trainmarket score --input - --json"
    ]
  })),
  reported
)
