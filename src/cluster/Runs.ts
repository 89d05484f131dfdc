/**
 * Run directories: where a real backend (prime, Psyche, cpu-diloco) keeps one training
 * run's config files, logs and checkpoints.
 *
 * - Where: `$XDG_CACHE_HOME/trainmarket/runs` (`~/.cache/trainmarket/runs` when the
 *   variable is unset, empty or not an absolute path, as the XDG spec asks), or the
 *   backend's `checkpointDir` option when it names one. Never the OS temp directory.
 * - Named `<backend>-<16 hex of the artifact ref>-<6 random characters>`, so a listing
 *   says which backend made it and which recipe and seed it trained.
 * - A run that fails, times out or is interrupted has its directory removed once its
 *   processes are gone. A successful run's directory stays: the artifact's
 *   `checkpoint` points into it. `list` shows them, `clean` removes them (all, or those
 *   not modified for a while); these back `trainmarket runs list` and
 *   `trainmarket runs clean [--older-than …]`.
 *
 * `clean` removes every run directory it matches, including one a run is still
 * writing: pass `olderThan` to spare recent ones. Nothing but directories named like
 * runs is ever listed or removed, so a `checkpointDir` shared with other files is safe.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import { Clock, Config, Duration, Effect, Option } from "effect"
import * as NodeOs from "node:os"
import { BackendUnavailable, RunDirectoryUnavailable } from "../domain/Errors.js"

/**
 * The user's trainmarket cache directory: `$XDG_CACHE_HOME/trainmarket`, or
 * `$HOME/.cache/trainmarket` (read from the Effect `ConfigProvider`, the environment by default).
 */
export const cacheDirectory: Effect.Effect<string, never, Path.Path> = Effect.gen(function*() {
  const path = yield* Path.Path
  const xdg = yield* Config.string("XDG_CACHE_HOME").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
  if (xdg !== "" && path.isAbsolute(xdg)) return path.join(xdg, "trainmarket")
  const home = yield* Config.string("HOME").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
  return path.join(home === "" ? NodeOs.homedir() : home, ".cache", "trainmarket")
})

/** Where runs go by default: `runs` in the cache directory. */
export const defaultDirectory: Effect.Effect<string, never, Path.Path> = Effect.flatMap(
  Path.Path,
  (path) => Effect.map(cacheDirectory, (cache) => path.join(cache, "runs"))
)

/** Where a backend's runs go: its `checkpointDir` when it names one (made absolute), else the default. */
export const directoryOf = (checkpointDir: string | undefined): Effect.Effect<string, never, Path.Path> =>
  checkpointDir === undefined ? defaultDirectory : Effect.map(Path.Path, (path) => path.resolve(checkpointDir))

const RUN_NAME = /^(.+)-([0-9a-f]{16})-[A-Za-z0-9]{6}$/

/** The backend and ref digits of a run directory's name, if it is named like one. */
export const parseName = (name: string): { readonly backend: string; readonly ref: string } | undefined => {
  const match = RUN_NAME.exec(name)
  return match?.[1] === undefined || match[2] === undefined ? undefined : { backend: match[1], ref: match[2] }
}

/**
 * A fresh run directory for `backend` training the artifact `ref` (`training:<16 hex>`),
 * in `checkpointDir` or the default directory (created as needed). A directory that
 * cannot be created is `BackendUnavailable`.
 */
export const make = (
  backend: string,
  checkpointDir: string | undefined,
  ref: string
): Effect.Effect<string, BackendUnavailable, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* directoryOf(checkpointDir)
    const made = yield* Effect.zipRight(
      fs.makeDirectory(directory, { recursive: true }),
      fs.makeTempDirectory({ directory, prefix: `${backend}-${ref.slice(ref.indexOf(":") + 1)}-` })
    ).pipe(
      Effect.mapError((error) =>
        new BackendUnavailable({ backend, missing: `a writable checkpoint directory (${directory}: ${error.message})` })
      )
    )
    return made
  })

