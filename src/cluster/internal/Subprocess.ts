/**
 * Supervised subprocesses for the real training backends (SPEC §12).
 *
 * Every backend that trains by launching programs (`prime`, Psyche, `cpu-diloco`)
 * runs them through this module, so they share one set of guarantees:
 *
 * - Programs are launched with `@effect/platform` `Command` from an argument vector
 *   (never a shell string), with extra environment variables and a working directory.
 * - Each program runs in its own process group (the Node executor spawns it detached),
 *   inside the caller's `Scope`. Closing the scope — normal end, failure of a sibling,
 *   a deadline, or fiber interruption — terminates the whole group: `SIGTERM`, then
 *   `SIGKILL` after a grace period, and waits until no live member is left. Every group
 *   started in that scope is terminated at once, so closing a run takes about one grace
 *   period however many processes ignore `SIGTERM`. Nothing the run started survives it.
 * - stdout and stderr are decoded and split into lines, and every line is handed to the
 *   caller's `onLine` handler as it arrives (progress, parsing); the last lines of stderr
 *   are kept for error reports.
 * - Failures are domain errors: a missing executable or working directory is
 *   `BackendUnavailable`, a non-zero exit is `BackendFailed` with the exit code and the
 *   end of stderr, and `withDeadline` turns a run past its deadline (on the Effect
 *   `Clock`) into `TrainingTimeout` after its processes are gone.
 *
 * Typical use (`Runner.ts` does this for every backend, with the backend's line parser):
 *
 *     const run = Effect.gen(function*() {
 *       const islands = yield* Effect.forEach(specs, (spec) => Subprocess.start(spec, { backend: "prime", onLine }))
 *       return yield* Effect.forEach(islands, (island) => island.succeeded, { concurrency: "unbounded" })
 *     })
 *     yield* run.pipe(Subprocess.withDeadline({ clusterId, deadlineMillis }))
 *
 * `runAll` is that pattern in one call; `probe` runs a short query such as `--version`;
 * `waitForPort` waits for a server the run started to accept connections;
 * `onRealClock` is for waits that poll the outside world (a port, a file) so that a
 * test can drive the deadline with `TestClock` while real processes run at their pace.
 * The kill grace period is always real time.
 *
 * Process groups and `/proc` make this module POSIX-specific, like the backends it serves.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import { Clock, Duration, Effect, Fiber, Ref, type Scope, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import { BackendFailed, BackendUnavailable, TrainingTimeout } from "../../domain/Errors.js"

/** A program to launch: what to run, with which arguments, environment and working directory. */
export interface ProcessSpec {
  /** Names the process in errors and progress, e.g. `island 2` or `server`. */
  readonly label: string
  /** The executable: a name looked up on `PATH`, or a path. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Variables added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
  /** The island (or client) index the process serves, reported with each line. */
  readonly island?: number | undefined
}

/** One line of a supervised process's output. */
export interface OutputLine {
  readonly label: string
  readonly island: number | undefined
  readonly stream: "stdout" | "stderr"
  readonly text: string
}

/** How a supervised process ended. */
export interface Exited {
  readonly label: string
  /** The exit code; a process killed by a signal reports 128 + the signal number, as shells do. */
  readonly exitCode: number
  /** The signal that killed it, if one did. */
  readonly signal: string | undefined
  /** The last lines of its stderr. */
  readonly stderrTail: string
}

/** A process under supervision; it lives until its scope closes. */
export interface Running {
  readonly label: string
  readonly pid: number
  /** Completes once the process has exited and its output has been read to the end. */
  readonly exited: Effect.Effect<Exited>
  /** Like `exited`, but a non-zero exit is a `BackendFailed` naming the backend and the process. */
  readonly succeeded: Effect.Effect<Exited, BackendFailed>
  /** Terminate the process group now (SIGTERM, then SIGKILL after the grace period) and wait for the exit. */
  readonly stop: Effect.Effect<Exited>
}

