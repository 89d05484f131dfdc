/**
 * The trainer executable never outlives the process that started it (a SIGKILLed
 * `serve` leaves no trainer behind): a real parent process, written here, launches
 * the built trainer (dist/trainer/bin.js) on a budget that would run for hours, the
 * test SIGKILLs the parent while the trainer is training, and the trainer must be gone
 * soon after, having said why on stderr. Run as a user runs it — stdin /dev/null, or a
 * pipe its parent keeps open — it trains to the end as before.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { removeTempDirs, running, tempDir, waitForPid } from "../fixtures/standins.js"

const BIN = fileURLToPath(new URL("../../dist/trainer/bin.js", import.meta.url))
/** How long a gone parent's trainer may linger before the test fails (generous: a loaded machine). */
const DEADLINE_MILLIS = 15_000

let work = ""
beforeAll(() => {
  work = tempDir("trainer-parent")
})
afterAll(removeTempDirs)

const baseline = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }

const writeConfig = (name: string, budget: number): string => {
  const file = path.join(work, `${name}.json`)
  fs.writeFileSync(file, JSON.stringify({ recipe: baseline, seed: "1", outDir: path.join(work, name), budget, devTokens: 0 }))
  return file
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** Poll `condition` every 50 ms until it holds (true) or `millis` pass (false). */
const waitFor = async (condition: () => boolean, millis: number): Promise<boolean> => {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > millis) return false
    await sleep(50)
  }
  return true
}

/**
 * The parent: launches the trainer with the given stdin (`pipe`: a pipe it holds open
 * and never writes; `ignore`: /dev/null), its stdout and stderr going to files (not
 * pipes, so a write to a dead reader cannot be what stops it), writes the trainer's pid,
 * then idles until killed.
 */
const PARENT = `
const { spawn } = require("node:child_process")
const fs = require("node:fs")
const [bin, config, out, err, pidFile, stdin] = process.argv.slice(2)
const child = spawn(process.execPath, [bin, "--config", config], {
  stdio: [stdin, fs.openSync(out, "w"), fs.openSync(err, "w")]
})
child.on("spawn", () => fs.writeFileSync(pidFile, String(child.pid)))
setInterval(() => {}, 60000)
`

const killParentWhileTraining = async (name: string, stdin: "pipe" | "ignore"): Promise<string> => {
  assert.isTrue(fs.existsSync(BIN), `${BIN} is missing: run npm run build first`)
  const script = path.join(work, "parent.cjs")
  fs.writeFileSync(script, PARENT)
  const out = path.join(work, `${name}.out`)
  const err = path.join(work, `${name}.err`)
  const pidFile = path.join(work, `${name}.pid`)
  const parent = spawn(process.execPath, [script, BIN, writeConfig(name, 1_000_000), out, err, pidFile, stdin], {
    stdio: "ignore"
  })
  let trainer = 0
  try {
    trainer = await waitForPid(pidFile, 30_000)
    // Killed mid-training, not while the trainer starts up.
    const training = await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, "utf8").includes(`"event":"step"`), 30_000)
    assert.isTrue(training, `the trainer is training (stderr: ${fs.existsSync(err) ? fs.readFileSync(err, "utf8") : ""})`)
    parent.kill("SIGKILL")
    const gone = await waitFor(() => !running(trainer), DEADLINE_MILLIS)
    assert.isTrue(gone, `the trainer (pid ${trainer}) still runs ${DEADLINE_MILLIS / 1000} s after its parent was killed`)
    return fs.readFileSync(err, "utf8")
  } finally {
    parent.kill("SIGKILL")
    if (trainer > 0 && running(trainer)) process.kill(trainer, "SIGKILL")
  }
}

describe("the trainer ends when its parent is gone", () => {
  it("stdin a pipe held by the parent: SIGKILL the parent, the trainer sees the pipe close and stops", async () => {
    const stderr = await killParentWhileTraining("pipe", "pipe")
    const lines = stderr.trim().split("\n")
    assert.strictEqual(lines.length, 1, stderr)
    assert.match(lines[0] ?? "", /^trainmarket-trainer: stdin was closed: the process that started the trainer is gone/)
  })

  it("stdin /dev/null: SIGKILL the parent, the trainer sees it was re-parented and stops", async () => {
    const stderr = await killParentWhileTraining("ignore", "ignore")
    const lines = stderr.trim().split("\n")
    assert.strictEqual(lines.length, 1, stderr)
    assert.match(lines[0] ?? "", /^trainmarket-trainer: the parent process \(pid \d+\) is gone/)
  })
})

describe("the trainer with a living parent", () => {
  it("trains to the end with stdin a pipe its parent keeps open, and with stdin /dev/null", async () => {
    const config = writeConfig("held", 8)
    const held = spawn(process.execPath, [BIN, "--config", config], { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    held.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    const code = await new Promise<number | null>((resolve) => held.on("close", resolve))
    held.stdin.end()
    assert.strictEqual(code, 0)
    assert.include(stdout.trim().split("\n").at(-1) ?? "", `"event":"done"`)
    const devNull = spawnSync(process.execPath, [BIN, "--config", config], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    assert.strictEqual(devNull.status, 0, devNull.stderr)
    assert.include(devNull.stdout.trim().split("\n").at(-1) ?? "", `"event":"done"`)
  })

  it("a stdin pipe that closes at once (spawnSync's default) reads as a gone parent: exit 1, one line", () => {
    const run = spawnSync(process.execPath, [BIN, "--config", writeConfig("closed", 1_000_000)], { encoding: "utf8", timeout: 60_000 })
    assert.strictEqual(run.status, 1)
    assert.strictEqual(run.stderr.trim().split("\n").length, 1, run.stderr)
    assert.include(run.stderr, "stdin was closed")
  })
})
