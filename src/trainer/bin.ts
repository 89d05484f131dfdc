#!/usr/bin/env node
/**
 * `trainmarket-trainer --config <file.json>`: train one recipe on the CPU with DiLoCo,
 * write a safetensors checkpoint, and print progress as JSON Lines on stdout (start,
 * step, sync, done). Errors go to stderr as one line; the exit code is 2 for a bad
 * command line, run config or data file and 1 for any other failure (including a
 * diverged run). A separate process, so a cluster launches it like any real training
 * framework, with a deadline. It never outlives the process that started it: when
 * its stdin is a pipe and that pipe closes, or its parent process changes (the parent
 * died and it was re-parented), it stops within about a second with exit code 1.
 */
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { ConfigInvalid, ParentGone, UsageInvalid } from "./Errors.js"
import { parseRunConfig } from "./RunConfig.js"
import type { TrainError, TrainEvent } from "./Train.js"

const USAGE = `usage: trainmarket-trainer --config <run-config.json>

Trains one DiLoCo recipe on the CPU and writes <outDir>/model.safetensors.
Progress is printed as JSON Lines on stdout; see docs/trainer.md for the config.`

/** The run config's path, or `undefined` when help is asked for. */
const configPath = (argv: ReadonlyArray<string>): Either.Either<string | undefined, UsageInvalid> => {
  let path: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (arg === "--help" || arg === "-h") return Either.right(undefined)
    if (arg === "--config") {
      const value = argv[i + 1]
      if (value === undefined) return Either.left(new UsageInvalid({ message: "--config needs a file path" }))
      path = value
      i++
    } else if (arg.startsWith("--config=")) {
      path = arg.slice("--config=".length)
    } else {
      return Either.left(new UsageInvalid({ message: `unknown argument ${arg} (try --help)` }))
    }
  }
  if (path === undefined || path === "") {
    return Either.left(new UsageInvalid({ message: "missing --config <file> (try --help)" }))
  }
  return Either.right(path)
}

const readConfig = (path: string): Either.Either<string, ConfigInvalid> => {
  try {
    return Either.right(fs.readFileSync(path, "utf8"))
  } catch (error) {
    return Either.left(
      new ConfigInvalid({
        message: `cannot read run config ${path}: ${error instanceof Error ? error.message : String(error)}`
      })
    )
  }
}

const emit = (event: TrainEvent): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/** Every way the executable fails. */
type BinError = UsageInvalid | ConfigInvalid | ParentGone | TrainError

/** How often the parent process is checked (unless stdin closing says it first). */
const PARENT_POLL_MILLIS = 500

/**
 * Whether stdin is a pipe or a socket (what a parent process or a shell pipeline
 * gives), not a terminal, a file or /dev/null: only a pipe's end means anything.
 */
const stdinIsPipe = (): boolean => {
  try {
    const stat = fs.fstatSync(0)
    return stat.isFIFO() || stat.isSocket()
  } catch {
    return false
  }
}

/**
 * Fails with `ParentGone` once the process that started the trainer is gone: its
 * stdin pipe reaches its end (the parent held the other end, and a dead process's
 * pipes close), or `process.ppid` is no longer the parent it started with (a
 * re-parented orphan). Neither watch keeps the process alive, and interrupting this
 * effect removes both.
 */
const parentGone: Effect.Effect<never, ParentGone> = Effect.async<never, ParentGone>((resume) => {
  const parent = process.ppid
  let reported = false
  const report = (message: string): void => {
    if (reported) return
    reported = true
    resume(Effect.fail(new ParentGone({ message })))
  }
  const poll = setInterval(() => {
    if (process.ppid !== parent) report(`the parent process (pid ${parent}) is gone; stopping`)
  }, PARENT_POLL_MILLIS)
  poll.unref()
  const watchStdin = stdinIsPipe()
  const onEnd = (): void => report("stdin was closed: the process that started the trainer is gone; stopping")
  if (watchStdin) {
    process.stdin.on("end", onEnd)
    process.stdin.on("error", onEnd)
    // Read (and drop) whatever arrives, so the end is seen; never hold the process open.
    process.stdin.resume()
    process.stdin.unref()
  }
  return Effect.sync(() => {
    clearInterval(poll)
    if (watchStdin) {
      process.stdin.off("end", onEnd)
      process.stdin.off("error", onEnd)
      process.stdin.destroy()
    }
  })
})

const main = (argv: ReadonlyArray<string>): Effect.Effect<void, BinError> =>
  Effect.gen(function*() {
    const path = yield* configPath(argv)
    if (path === undefined) {
      process.stdout.write(`${USAGE}\n`)
      return
    }
    const config = yield* Either.flatMap(readConfig(path), parseRunConfig)
    // Loaded only now: a bad config is reported without starting the tensor backend.
    const { train } = yield* Effect.promise(() => import("./Train.js"))
    yield* train(config, emit)
  })

/** Exit code 2 for a bad command line or run config (a config pointing at unusable data is a bad config too), else 1 (a gone parent included). */
const exitCode = (error: BinError): number => {
  switch (error._tag) {
    case "UsageInvalid":
    case "ConfigInvalid":
    case "DataInvalid":
      return 2
    default:
      return 1
  }
}

/** One line on stderr, and the exit code the process ends with (stdout is flushed, not cut off). */
const fail = (code: number, message: string): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`trainmarket-trainer: ${message.split("\n").join(" ")}\n`)
    process.exitCode = code
  })

// A reader that goes away (closed pipe) ends the run with one line, not a stack trace.
process.stdout.on("error", (error) => {
  process.stderr.write(`trainmarket-trainer: cannot write progress to stdout: ${error.message}\n`)
  process.exit(1)
})

// Run without NodeRuntime.runMain on purpose: a deadline's SIGTERM should end the
// process at once (no handler), and its process.exit on failure could cut off
// progress still buffered for a pipe. Whichever ends first wins: the run, or the
// news that the parent is gone (which interrupts the run at its next gap).
Effect.runFork(
  Effect.raceFirst(main(process.argv.slice(2)), parentGone).pipe(
    Effect.catchAll((error) => fail(exitCode(error), error.message)),
    Effect.catchAllDefect((defect) => fail(1, defect instanceof Error ? defect.message : String(defect)))
  )
)