/** How to supervise processes. */
export interface SuperviseOptions {
  /** The backend's name, used in errors (`prime`, `psyche`, `cpu-diloco`). */
  readonly backend: string
  /** Called with every output line, in order per stream. */
  readonly onLine?: ((line: OutputLine) => Effect.Effect<void>) | undefined
  /** How many trailing stderr lines a failure reports (default 20). */
  readonly stderrTailLines?: number | undefined
  /** How long a process group gets between SIGTERM and SIGKILL (default 5000 ms). */
  readonly killGraceMillis?: number | undefined
}

/** Default number of stderr lines kept for error reports. */
export const DEFAULT_STDERR_TAIL_LINES = 20
/** Default grace period between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MILLIS = 5000

/** How long to wait for a SIGKILLed group to disappear before giving up on it. */
const KILL_WAIT_MILLIS = 5000
const POLL = Duration.millis(20)

/**
 * The kill sequence runs on the real clock even when the run's deadline is on a
 * `TestClock`: a grace period is a property of real processes, not of logical time.
 */
const liveClock = Clock.make()

/**
 * Run `self` on the real clock. For waits that poll the outside world (a port
 * opening, a file being written): they take real time whatever clock the run's
 * deadline is measured on, so a test can drive the deadline with `TestClock` while
 * real processes start, write and answer at their own pace.
 */
export const onRealClock = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withClock(self, liveClock)

/** Whether something accepts TCP connections on `host:port` now. */
const accepting = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    return Effect.sync(() => socket.destroy())
  })

/**
 * Wait until a server the run started accepts TCP connections on `host:port` (polling
 * every 50 ms in real time, whatever clock the deadline is on). Never fails: bound it
 * with a race (the server exiting, a start timeout) or the run's deadline.
 */
export const waitForPort = (host: string, port: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (!(yield* accepting(host, port))) yield* Effect.sleep(Duration.millis(50))
  }).pipe(onRealClock)

/** The scheduling state of a process from `/proc/<pid>/stat` (`Z` is a zombie), with its group. */
const procStat = (pid: number): { readonly state: string; readonly pgrp: number } | undefined => {
  let text: string
  try {
    text = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const state = fields[0]
  const pgrp = Number(fields[2])
  return state === undefined || !Number.isInteger(pgrp) ? undefined : { state, pgrp }
}

const hasProc = (): boolean => NodeFs.existsSync("/proc/self/stat")

/**
 * Whether process `pid` is alive: it accepts signal 0 and, where `/proc` exists, is
 * not a zombie (an exited process nobody reaped yet holds no resources and runs no code;
 * where the system's init does not reap orphans, they stay zombies forever).
 */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = procStat(pid)
  return stat === undefined ? !hasProc() : stat.state !== "Z"
}

/** Whether any live (non-zombie) process is left in process group `pgid`. */
export const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
  } catch {
    return false
  }
  if (!hasProc()) return true
  let entries: Array<string>
  try {
    entries = NodeFs.readdirSync("/proc")
  } catch {
    return true
  }
  return entries.some((entry) => {
    if (!/^\d+$/.test(entry)) return false
    const stat = procStat(Number(entry))
    return stat !== undefined && stat.pgrp === pgid && stat.state !== "Z"
  })
}

const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // The group is already gone.
  }
}

const waitUntilGone = (pgid: number, millis: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    while (groupAlive(pgid)) {
      if ((yield* Clock.currentTimeMillis) - start >= millis) return false
      yield* Effect.sleep(POLL)
    }
    return true
  })

/**
 * Terminate every live process of group `pgid`: SIGTERM, wait up to `graceMillis`,
 * then SIGKILL and wait for them to disappear. Returns immediately when the group is empty.
 */
export const terminateGroup = (pgid: number, graceMillis: number = DEFAULT_KILL_GRACE_MILLIS): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!groupAlive(pgid)) return
    signalGroup(pgid, "SIGTERM")
    if (yield* waitUntilGone(pgid, graceMillis)) return
    signalGroup(pgid, "SIGKILL")
    yield* waitUntilGone(pgid, KILL_WAIT_MILLIS)
  }).pipe(onRealClock, Effect.uninterruptible)

/**
 * The process groups started in each scope that may still be alive, with their grace
 * periods. A scope's finalizers run one after another, so each process's finalizer
 * terminates every group of its scope concurrently: the first one to run does the work
 * (one grace period for the whole run), the others find their groups gone.
 */
