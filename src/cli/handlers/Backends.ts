/** What `trainmarket backends check` does (loaded when it runs). */
import { Effect } from "effect"
import { check as checkSpec, type CheckReport, type RequirementCheck } from "../../cluster/Backends.js"
import * as ClusterSpec from "../../cluster/ClusterSpec.js"
import * as Json from "../../files/Json.js"
import type { CheckOptions } from "../Backends.js"
import * as Output from "../Output.js"
import { Reported } from "../Shared.js"

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

/** Check the spec's backends and print the report; exit 1 when one is not ready. */
export const check = (options: CheckOptions) =>
  Effect.gen(function*() {
    const spec = yield* Json.readArgument(ClusterSpec.ClusterSpec, options.cluster, "cluster.json")
    const report = yield* checkSpec(spec)
    if (options.json) yield* Output.json(report)
    else yield* Output.lines(render(report))
    if (!report.ok) return yield* new Reported({ exitCode: 1 })
  })
