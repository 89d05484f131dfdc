/**
 * The real backends through the built binary (`npx tsc -p tsconfig.build.json`
 * first): `trainmarket train --cluster '{"kind":"prime",…}'` / `'{"kind":"psyche",…}'`
 * with stand-in executables return the loss and checkpoint the stand-ins report;
 * failures are typed JSON errors with no process left behind, also when the binary
 * is interrupted (SIGINT); `trainmarket backends check` reports what is installed.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { freePort, installStandIn, pidsIn, primeCheckout, removeTempDirs, running, tempDir, waitForPid } from "./fixtures/standins.js"
import { binary, jsonOf, repoRoot, runInProcess } from "./support/cli.js"
import { afterAll } from "vitest"

afterAll(removeTempDirs)

const recipe = JSON.stringify({ islands: 2, innerSteps: 3, innerLr: 0.001, outerLr: 0.7, keepFraction: 0.5 })


// Ports for this file: 26000-32000 (prime-run uses 20000-26000; Psyche takes OS-chosen ephemeral ports).
let basePort = 26_000 + Math.floor(Math.random() * 5_000)

const primeSetup = (islands: Record<string, unknown>) => {
  const dir = tempDir("cli-prime")
  installStandIn(dir, "torchrun.mjs", "torchrun")
  fs.writeFileSync(path.join(dir, "scenario.json"), JSON.stringify({ islands }))
  const workdir = primeCheckout(dir)
  basePort += 20
  const spec = {
    kind: "prime",
    launcher: [path.join(dir, "torchrun")],
    workdir,
    checkpointDir: path.join(dir, "runs"),
    totalSteps: 7,
    batchSize: 32,
    basePort,
    ignore: ["keepFraction"]
  }
  return { dir, spec, pids: path.join(dir, "pids") }
}

const psycheSetup = async (clients: Record<string, unknown>) => {
  const dir = tempDir("cli-psyche")
  installStandIn(dir, "psyche-centralized-server.mjs", "psyche-centralized-server")
  installStandIn(dir, "psyche-centralized-client.mjs", "psyche-centralized-client")
  fs.writeFileSync(path.join(dir, "scenario.json"), JSON.stringify({ clients }))
  const spec = {
    kind: "psyche",
    server: path.join(dir, "psyche-centralized-server"),
    client: path.join(dir, "psyche-centralized-client"),
    checkpointDir: path.join(dir, "runs"),
    totalSteps: 5,
    batchSize: 4,
    port: await freePort(),
    ignore: ["outerLr", "innerSteps"]
  }
  return { dir, spec, pids: path.join(dir, "pids") }
}

interface ArtifactJson {
  readonly recipe: unknown
  readonly trainSeed: string
  readonly trainLoss: number
  readonly clusterId: string
  readonly checkpoint: string
  readonly notApplied: ReadonlyArray<string>
  readonly ref: string
}
interface ErrorJson {
  readonly error: { readonly _tag: string; readonly message: string }
}

const assertAllGone = (pids: string) => {
  const all = pidsIn(pids)
  assert.isAbove(all.length, 0)
  for (const pid of all) assert.isFalse(running(pid), `process ${pid} survived`)
}

describe("trainmarket train on real backends (stand-ins)", () => {
  it("prime: the loss and checkpoint the islands report, ignored knobs listed", async () => {
    const { spec } = primeSetup({ "0": { finalLoss: 2.5 }, "1": { finalLoss: 2 } })
    const result = await runInProcess(["train", "--recipe", recipe, "--seed", "12", "--cluster", JSON.stringify(spec), "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    const artifact: ArtifactJson = JSON.parse(result.stdout)
    assert.strictEqual(artifact.trainLoss, 2.25)
    assert.strictEqual(artifact.clusterId, "prime")
    assert.strictEqual(artifact.trainSeed, "12")
    assert.deepStrictEqual(artifact.notApplied, ["keepFraction"])
    // 7 steps with innerSteps 3 round up to 9
    assert.match(artifact.checkpoint, /\/ckpt\/island-0\/step_9$/)
    assert.isTrue(fs.statSync(artifact.checkpoint).isDirectory())
    assert.match(artifact.ref, /^training:[0-9a-f]{16}$/)
  })

  it("psyche: the loss and checkpoint the clients report; the server that never exits is stopped", async () => {
    const { spec, pids } = await psycheSetup({ "*": { finalLoss: 3.25 } })
    const result = await runInProcess(["train", "--recipe", recipe, "--seed", "7", "--cluster", JSON.stringify(spec), "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    const artifact: ArtifactJson = JSON.parse(result.stdout)
    assert.strictEqual(artifact.trainLoss, 3.25)
    assert.strictEqual(artifact.clusterId, "psyche")
    assert.deepStrictEqual(artifact.notApplied, ["innerSteps", "outerLr"])
    assert.match(artifact.checkpoint, /-step5$/)
    assert.isTrue(fs.existsSync(path.join(artifact.checkpoint, "model.safetensors")))
    assertAllGone(pids)
  })

  it("a spec with an unknown option is a BadInput naming it", async () => {
    const result = await runInProcess(["train", "--recipe", recipe, "--seed", "1", "--cluster", '{"kind":"psyche","ports":1}', "--json"])
    assert.notStrictEqual(result.code, 0)
    const doc: ErrorJson = JSON.parse(result.stdout)
    assert.strictEqual(doc.error._tag, "BadInput")
    assert.include(doc.error.message, "ports")
  })

  it("failures are typed JSON errors and leave no process behind", async () => {
    const failing = primeSetup({ "*": { mode: "hang" }, "1": { mode: "fail", exitCode: 4, failWhenPeersUp: true } })
    const failed = await runInProcess(["train", "--recipe", recipe, "--seed", "1", "--cluster", JSON.stringify(failing.spec), "--json"])
    assert.notStrictEqual(failed.code, 0)
    const failure: ErrorJson = JSON.parse(failed.stdout)
    assert.strictEqual(failure.error._tag, "BackendFailed")
    assert.match(failure.error.message, /^backend prime \(island 1\) exited with code 4: /)
    assertAllGone(failing.pids)

    const hung = await psycheSetup({ "*": { mode: "hang" } })
    const timedOut = await runInProcess([
      "train", "--recipe", recipe, "--seed", "1", "--cluster", JSON.stringify({ ...hung.spec, deadlineSeconds: 5 }), "--json"
    ])
    assert.notStrictEqual(timedOut.code, 0)
    assert.deepStrictEqual(JSON.parse(timedOut.stdout), {
      error: { _tag: "TrainingTimeout", message: "training on psyche passed its deadline of 5000 ms and was stopped" }
    })
    assertAllGone(hung.pids)

    const missing = await runInProcess([
      "train", "--recipe", recipe, "--seed", "1", "--cluster",
      JSON.stringify({
        kind: "psyche",
        server: "no-such-psyche-server",
        ignore: ["outerLr", "innerSteps"],
        checkpointDir: path.join(hung.dir, "runs")
      }),
      "--json"
    ])
    assert.deepStrictEqual(JSON.parse(missing.stdout), {
      error: { _tag: "BackendUnavailable", message: "backend psyche is unavailable: executable no-such-psyche-server not found" }
    })

    const garbage = primeSetup({ "*": { mode: "garbage" } })
    const malformed = await runInProcess(["train", "--recipe", recipe, "--seed", "1", "--cluster", JSON.stringify(garbage.spec), "--json"])
    const bad: ErrorJson = JSON.parse(malformed.stdout)
    assert.strictEqual(bad.error._tag, "CheckpointMalformed")
  })

  it("SIGINT to the binary interrupts the run and kills every island", async () => {
    const { spec, pids } = primeSetup({ "*": { mode: "hang" } })
    const child = spawn(process.execPath, [binary, "train", "--recipe", recipe, "--seed", "1", "--cluster", JSON.stringify(spec)], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal }))
    )
    const island0 = await waitForPid(path.join(pids, "island-0.pid"), 10_000)
    const island1 = await waitForPid(path.join(pids, "island-1.pid"), 10_000)
    assert.isTrue(running(island0) && running(island1))
    child.kill("SIGINT")
    // the binary handled the signal and exited by itself (its finalizers ran), taking the islands with it,
    // with the shell's exit code for a run stopped by SIGINT
    assert.deepStrictEqual(await exited, { code: 130, signal: null })
    assert.isFalse(running(island0))
    assert.isFalse(running(island1))
  })
})

describe("trainmarket backends check", () => {
  it("reports found executables with their version output, and what is missing", async () => {
    const { spec } = primeSetup({})
    const psyche = await psycheSetup({})
    const hierarchy = { kind: "hierarchical", crossSyncInterval: 4, inner: [spec, { kind: "sealed", inner: psyche.spec }] }
    const ok = await runInProcess(["backends", "check", JSON.stringify(hierarchy), "--json"])
    assert.strictEqual(ok.code, 0, ok.stdout + ok.stderr)
    const report = jsonOf(ok)
    assert.deepStrictEqual(
      JSON.parse(JSON.stringify(report), (key, value) => (key === "version" ? "…" : value)),
      {
        ok: true,
        backends: [
          {
            path: "root/0",
            kind: "prime",
            ok: true,
            checks: [
              { what: "launcher", found: true, target: spec.launcher[0], resolved: spec.launcher[0], version: "…" },
              { what: "working directory", found: true, target: spec.workdir },
              { what: "training script", found: true, target: path.join(spec.workdir, "src/zeroband/train.py") }
            ]
          },
          {
            path: "root/1",
            kind: "psyche",
            ok: true,
            checks: [
              { what: "server", found: true, target: psyche.spec.server, resolved: psyche.spec.server, version: "…" },
              { what: "client", found: true, target: psyche.spec.client, resolved: psyche.spec.client, version: "…" }
            ]
          }
        ]
      }
    )
    // the Psyche binaries have no --version flag (clap rejects it): the report shows what they answered
    const text = ok.stdout
    assert.include(text, "unrecognized subcommand '--version'")

    fs.rmSync(path.join(spec.workdir, "src"), { recursive: true })
    const notReady = await runInProcess(["backends", "check", JSON.stringify({ ...spec, launcher: ["no-such-torchrun"] })])
    assert.notStrictEqual(notReady.code, 0)
    assert.include(notReady.stdout, "root  prime  NOT READY")
    assert.include(notReady.stdout, "MISSING  launcher: no-such-torchrun")
    assert.include(notReady.stdout, `MISSING  training script: ${path.join(spec.workdir, "src/zeroband/train.py")}`)

    const file = path.join(psyche.dir, "cluster.json")
    fs.writeFileSync(file, JSON.stringify({ kind: "local-sim" }))
    const sim = await runInProcess(["backends", "check", file, "--json"])
    assert.strictEqual(sim.code, 0)
    assert.deepStrictEqual(jsonOf(sim), {
      ok: true,
      backends: [{ path: "root", kind: "local-sim", ok: true, checks: [], note: "simulated in-process: needs nothing installed" }]
    })
  })
})