const groupsByScope = new WeakMap<Scope.Scope, Map<number, number>>()

const groupsOf = (scope: Scope.Scope): Map<number, number> => {
  const existing = groupsByScope.get(scope)
  if (existing !== undefined) return existing
  const groups = new Map<number, number>()
  groupsByScope.set(scope, groups)
  return groups
}

/** Terminate every group of `groups` (pgid → grace period) concurrently, wait until all are gone, and forget them. */
const terminateAll = (groups: Map<number, number>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const all = [...groups]
    return Effect.forEach(all, ([pgid, grace]) => terminateGroup(pgid, grace), { concurrency: "unbounded", discard: true })
      .pipe(Effect.ensuring(Effect.sync(() => all.forEach(([pgid]) => groups.delete(pgid)))))
  })

/** Map a launch failure: a missing executable or working directory makes the backend unavailable. */
const launchError = (backend: string, spec: ProcessSpec, error: PlatformError): BackendUnavailable => {
  if (error._tag === "SystemError" && error.module === "FileSystem") {
    return new BackendUnavailable({ backend, missing: `working directory ${spec.cwd ?? "(unset)"}` })
  }
  if (error._tag === "SystemError" && error.reason === "PermissionDenied") {
    // the message reads "… is unavailable: execute permission on <file> not found"
    return new BackendUnavailable({ backend, missing: `execute permission on ${spec.command}` })
  }
  if (error._tag === "SystemError" && error.reason === "NotFound") {
    return new BackendUnavailable({ backend, missing: `executable ${spec.command}` })
  }
  return new BackendUnavailable({ backend, missing: `a runnable executable ${spec.command} (${error.message})` })
}

const signalNumber = (signal: string): number => {
  const signals: Readonly<Record<string, number>> = NodeOs.constants.signals
  return signals[signal] ?? 0
}

/** The exit code of a process, or 128 + signal number when a signal ended it. */
const exitStatus = (
  child: CommandExecutor.Process
): Effect.Effect<{ readonly exitCode: number; readonly signal: string | undefined }> =>
  child.exitCode.pipe(
    Effect.map((code) => ({ exitCode: Number(code), signal: undefined })),
    Effect.catchAll((error) => {
      const signal = /signal: (\w+)/.exec(error.message)?.[1]
      return Effect.succeed(
        signal === undefined ? { exitCode: -1, signal: undefined } : { exitCode: 128 + signalNumber(signal), signal }
      )
    })
  )

/**
 * Launch `spec` under supervision in the current scope. The process runs until it
 * exits or the scope closes, whichever comes first; closing the scope kills its group.
 */
export const start = (
  spec: ProcessSpec,
  options: SuperviseOptions
): Effect.Effect<Running, BackendUnavailable, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function*() {
    const tailLines = options.stderrTailLines ?? DEFAULT_STDERR_TAIL_LINES
    const grace = options.killGraceMillis ?? DEFAULT_KILL_GRACE_MILLIS
    const onLine = options.onLine ?? (() => Effect.void)
    const base = Command.make(spec.command, ...spec.args).pipe(Command.env(spec.env ?? {}))
    const command = spec.cwd === undefined ? base : Command.workingDirectory(base, spec.cwd)
    const groups = groupsOf(yield* Effect.scope)
    const child = yield* Command.start(command).pipe(
      Effect.mapError((error) => launchError(options.backend, spec, error))
    )
    const pid = Number(child.pid)
    groups.set(pid, grace)
    const tail = yield* Ref.make<ReadonlyArray<string>>([])

    const pump = (stream: Stream.Stream<Uint8Array, PlatformError>, which: "stdout" | "stderr") =>
      stream.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.runForEach((text) =>
          Effect.zipRight(
            which === "stderr" ? Ref.update(tail, (lines) => [...lines, text].slice(-tailLines)) : Effect.void,
            onLine({ label: spec.label, island: spec.island, stream: which, text })
          )
        ),
        Effect.catchAll(() => Effect.void)
      )
    const readers = yield* Effect.forkScoped(
      Effect.all([pump(child.stdout, "stdout"), pump(child.stderr, "stderr")], {
        concurrency: 2,
        discard: true
      })
    )
    const waiter = yield* Effect.forkScoped(Effect.gen(function*() {
      const status = yield* exitStatus(child)
      // Whatever the leader left behind in its group goes with it, so the pipes close.
      yield* terminateGroup(pid, grace)
      groups.delete(pid)
      yield* Fiber.join(readers)
      const lines = yield* Ref.get(tail)
      return { label: spec.label, ...status, stderrTail: lines.join("\n") } satisfies Exited
    }))
    // Registered last, so it runs first when the scope closes: kill, then stop reading.
    // It takes every group still alive in the scope down at once, its own included.
    yield* Effect.addFinalizer(() => terminateAll(groups))

    const exited = Fiber.join(waiter)
    const succeeded = Effect.flatMap(exited, (exit) =>
      exit.exitCode === 0 ? Effect.succeed(exit) : Effect.fail(
        new BackendFailed({
          backend: `${options.backend} (${spec.label})`,
          exitCode: exit.exitCode,
          stderrTail: exit.stderrTail
        })
      ))
    return {
      label: spec.label,
      pid,
      exited,
      succeeded,
      stop: Effect.zipRight(terminateGroup(pid, grace), exited)
    } satisfies Running
  })

