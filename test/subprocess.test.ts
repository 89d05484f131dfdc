/**
 * The shared subprocess supervisor, against real programs: lines streamed in order,
 * typed failures (missing executable or directory, non-zero exit, signals), deadlines
 * on the real clock and on TestClock, interruption — and, after every failure, no
 * process of the run left alive (pid files written by the programs themselves).
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Ref, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Subprocess from "../src/cluster/internal/Subprocess.js"
import { removeTempDirs, running, tempDir, waitForPid, writeScript } from "./fixtures/standins.js"
import { afterAll } from "vitest"

afterAll(removeTempDirs)

/** A script that records its pid, then runs `body`. */
const pidScript = (dir: string, name: string, body: string): string =>
  writeScript(
    dir,
    name,
    `require("fs").writeFileSync(${JSON.stringify(path.join(dir, `${name}.pid`))}, String(process.pid));\n${body}`
  )

const HANG = "setInterval(() => {}, 1000);"

layer(NodeContext.layer, { excludeTestServices: true, timeout: "30 seconds" })("Subprocess (real clock)", (it) => {
  it.effect("streams stdout and stderr line by line and joins a zero exit", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-ok")
      const script = writeScript(
        dir,
        "talk",
        `for (let i = 1; i <= 3; i++) { process.stdout.write("out " + i + "\\n"); process.stderr.write("err " + i + "\\n") }
         process.stdout.write("no newline at the end")`
      )
      const lines = yield* Ref.make<Array<string>>([])
      const [exit] = yield* Subprocess.runAll([{ label: "talker", command: script, args: [], island: 7 }], {
        backend: "test",
        onLine: (line) =>
          Ref.update(lines, (all) => [...all, `${line.label}/${line.island}/${line.stream}: ${line.text}`])
      }).pipe(Effect.scoped)
      assert.strictEqual(exit?.exitCode, 0)
      const seen = yield* Ref.get(lines)
      assert.deepStrictEqual(seen.filter((l) => l.includes("/stdout: ")), [
        "talker/7/stdout: out 1",
        "talker/7/stdout: out 2",
        "talker/7/stdout: out 3",
        "talker/7/stdout: no newline at the end"
      ])
      assert.deepStrictEqual(seen.filter((l) => l.includes("/stderr: ")), [
        "talker/7/stderr: err 1",
        "talker/7/stderr: err 2",
        "talker/7/stderr: err 3"
      ])
      assert.strictEqual(exit?.stderrTail, "err 1\nerr 2\nerr 3")
    }))

  it.effect("passes arguments as a vector, adds environment variables and sets the working directory", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-argv")
      const work = fs.mkdtempSync(path.join(dir, "work-"))
      const script = writeScript(
        dir,
        "echo-args",
        `console.log(JSON.stringify({ argv: process.argv.slice(2), extra: process.env.EXTRA_VAR, path: process.env.PATH !== undefined, cwd: process.cwd() }))`
      )
      const lines = yield* Ref.make<Array<string>>([])
      yield* Subprocess.runAll([{
        label: "echo",
        command: script,
        args: ["a b", "$HOME", "; rm -rf /", "--flag=x"],
        env: { EXTRA_VAR: "v 1" },
        cwd: work
      }], { backend: "test", onLine: (line) => Ref.update(lines, (all) => [...all, line.text]) }).pipe(Effect.scoped)
      const [first] = yield* Ref.get(lines)
      assert.deepStrictEqual(JSON.parse(first ?? "null"), {
        argv: ["a b", "$HOME", "; rm -rf /", "--flag=x"],
        extra: "v 1",
        path: true,
        cwd: fs.realpathSync(work)
      })
    }))

  it.effect("a non-zero exit is BackendFailed with the exit code and the last stderr lines", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-fail")
      const script = writeScript(
        dir,
        "fail",
        `for (let i = 1; i <= 30; i++) console.error("line " + i); process.exit(3)`
      )
      const error = yield* Subprocess.runAll([{ label: "island 1", command: script, args: [] }], {
        backend: "prime",
        stderrTailLines: 4
      }).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error._tag, "BackendFailed")
      if (error._tag !== "BackendFailed") return
      assert.strictEqual(error.exitCode, 3)
      assert.strictEqual(error.backend, "prime (island 1)")
      assert.strictEqual(error.stderrTail, "line 27\nline 28\nline 29\nline 30")
    }))

  it.effect("a process killed by a signal reports 128 + the signal number", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-signal")
      const script = writeScript(dir, "suicide", `process.kill(process.pid, "SIGKILL")`)
      const error = yield* Subprocess.runAll([{ label: "p", command: script, args: [] }], { backend: "test" }).pipe(
        Effect.scoped,
        Effect.flip
      )
      assert.strictEqual(error._tag, "BackendFailed")
      if (error._tag === "BackendFailed") assert.strictEqual(error.exitCode, 128 + 9)
    }))

  it.effect("a missing executable, a missing working directory and a non-executable file are BackendUnavailable", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-missing")
      const missing = yield* Subprocess.runAll([{ label: "x", command: path.join(dir, "no-such-program"), args: [] }], {
        backend: "psyche"
      }).pipe(Effect.scoped, Effect.flip)
      assert.deepStrictEqual(
        { tag: missing._tag, message: missing.message },
        {
          tag: "BackendUnavailable",
          message: `backend psyche is unavailable: executable ${path.join(dir, "no-such-program")} not found`
        }
      )
      const onPath = yield* Subprocess.runAll([{ label: "x", command: "trainmarket-no-such-program-on-path", args: [] }], {
        backend: "psyche"
      }).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(onPath._tag, "BackendUnavailable")
      const script = writeScript(dir, "ok", "")
      const noDir = yield* Subprocess.runAll([{ label: "x", command: script, args: [], cwd: path.join(dir, "gone") }], {
        backend: "prime"
      }).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(noDir.message, `backend prime is unavailable: working directory ${path.join(dir, "gone")} not found`)
      const plain = path.join(dir, "plain-file")
      fs.writeFileSync(plain, "not a program")
      const notExecutable = yield* Subprocess.runAll([{ label: "x", command: plain, args: [] }], {
        backend: "prime"
      }).pipe(Effect.scoped, Effect.flip)
      assert.deepStrictEqual(
        { tag: notExecutable._tag, message: notExecutable.message },
        { tag: "BackendUnavailable", message: `backend prime is unavailable: execute permission on ${plain} not found` }
      )
    }))

  it.effect("a run past its real deadline is TrainingTimeout and its process is gone", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-deadline")
      const script = writeScript(dir, "hang", HANG)
      const pids = yield* Ref.make<ReadonlyArray<number>>([])
      const error = yield* Effect.gen(function*() {
        const child = yield* Subprocess.start({ label: "h", command: script, args: [] }, { backend: "test" })
        yield* Ref.update(pids, (all) => [...all, child.pid])
        return yield* child.succeeded
      }).pipe(Subprocess.withDeadline({ clusterId: "test-cluster", deadlineMillis: 700 }), Effect.flip)
      assert.deepStrictEqual({ tag: error._tag, message: error.message }, {
        tag: "TrainingTimeout",
        message: "training on test-cluster passed its deadline of 700 ms and was stopped"
      })
      const [pid] = yield* Ref.get(pids)
      assert.isDefined(pid)
      assert.throws(() => process.kill(pid ?? 0, 0))
    }))

  it.effect("one failing process fails the run and the others are killed", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-sibling")
      const hang = pidScript(dir, "hang", HANG)
      // it fails once its sibling is up, so the test can check the sibling dies
      const fail = writeScript(
        dir,
        "fail",
        `setInterval(() => { if (require("fs").existsSync(${JSON.stringify(path.join(dir, "hang.pid"))})) { console.error("boom"); process.exit(5) } }, 20)`
      )
      const error = yield* Subprocess.runAll([
        { label: "island 0", command: hang, args: [] },
        { label: "island 1", command: fail, args: [] }
      ], { backend: "prime" }).pipe(Subprocess.withDeadline({ clusterId: "c", deadlineMillis: 10_000 }), Effect.flip)
      assert.deepStrictEqual({ tag: error._tag, message: error.message }, {
        tag: "BackendFailed",
        message: "backend prime (island 1) exited with code 5: boom"
      })
      const pid = yield* Effect.promise(() => waitForPid(path.join(dir, "hang.pid")))
      assert.isFalse(running(pid))
    }))

  it.effect("interrupting the run kills its processes", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-interrupt")
      const script = pidScript(dir, "hang", HANG)
      const fiber = yield* Subprocess.runAll([{ label: "h", command: script, args: [] }], { backend: "test" }).pipe(
        Subprocess.withDeadline({ clusterId: "c", deadlineMillis: 60_000 }),
        Effect.fork
      )
      const pid = yield* Effect.promise(() => waitForPid(path.join(dir, "hang.pid")))
      assert.isTrue(running(pid))
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isFalse(running(pid))
    }))

})

