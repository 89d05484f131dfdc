/**
 * Installation checks (`trainmarket backends check`): is every real backend a cluster
 * spec names installed? For each leaf of the spec (compositions are walked; each leaf
 * is named by its path, `root/1/0`) it checks what the kind's registry entry requires:
 * executables found on `PATH` or by path and what they print as their version, and the
 * paths (a checkout, a script) that must exist — without training anything.
 */
import type { CommandExecutor } from "@effect/platform"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect } from "effect"
import { delimiter } from "node:path"
import type { ClusterInvalid } from "../domain/Errors.js"
import type { Requirement } from "./ClusterKind.js"
import * as ClusterSpec from "./ClusterSpec.js"
import * as Subprocess from "./internal/Subprocess.js"

/** The outcome of checking one requirement, without training anything. */
export interface RequirementCheck {
  readonly what: string
  readonly found: boolean
  /** The executable's name or the path looked for. */
  readonly target: string
  /** Where the executable was found. */
  readonly resolved?: string | undefined
  /** What the version query printed (`exitCode` absent when it did not finish in time). */
  readonly version?: {
    readonly args: ReadonlyArray<string>
    readonly exitCode: number | undefined
    readonly output: string
  } | undefined
}

/** The check of one leaf of a cluster spec. */
export interface BackendReport {
  /** Where it sits in the spec: `root`, `root/0`, … */
  readonly path: string
  readonly kind: string
  readonly ok: boolean
  readonly checks: ReadonlyArray<RequirementCheck>
  readonly note?: string | undefined
}

/** The whole report (`backends check --json` prints it). */
export interface CheckReport {
  readonly ok: boolean
  readonly backends: ReadonlyArray<BackendReport>
}

/** What checking needs: files, paths, and running version queries. */
export type CheckContext = FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor

/** How long a version query may take. */
export const VERSION_TIMEOUT_MILLIS = 10_000

const isExecutableFile = (file: string): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(file)).pipe(
    Effect.map((info) => info.type === "File" && (info.mode & 0o111) !== 0),
    Effect.orElseSucceed(() => false)
  )

/** Find an executable the way a shell would: a path as given, a bare name on `PATH`. */
export const resolveExecutable = (
  command: string
): Effect.Effect<string | undefined, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    if (command.includes("/")) {
      const file = path.resolve(command)
      return (yield* isExecutableFile(file)) ? file : undefined
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (dir === "") continue
      const file = path.join(dir, command)
      if (yield* isExecutableFile(file)) return file
    }
    return undefined
  })

/** Check one requirement: does it exist, and (for an executable) what does it print as its version. */
export const checkRequirement = (
  backend: string,
  requirement: Requirement
): Effect.Effect<RequirementCheck, never, CheckContext> =>
  Effect.gen(function*() {
    if (requirement.kind === "path") {
      const found = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(requirement.path)).pipe(
        Effect.orElseSucceed(() => false)
      )
      return { what: requirement.what, found, target: requirement.path }
    }
    const resolved = yield* resolveExecutable(requirement.command)
    if (resolved === undefined) return { what: requirement.what, found: false, target: requirement.command }
    const version = yield* Subprocess.probe(
      { label: `${requirement.what} version`, command: resolved, args: requirement.versionArgs, cwd: requirement.cwd },
      { backend, timeoutMillis: VERSION_TIMEOUT_MILLIS }
    ).pipe(
      Effect.map((probed) => ({ args: requirement.versionArgs, ...probed })),
      Effect.catchAll((error) => Effect.succeed({ args: requirement.versionArgs, exitCode: undefined, output: error.message }))
    )
    return { what: requirement.what, found: true, target: requirement.command, resolved, version }
  })

/** Check every leaf of a cluster spec (options that contradict each other are `ClusterInvalid`). */
export const checkSpec = (
  spec: ClusterSpec.ClusterSpec,
  at = "root"
): Effect.Effect<ReadonlyArray<BackendReport>, ClusterInvalid, CheckContext> =>
  Effect.forEach(ClusterSpec.leaves(spec, at), ({ path, spec: leaf, ops }) =>
    ops.requirements === undefined
      ? Effect.succeed({
        path,
        kind: leaf.kind,
        ok: true,
        checks: [],
        note: ops.note ?? "no installation check for this kind"
      })
      : Effect.flatMap(ops.requirements, (requirements) =>
        Effect.map(
          Effect.forEach(requirements, (requirement) => checkRequirement(leaf.kind, requirement)),
          (checks) => ({ path, kind: leaf.kind, ok: checks.every((check) => check.found), checks })
        )))

/** Check a spec and summarise: `ok` when every leaf is ready. */
export const check = (spec: ClusterSpec.ClusterSpec): Effect.Effect<CheckReport, ClusterInvalid, CheckContext> =>
  Effect.map(checkSpec(spec), (backends) => ({ ok: backends.every((b) => b.ok), backends }))
