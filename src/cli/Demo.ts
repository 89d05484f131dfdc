/**
 * `trainmarket demo`: the reference one-shot competition of SPEC §7 on the built-in
 * simulator, as a readable leaderboard.
 */
import { Command } from "@effect/cli"
import { describe } from "./Help.js"
import { json, lazily, reported } from "./Shared.js"

const demoConfig = { json }

/** What the `demo` handler is given. */
export type DemoOptions = Command.Command.ParseConfig<typeof demoConfig>

/** The `demo` subcommand. */
export const command = Command.make(
  "demo",
  demoConfig,
  (options) => lazily(() => import("./handlers/Demo.js"), (handler) => handler.demo(options))
).pipe(
  Command.withDescription(describe("run the reference competition on the built-in simulator and print its leaderboard", {
    details: [
      "Five researchers, 16 held-out shards, the default gate, a 1,000,000 wei pool split 50/30/20 among the best " +
      "three (SPEC §7). Nothing is written to disk."
    ],
    examples: ["trainmarket demo", "trainmarket demo --json"]
  })),
  reported
)