layer(NodeContext.layer)("Subprocess (TestClock)", (it) => {
  /** Run `specs` with a one-hour deadline, wait (real time) for `pidFiles`, then move TestClock past the deadline. */
  const pastDeadline = (
    specs: ReadonlyArray<Subprocess.ProcessSpec>,
    pidFiles: ReadonlyArray<string>,
    killGraceMillis?: number
  ) =>
    Effect.gen(function*() {
      const fiber = yield* Subprocess.runAll(specs, { backend: "test", killGraceMillis }).pipe(
        Subprocess.withDeadline({ clusterId: "c", deadlineMillis: 3_600_000 }),
        Effect.fork
      )
      const pids = yield* Effect.promise(() => Promise.all(pidFiles.map((file) => waitForPid(file))))
      for (const pid of pids) assert.isTrue(running(pid))
      yield* TestClock.adjust("1 hour")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && String(exit.cause).includes("TrainingTimeout"))
      return pids
    })

  it.effect("a process that ignores SIGTERM is SIGKILLed after the grace period", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-stubborn")
      // it records the SIGTERM it ignores, so the test sees it was asked to stop before it was killed
      const marker = path.join(dir, "got-sigterm")
      const script = pidScript(
        dir,
        "stubborn",
        `process.on("SIGTERM", () => require("fs").writeFileSync(${JSON.stringify(marker)}, "")); ${HANG}`
      )
      const [pid] = yield* pastDeadline([{ label: "s", command: script, args: [] }], [path.join(dir, "stubborn.pid")], 300)
      assert.isTrue(fs.existsSync(marker), "SIGTERM came first")
      assert.throws(() => process.kill(pid ?? 0, 0))
    }))

  it.effect("four processes that ignore SIGTERM are all SIGKILLed; every group is gone afterwards", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-stubborn-many")
      const names = ["s0", "s1", "s2", "s3"]
      const specs = names.map((name, island) => ({
        label: `island ${island}`,
        island,
        command: pidScript(dir, name, `process.on("SIGTERM", () => {}); ${HANG}`),
        args: []
      }))
      const pids = yield* pastDeadline(specs, names.map((name) => path.join(dir, `${name}.pid`)), 300)
      assert.strictEqual(pids.length, 4)
      for (const pid of pids) {
        assert.isFalse(running(pid))
        assert.isFalse(Subprocess.groupAlive(pid))
      }
    }))

  it.effect("the groups of a run are terminated concurrently, not one grace period after another", () =>
    Effect.gen(function*() {
      // Each program ignores SIGTERM and exits by itself only once every program of the run
      // has received SIGTERM (a barrier through marker files). The grace period is ten
      // minutes: terminated one after another, the first group waits out its grace for the
      // others and the run never ends in time; terminated together, all pass the barrier and
      // the run ends with no SIGKILL needed. (Should that regress, the programs give up by
      // themselves after 20 s, so the test fails on a missing marker without leaving them behind.)
      const dir = tempDir("sub-concurrent")
      const names = ["b0", "b1", "b2", "b3"]
      const marker = (name: string) => path.join(dir, `${name}.sigterm`)
      const specs = names.map((name, island) => ({
        label: `island ${island}`,
        island,
        command: pidScript(
          dir,
          name,
          `const fs = require("fs")
           const markers = ${JSON.stringify(names.map(marker))}
           process.on("SIGTERM", () => {
             fs.writeFileSync(${JSON.stringify(marker(name))}, "")
             setInterval(() => { if (markers.every((file) => fs.existsSync(file))) process.exit(0) }, 10)
           })
           setTimeout(() => process.exit(3), 20_000)
           ${HANG}`
        ),
        args: []
      }))
      const pids = yield* pastDeadline(specs, names.map((name) => path.join(dir, `${name}.pid`)), 600_000)
      for (const name of names) assert.isTrue(fs.existsSync(marker(name)), `${name} got no SIGTERM`)
      for (const pid of pids) assert.isFalse(running(pid))
    }))

  it.effect("the whole process group goes: a child the program spawned is killed with it", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-group")
      const child = pidScript(dir, "grandchild", HANG)
      const parent = pidScript(
        dir,
        "parent",
        `require("child_process").spawn(${JSON.stringify(child)}, [], { stdio: "inherit" }); ${HANG}`
      )
      const [parentPid, childPid] = yield* pastDeadline(
        [{ label: "p", command: parent, args: [] }],
        [path.join(dir, "parent.pid"), path.join(dir, "grandchild.pid")]
      )
      assert.isFalse(running(parentPid ?? 0))
      assert.isFalse(running(childPid ?? 0))
      assert.isFalse(Subprocess.groupAlive(parentPid ?? 0))
    }))

  it.effect("the deadline is on the Effect Clock: TestClock.adjust past it stops a real process", () =>
    Effect.gen(function*() {
      const dir = tempDir("sub-testclock")
      const script = pidScript(dir, "hang", HANG)
      const fiber = yield* Subprocess.runAll([{ label: "h", command: script, args: [] }], { backend: "test" }).pipe(
        Subprocess.withDeadline({ clusterId: "clocked", deadlineMillis: 3_600_000 }),
        Effect.fork
      )
      const pid = yield* Effect.promise(() => waitForPid(path.join(dir, "hang.pid")))
      yield* TestClock.adjust("59 minutes")
      assert.isTrue(running(pid))
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "TrainingTimeout")
      assert.isFalse(running(pid))
    }))
})
