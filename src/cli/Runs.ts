/**
 * `trainmarket runs list` and `trainmarket runs clean [--older-than …]`: the run
 * directories real training leaves in the user's cache (`$XDG_CACHE_HOME/trainmarket/runs`),
 * each holding one successful run's configs, logs and checkpoint (`cluster/Runs.ts`).
 */
import { Command, Options } from "@effect/cli"
import { Either } from "effect"
import { describe } from "./Help.js"
import { json, lazily, parsedOption, reported, showHelp } from "./Shared.js"
import { parseDuration } from "./Units.js"

const directory = Options.text("dir").pipe(
  Options.withPseudoName("<dir>"),
  Options.withDescription("where the runs are: a cluster's checkpointDir (default: the cache's runs directory)"),
  Options.optional
)

const olderThan = parsedOption(
  Options.text("older-than").pipe(
    Options.withPseudoName("<duration>"),
    Options.withDescription("only runs not modified for this long: 7d, 12h, 30m, 1h30m (default: every run)")
  ),
  "--older-than",
  (text) => {
    const parsed = parseDuration(text)
    return "millis" in parsed ? Either.right(parsed.millis) : Either.left(parsed.problem)
  }
).pipe(Options.optional)

const listConfig = { directory, json }

/** What the `list` handler is given. */
export type ListOptions = Command.Command.ParseConfig<typeof listConfig>

/** `runs list`. */
export const listCommand = Command.make(
  "list",
  listConfig,
  (options) => lazily(() => import("./handlers/Runs.js"), (handler) => handler.list(options))
).pipe(
  Command.withDescription(describe("list the run directories of real training, oldest first, with their size", {
    examples: ["trainmarket runs list", "trainmarket runs list --json"]
  })),
  reported
)

const cleanConfig = { olderThan, directory, json }

/** What the `clean` handler is given. */
export type CleanOptions = Command.Command.ParseConfig<typeof cleanConfig>

/** `runs clean`. */
export const cleanCommand = Command.make(
  "clean",
  cleanConfig,
  (options) => lazily(() => import("./handlers/Runs.js"), (handler) => handler.clean(options))
).pipe(
  Command.withDescription(describe("remove run directories (all, or those not modified for a while)", {
    details: [
      "A removed run's artifacts can no longer be scored: their checkpoints are gone. Results kept with " +
      "`compete --out` hold copies of theirs. Only directories named like runs are touched."
    ],
    examples: ["trainmarket runs clean --older-than 7d", "trainmarket runs clean --json"]
  })),
  reported
)

/** The `runs` group. */
export const command = Command.make("runs", {}, showHelp).pipe(
  Command.withDescription("the run directories real training keeps in the cache"),
  Command.withSubcommands([listCommand, cleanCommand])
)
