/** What `trainmarket runs …` does (loaded when it runs). */
import { Clock, Effect, Option } from "effect"
import * as Runs from "../../cluster/Runs.js"
import * as Output from "../Output.js"
import type { CleanOptions, ListOptions } from "../Runs.js"
import { formatBytes, formatDuration } from "../Units.js"

const runJson = (run: Runs.RunDirectory) => ({
  path: run.path,
  backend: run.backend,
  ref: run.ref,
  sizeBytes: run.sizeBytes,
  modified: run.modified.toISOString()
})

const table = (runs: ReadonlyArray<Runs.RunDirectory>, now: number): ReadonlyArray<string> =>
  runs.map((run) =>
    `${formatDuration(now - run.modified.getTime()).padStart(8)} ago  ${formatBytes(run.sizeBytes).padStart(10)}  ` +
    `${run.backend.padEnd(10)}  ${run.path}`
  )

const total = (runs: ReadonlyArray<Runs.RunDirectory>): number => runs.reduce((sum, run) => sum + run.sizeBytes, 0)

/** `runs list`: the run directories, oldest first. */
export const list = (options: ListOptions) =>
  Effect.gen(function*() {
    const where = yield* Runs.directoryOf(Option.getOrUndefined(options.directory))
    const runs = yield* Runs.list(Option.getOrUndefined(options.directory))
    if (options.json) {
      return yield* Output.json({ directory: where, runs: runs.map(runJson), totalBytes: total(runs) })
    }
    if (runs.length === 0) return yield* Output.line(`no run directories in ${where}`)
    yield* Output.lines(table(runs, yield* Clock.currentTimeMillis))
    yield* Output.line(`${runs.length} run directories, ${formatBytes(total(runs))}, in ${where}`)
  })

/** `runs clean`: remove run directories (those older than `olderThan` when given). */
export const clean = (options: CleanOptions) =>
  Effect.gen(function*() {
    const where = yield* Runs.directoryOf(Option.getOrUndefined(options.directory))
    const now = yield* Clock.currentTimeMillis
    const removed = yield* Runs.clean({
      olderThan: Option.getOrUndefined(options.olderThan),
      directory: Option.getOrUndefined(options.directory)
    })
    if (options.json) {
      return yield* Output.json({ directory: where, removed: removed.map(runJson), freedBytes: total(removed) })
    }
    yield* Output.lines(table(removed, now))
    yield* Output.line(`removed ${removed.length} run directories (${formatBytes(total(removed))}) from ${where}`)
  })