/** Remove a run directory and everything in it; a failure to do so is ignored (nothing is left to act on). */
export const remove = (runDirectory: string): Effect.Effect<void, never, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.remove(runDirectory, { recursive: true })).pipe(Effect.ignore)

/** One run directory as `list` reports it. */
export interface RunDirectory {
  readonly path: string
  /** The backend that made it (`prime`, `psyche`, `cpu-diloco`). */
  readonly backend: string
  /** The artifact ref of the run (`training:<16 hex>`): its recipe and seed. */
  readonly ref: string
  /** Bytes in its regular files, recursively. */
  readonly sizeBytes: number
  /** The latest modification time of the directory or anything in it. */
  readonly modified: Date
}

const unavailable = (path: string) => (error: PlatformError) =>
  new RunDirectoryUnavailable({ path, reason: error.message })

/** Size and latest modification of one run directory; entries that vanish while it is read are skipped. */
const measure = (
  directory: string
): Effect.Effect<{ readonly sizeBytes: number; readonly modified: Date }, PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const top = yield* fs.stat(directory)
    let sizeBytes = 0
    let modified = Option.getOrElse(top.mtime, () => new Date(0)).getTime()
    for (const entry of yield* fs.readDirectory(directory, { recursive: true })) {
      const info = yield* Effect.option(fs.stat(path.join(directory, entry)))
      if (Option.isNone(info)) continue
      if (info.value.type === "File") sizeBytes += Number(info.value.size)
      modified = Math.max(modified, Option.getOrElse(Option.map(info.value.mtime, (d) => d.getTime()), () => 0))
    }
    return { sizeBytes, modified: new Date(modified) }
  })

/**
 * The run directories in `directory` (default: the default directory), oldest first.
 * A directory that does not exist holds none; one that cannot be read is
 * `RunDirectoryUnavailable`.
 */
export const list = (
  directory?: string
): Effect.Effect<ReadonlyArray<RunDirectory>, RunDirectoryUnavailable, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const where = yield* directoryOf(directory)
    if (!(yield* fs.exists(where).pipe(Effect.mapError(unavailable(where))))) return []
    const runs: Array<RunDirectory> = []
    for (const name of yield* fs.readDirectory(where).pipe(Effect.mapError(unavailable(where)))) {
      const parsed = parseName(name)
      const run = path.join(where, name)
      if (parsed === undefined) continue
      const info = yield* Effect.option(fs.stat(run))
      if (Option.isNone(info) || info.value.type !== "Directory") continue
      const measured = yield* measure(run).pipe(Effect.mapError(unavailable(run)))
      runs.push({ path: run, backend: parsed.backend, ref: `training:${parsed.ref}`, ...measured })
    }
    return runs.sort((a, b) => a.modified.getTime() - b.modified.getTime() || (a.path < b.path ? -1 : 1))
  })

/** What `clean` removes. */
export interface CleanOptions {
  /** Only runs not modified for this long (on the Effect `Clock`); default: every run. */
  readonly olderThan?: Duration.DurationInput | undefined
  /** Where the runs are (a backend's `checkpointDir`); default: the default directory. */
  readonly directory?: string | undefined
}

/** Remove run directories (see `CleanOptions`); returns those removed, oldest first. */
export const clean = (
  options: CleanOptions = {}
): Effect.Effect<ReadonlyArray<RunDirectory>, RunDirectoryUnavailable, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const now = yield* Clock.currentTimeMillis
    const cutoff = options.olderThan === undefined ? Infinity : now - Duration.toMillis(options.olderThan)
    const stale = (yield* list(options.directory)).filter((run) => run.modified.getTime() <= cutoff)
    yield* Effect.forEach(stale, (run) => fs.remove(run.path, { recursive: true }).pipe(Effect.mapError(unavailable(run.path))), {
      discard: true
    })
    return stale
  })
