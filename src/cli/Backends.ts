/**
 * `trainmarket backends check <cluster.json>`: is every real backend a cluster spec
 * names (prime, Psyche, cpu-diloco) installed? The checks are the library's
 * (`cluster/Backends.ts`); the handler reads the spec and prints the report. Exits
 * non-zero when something is missing.
 */
import { Args, Command } from "@effect/cli"
import { describe } from "./Help.js"
import { json, lazily, reported, showHelp } from "./Shared.js"

const cluster = Args.text({ name: "cluster.json" }).pipe(
  Args.withDescription("a cluster spec: a JSON file, or inline JSON such as '{\"kind\":\"psyche\"}'")
)

const checkConfig = { cluster, json }

/** What the `check` handler is given. */
export type CheckOptions = Command.Command.ParseConfig<typeof checkConfig>

/** `backends check`: prints the report (`{"ok","backends":[{"path","kind","ok","checks"}]}` with --json). */
export const checkCommand = Command.make(
  "check",
  checkConfig,
  (options) => lazily(() => import("./handlers/Backends.js"), (handler) => handler.check(options))
).pipe(
  Command.withDescription(describe("check that the backends a cluster spec names are installed, without training", {
    details: [
      "Walks hierarchies and sealed wrappers; for each real backend reports its executables (and what they answer " +
      "to --version), prime's working directory and script, cpu-diloco's trainer. Exits 1 when something is missing."
    ],
    examples: [
      "trainmarket backends check examples/cluster.json",
      "trainmarket backends check '{\"kind\":\"psyche\"}' --json"
    ]
  })),
  reported
)

/** The `backends` group. */
export const command = Command.make("backends", {}, showHelp).pipe(
  Command.withDescription("the real training backends (prime, Psyche, cpu-diloco) a cluster spec names"),
  Command.withSubcommands([checkCommand])
)
