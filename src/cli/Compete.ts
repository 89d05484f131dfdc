/**
 * `trainmarket compete <competition.json>`: run a one-shot competition from a file
 * (SPEC §14) on the cluster and scorer it names, and print its leaderboard (or the
 * whole result as JSON), optionally keeping the results in a folder.
 */
import { Args, Command } from "@effect/cli"
import { describe } from "./Help.js"
import { json, keyFile, lazily, out, reported } from "./Shared.js"

const file = Args.text({ name: "competition.json" }).pipe(Args.withDescription("the competition file (SPEC §14)"))

const competeConfig = { file, out, keyFile, json }

/** What the `compete` handler is given. */
export type CompeteOptions = Command.Command.ParseConfig<typeof competeConfig>

/** The `compete` subcommand. */
export const command = Command.make(
  "compete",
  competeConfig,
  (options) => lazily(() => import("./handlers/Compete.js"), (handler) => handler.compete(options))
).pipe(
  Command.withDescription(describe("run a one-shot competition from a file and print the ranking and payouts", {
    details: [
      "The baseline and every researcher train on the file's cluster (`concurrency` at once), the referee re-scores " +
      "each artifact on the held-out split, and lifts whose 95% CI clears the gate are paid. With --out the folder " +
      "gets result.json, leaderboard.txt, the artifacts with their checkpoints, lifts.svg and, for real training, " +
      "loss.svg."
    ],
    examples: [
      "trainmarket compete examples/reference-competition.json",
      "trainmarket compete examples/real-cpu-competition.json --out results",
      "trainmarket compete examples/reference-competition.json --json"
    ]
  })),
  reported
)
