/**
 * `trainmarket backends check <cluster.json>`: is every real backend a cluster spec
 * names (prime, Psyche, cpu-diloco) installed? For each one it reports whether its executables and working
 * directory exist and what the executables print as their version — without training
 * anything. Compositions (hierarchies, sealed wrappers) are walked; each backend is
 * named by its path (`root/1/0`). Exits non-zero when something is missing.
 */
import { Args, Command } from "@effect/cli"
import type { CommandExecutor, FileSystem } from "@effect/platform"
import { Path } from "@effect/platform"
import { Effect } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import * as CpuDiloco from "../cluster/CpuDilocoCluster.js"
import { checkRequirement, type Requirement, type RequirementCheck } from "../cluster/internal/RealBackend.js"
import * as Prime from "../cluster/PrimeCluster.js"
import * as Psyche from "../cluster/PsycheCluster.js"
import type { ClusterInvalid } from "../domain/Errors.js"
import * as Json from "../files/Json.js"
import * as Output from "./Output.js"
import { json, Reported, reported } from "./Shared.js"

/** The check of one backend of a cluster spec. */
export interface BackendReport {
  /** Where it sits in the spec: `root`, `root/0`, … */
  readonly path: string
  readonly kind: string
  readonly ok: boolean
  readonly checks: ReadonlyArray<RequirementCheck>
  readonly note?: string | undefined
}

/** The whole report `backends check --json` prints. */
export interface CheckReport {
  readonly ok: boolean
  readonly backends: ReadonlyArray<BackendReport>
}

type CheckContext = FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor

const checkAll = (
  path: string,
  kind: string,
  backend: string,
  requirements: ReadonlyArray<Requirement>
): Effect.Effect<ReadonlyArray<BackendReport>, never, CheckContext> =>
  Effect.map(
    Effect.forEach(requirements, (requirement) => checkRequirement(backend, requirement)),
    (checks) => [{ path, kind, ok: checks.every((check) => check.found), checks }]
  )

/** Check every real backend a cluster spec names (options that contradict each other are `ClusterInvalid`). */
export const checkSpec = (
  spec: ClusterSpec.ClusterSpec,
  at = "root"
): Effect.Effect<ReadonlyArray<BackendReport>, ClusterInvalid, CheckContext> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    if (spec.kind === "prime") {
      const settings = yield* Prime.settings(spec, path)
      return yield* checkAll(at, spec.kind, Prime.BACKEND, Prime.requirements(settings))
    }
    if (spec.kind === "psyche") {
      return yield* checkAll(at, spec.kind, Psyche.BACKEND, Psyche.requirements(Psyche.settings(spec, path)))
    }
    if (spec.kind === "cpu-diloco") {
      const settings = yield* CpuDiloco.settings(spec)
      return yield* checkAll(at, spec.kind, CpuDiloco.BACKEND, CpuDiloco.requirements(settings))
    }
    if (spec.kind === "hierarchical") {
      const inner = yield* Effect.forEach(spec.inner, (child, index) => checkSpec(child, `${at}/${index}`))
      return inner.flat()
    }
    if (spec.kind === "sealed") return yield* checkSpec(spec.inner, at)
    return [{
      path: at,
      kind: spec.kind,
      ok: true,
      checks: [],
      note: spec.kind === "local-sim" ? "simulated in-process: needs nothing installed" : "no installation check for this kind"
    }]
  })

/** Check a spec and summarise. */
export const check = (spec: ClusterSpec.ClusterSpec): Effect.Effect<CheckReport, ClusterInvalid, CheckContext> =>
  Effect.map(checkSpec(spec), (backends) => ({ ok: backends.every((b) => b.ok), backends }))

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
  Command.withDescription("inspect the real training backends (prime, Psyche) a cluster spec names"),
  Command.withSubcommands([checkCommand])
)
