/**
 * `trainmarket backends check <cluster.json>`: is every real backend a cluster spec
 * names (prime, Psyche, cpu-diloco) installed? The checks are the library's
 * (`cluster/Backends.ts`); this module reads the spec and prints the report, as text or
 * JSON. Exits non-zero when something is missing.
 */
import { Args, Command } from "@effect/cli"
import { Effect } from "effect"
import { check, type CheckReport, type RequirementCheck } from "../cluster/Backends.js"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import * as Json from "../files/Json.js"
import * as Output from "./Output.js"
import { json, Reported, reported } from "./Shared.js"

const describeCheck = (check: RequirementCheck): string => {
  if (!check.found) return `  MISSING  ${check.what}: ${check.target}`
  const where = check.resolved === undefined ? check.target : check.resolved
  if (check.version === undefined) return `  ok       ${check.what}: ${where}`
  const answer = check.version.exitCode === undefined
    ? "no answer in time"
    : `exit ${check.version.exitCode}`
  const output = check.version.output.split("\n")[0] ?? ""
  return `  ok       ${check.what}: ${where}  (${[check.target, ...check.version.args].join(" ")}: ${answer}${
    output === "" ? "" : `, "${output}"`
  })`
}

/** The human-readable lines of a report. */
export const render = (report: CheckReport): ReadonlyArray<string> => [
  ...report.backends.flatMap((backend) => [
    `${backend.path}  ${backend.kind}  ${backend.ok ? "ready" : "NOT READY"}${backend.note === undefined ? "" : `  (${backend.note})`}`,
    ...backend.checks.map(describeCheck)
  ]),
  report.ok ? "all backends are installed" : "some backends are missing something (see above)"
]

const cluster = Args.text({ name: "cluster.json" }).pipe(
  Args.withDescription("a cluster spec: a JSON file, or inline JSON such as '{\"kind\":\"psyche\"}'")
)

/** `backends check`: prints the report (`{"ok","backends":[{"path","kind","ok","checks"}]}` with --json). */
export const checkCommand = Command.make(
  "check",
  { cluster, json },
  (options) =>
    Effect.gen(function*() {
      const spec = yield* Json.readArgument(ClusterSpec.ClusterSpec, options.cluster, "cluster.json")
      const report = yield* check(spec)
      if (options.json) yield* Output.json(report)
      else yield* Output.lines(render(report))
      if (!report.ok) return yield* new Reported({ exitCode: 1 })
    })
).pipe(
  reported,
  Command.withDescription(
    "check that the backends a cluster spec names are installed (executables, working directory, versions) without training"
  )
)

/** The `backends` subcommand. */
export const command = Command.make("backends").pipe(
  Command.withDescription("inspect the real training backends (prime, Psyche, cpu-diloco) a cluster spec names"),
  Command.withSubcommands([checkCommand])
)