/**
 * Launch every process and wait until all of them exit 0. The first non-zero exit
 * fails the whole run with `BackendFailed`; the others are killed when the scope closes.
 */
export const runAll = (
  specs: ReadonlyArray<ProcessSpec>,
  options: SuperviseOptions
): Effect.Effect<
  ReadonlyArray<Exited>,
  BackendUnavailable | BackendFailed,
  CommandExecutor.CommandExecutor | Scope.Scope
> =>
  Effect.flatMap(
    Effect.forEach(specs, (spec) => start(spec, options)),
    (running) => Effect.forEach(running, (child) => child.succeeded, { concurrency: "unbounded" })
  )

/** The deadline of a run. */
export interface Deadline {
  /** Reported in the `TrainingTimeout`. */
  readonly clusterId: string
  readonly deadlineMillis: number
}

/**
 * Run `self` in its own scope with a deadline on the Effect `Clock`. Past the
 * deadline the run is interrupted — its scope closes, so every process it started is
 * killed and gone — and it fails with `TrainingTimeout`.
 */
export const withDeadline = (deadline: Deadline) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TrainingTimeout, Exclude<R, Scope.Scope>> =>
  Effect.scoped(self).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(deadline.deadlineMillis),
      onTimeout: () => new TrainingTimeout({ clusterId: deadline.clusterId, deadlineMillis: deadline.deadlineMillis })
    })
  )

/** What a short-lived command printed, and how it ended. */
export interface Probed {
  /** The exit code, or `undefined` when it did not finish within the time allowed (it was killed). */
  readonly exitCode: number | undefined
  /** Its first output lines (stdout and stderr interleaved as they arrived). */
  readonly output: string
}

/**
 * Run a short command (a `--version` query) to completion under supervision and
 * collect its first `maxLines` lines; past `timeoutMillis` (on the Effect `Clock`) it
 * is killed and reported unfinished. A missing executable is `BackendUnavailable`.
 */
export const probe = (
  spec: ProcessSpec,
  options: { readonly backend: string; readonly timeoutMillis: number; readonly maxLines?: number | undefined }
): Effect.Effect<Probed, BackendUnavailable, CommandExecutor.CommandExecutor> =>
  Effect.scoped(Effect.gen(function*() {
    const maxLines = options.maxLines ?? 5
    const lines = yield* Ref.make<ReadonlyArray<string>>([])
    const child = yield* start(spec, {
      backend: options.backend,
      killGraceMillis: 1000,
      onLine: (line) =>
        line.text.trim() === "" ? Effect.void : Ref.update(lines, (all) => (all.length < maxLines ? [...all, line.text] : all))
    })
    const exit = yield* Effect.timeoutOption(child.exited, Duration.millis(options.timeoutMillis))
    const output = (yield* Ref.get(lines)).join("\n")
    return exit._tag === "Some" ? { exitCode: exit.value.exitCode, output } : { exitCode: undefined, output }
  }))
