/**
 * The Psyche backend run for real through `Command` against stand-in
 * `psyche-centralized-server` and `psyche-centralized-client` programs
 * (test/fixtures/) that check the state and keys they are given and log in Psyche's
 * formats. The server never exits by itself, nor do clients by default: the adapter
 * stops them once the final checkpoint is on disk. Every failure mode is its typed
 * error, with no process left alive.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Hierarchical from "../src/cluster/HierarchicalCluster.js"
import * as Psyche from "../src/cluster/PsycheCluster.js"
import { type ProgressEvent, TrainingCluster, TrainingProgress } from "../src/cluster/TrainingCluster.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { runOneShot } from "../src/market/OneShot.js"
import { NodeWithKey } from "./support/keys.js"
import { Scorer } from "../src/scorer/Scorer.js"
import {
  freePort,
  installStandIn,
  pidsIn,
  removeTempDirs,
  running,
  tempDir,
  waitForPid,
  writeScript
} from "./fixtures/standins.js"
import { afterAll } from "vitest"

afterAll(removeTempDirs)

interface Client {
  readonly mode?: "ok" | "exit" | "fail" | "garbage" | "hang" | "saving-without-file"
  readonly finalLoss?: number
  readonly exitCode?: number
  readonly roundDelayMs?: number
}
interface Scenario {
  readonly server?: { readonly mode?: "crash" | "quit-early"; readonly bindDelayMs?: number }
  readonly clients?: Record<string, Client>
}


const setup = (scenario: Scenario) =>
  Effect.promise(async () => {
    const dir = tempDir("psyche")
    installStandIn(dir, "psyche-centralized-server.mjs", "psyche-centralized-server")
    installStandIn(dir, "psyche-centralized-client.mjs", "psyche-centralized-client")
    fs.writeFileSync(path.join(dir, "scenario.json"), JSON.stringify(scenario))
    const options: Psyche.PsycheOptions = {
      server: path.join(dir, "psyche-centralized-server"),
      client: path.join(dir, "psyche-centralized-client"),
      checkpointDir: path.join(dir, "runs"),
      totalSteps: 6,
      batchSize: 4,
      port: await freePort(),
      deadlineSeconds: 30,
      ignore: ["outerLr"]
    }
    return { dir, options, pids: path.join(dir, "pids"), received: path.join(dir, "received") }
  })

const recipe = (overrides: Partial<Recipe> = {}): Recipe => ({
  islands: 1,
  innerSteps: 1,
  innerLr: 0.0004,
  outerLr: 0.7,
  keepFraction: 0.1,
  ...overrides
})

const train = (options: Psyche.PsycheOptions, r: Recipe, seed = 1n) =>
  Effect.flatMap(TrainingCluster, (cluster) => cluster.train(r, seed)).pipe(Effect.provide(Psyche.layerWith(options)))

const allGone = (pids: string) => {
  const all = pidsIn(pids)
  assert.isAbove(all.length, 0)
  for (const pid of all) assert.isFalse(running(pid), `process ${pid} is still running`)
}

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("psyche backend (real processes)", (it) => {
  it.effect("one client: the loss and checkpoint it reports; the adapter stops a server that never exits", () =>
    Effect.gen(function*() {
      const { options, pids, received } = yield* setup({ clients: { "*": { finalLoss: 2.375 } } })
      const artifact = yield* train(options, recipe(), 5n)
      assert.strictEqual(artifact.trainLoss, 2.375)
      assert.strictEqual(artifact.clusterId, "psyche")
      assert.deepStrictEqual(artifact.notApplied, ["outerLr"])
      assert.match(artifact.checkpoint ?? "", /\/client-0\/trainmarket-[0-9a-f]{16}-step6$/)
      assert.isTrue(fs.existsSync(path.join(artifact.checkpoint ?? "", "model.safetensors")))
      // the checkpoint directory's hash (SPEC §15.1): sorted "<path> <sha256>" lines of its files
      const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex")
      const files = fs.readdirSync(artifact.checkpoint ?? "", { recursive: true, encoding: "utf8" })
        .filter((file) => fs.statSync(path.join(artifact.checkpoint ?? "", file)).isFile())
        .sort()
      assert.include(files, "model.safetensors")
      const manifest = files.map((file) => `${file} ${sha256(fs.readFileSync(path.join(artifact.checkpoint ?? "", file)))}\n`).join("")
      assert.strictEqual(artifact.checkpointSha256, sha256(manifest))
      // the server stand-in never exits and the client stays: both were stopped
      assert.isTrue(fs.existsSync(path.join(pids, "server.pid")))
      allGone(pids)
      // what the server stand-in read (bigints as "<n>n")
      const got: {
        readonly state: {
          readonly model: {
            readonly LLM: {
              readonly optimizer: { readonly Distro: { readonly compression_topk: string } }
              readonly lr_schedule: { readonly Constant: { readonly base_lr: number } }
            }
          }
        }
      } = JSON.parse(fs.readFileSync(path.join(received, "server.json"), "utf8"))
      // keepFraction 0.1 of a 64 × 64 tile: 409.6 -> 410
      assert.strictEqual(got.state.model.LLM.optimizer.Distro.compression_topk, "410n")
      assert.strictEqual(got.state.model.LLM.lr_schedule.Constant.base_lr, 0.0004)
    }))

  it.effect("three clients with distinct identities: the mean of each client's last loss", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({
        clients: { "0": { finalLoss: 2 }, "1": { finalLoss: 2.5 }, "2": { finalLoss: 3.5 } }
      })
      const artifact = yield* train({ ...options, ignore: ["outerLr", "innerSteps"] }, recipe({ islands: 3, innerSteps: 8 }))
      // (2 + 2.5 + 3.5) / 3
      assert.strictEqual(artifact.trainLoss, 8 / 3)
      assert.deepStrictEqual(artifact.notApplied, ["innerSteps", "outerLr"])
      allGone(pids)
    }))

  it.effect("clients that exit by themselves after the final checkpoint are fine too", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ clients: { "*": { mode: "exit", finalLoss: 1.25 } } })
      const artifact = yield* train(options, recipe({ islands: 2 }))
      assert.strictEqual(artifact.trainLoss, 1.25)
      allGone(pids)
    }))

  it.effect("minimal stand-ins: a server that never listens and clients that never talk to it still train", () =>
    Effect.gen(function*() {
      // the least a Psyche installation can look like from outside: a server that only
      // runs, clients that log the JSON loss line, save the final step's safetensors and
      // announce them, then wait to be stopped
      const dir = tempDir("psyche-minimal")
      const pids = path.join(dir, "pids")
      fs.mkdirSync(pids)
      const recordPid = (name: string) =>
        `require("fs").writeFileSync(require("path").join(${JSON.stringify(pids)}, ${name} + ".pid"), String(process.pid));`
      const server = writeScript(dir, "server", `${recordPid(`"server"`)} setInterval(() => {}, 1000)`)
      const client = writeScript(
        dir,
        "client",
        `const fs = require("fs"), path = require("path")
const arg = (name) => process.argv[process.argv.indexOf(name) + 1]
${recordPid(`"client-" + process.pid`)}
const step = 6
const loss = 2 + Number(process.env.RAW_IDENTITY_SECRET_KEY.slice(0, 1) === "f")
console.log(JSON.stringify({ integration_test_log_marker: "loss", step, loss }))
const saved = path.join(arg("--checkpoint-dir"), arg("--run-id") + "-step" + step)
fs.mkdirSync(saved, { recursive: true })
fs.writeFileSync(path.join(saved, "model.safetensors"), Buffer.alloc(64, 1))
console.log(JSON.stringify({ message: "Saving to " + saved }))
setInterval(() => {}, 1000)`
      )
      const artifact = yield* train(
        {
          server,
          client,
          checkpointDir: path.join(dir, "runs"),
          totalSteps: 6,
          batchSize: 4,
          port: yield* Effect.promise(freePort),
          serverStartSeconds: 0.2,
          deadlineSeconds: 30,
          ignore: ["outerLr"]
        },
        recipe()
      )
      assert.match(artifact.checkpoint ?? "", /-step6$/)
      assert.isTrue(fs.existsSync(path.join(artifact.checkpoint ?? "", "model.safetensors")))
      assert.oneOf(artifact.trainLoss, [2, 3])
      allGone(pids)
    }))

  it.effect("a slow server: clients start only once its port accepts connections", () =>
    Effect.gen(function*() {
      const { options } = yield* setup({ server: { bindDelayMs: 600 }, clients: { "*": { finalLoss: 2 } } })
      const artifact = yield* train(options, recipe({ islands: 2 }))
      assert.strictEqual(artifact.trainLoss, 2)
    }))

  it.effect("progress: loss lines of every client reach the TrainingProgress sink", () =>
    Effect.gen(function*() {
      const { options } = yield* setup({ clients: { "*": { finalLoss: 2 } } })
      const events = yield* Ref.make<Array<ProgressEvent>>([])
      const sink = Layer.succeed(TrainingProgress, TrainingProgress.of({ publish: (e) => Ref.update(events, (all) => [...all, e]) }))
      yield* Effect.flatMap(TrainingCluster, (c) => c.train(recipe({ islands: 2 }), 0n)).pipe(
        Effect.provide(Psyche.layerWith(options).pipe(Layer.provide(sink)))
      )
      const seen = yield* Ref.get(events)
      for (const island of [0, 1]) {
        const steps = seen.filter((e) => e.island === island && e.loss !== undefined && Number.isFinite(e.loss)).map((e) => e.step)
        assert.deepStrictEqual(steps, [1, 2, 3, 4, 5, 6])
      }
      assert.isTrue(seen.some((e) => e.island === undefined && e.line.includes("listening on port")))
    }))

  it.effect("a client failing is BackendFailed with its exit code; the server and other clients are killed", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ clients: { "*": { roundDelayMs: 100 }, "1": { mode: "fail", exitCode: 101 } } })
      const error = yield* Effect.flip(train(options, recipe({ islands: 3 })))
      assert.strictEqual(error._tag, "BackendFailed")
      if (error._tag !== "BackendFailed") return
      assert.match(error.backend, /^psyche \(client \d\)$/)
      assert.strictEqual(error.exitCode, 101)
      assert.include(error.stderrTail, "CUDA out of memory on client 1")
      allGone(pids)
    }))

  it.effect("a server that crashes before accepting clients is BackendFailed naming the server", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ server: { mode: "crash" } })
      const error = yield* Effect.flip(train(options, recipe()))
      assert.strictEqual(error.message.split(":")[0], "backend psyche (server) exited with code 2")
      allGone(pids)
    }))

  it.effect("missing server or client executables are BackendUnavailable naming them", () =>
    Effect.gen(function*() {
      const { options, dir, pids } = yield* setup({})
      const noServer = yield* Effect.flip(train({ ...options, server: path.join(dir, "missing-server") }, recipe()))
      assert.strictEqual(noServer.message, `backend psyche is unavailable: executable ${path.join(dir, "missing-server")} not found`)
      const noClient = yield* Effect.flip(train({ ...options, client: "psyche-client-not-installed" }, recipe()))
      assert.strictEqual(noClient.message, "backend psyche is unavailable: executable psyche-client-not-installed not found")
      // the server started for that attempt was stopped again
      yield* Effect.promise(() => waitForPid(path.join(pids, "server.pid")))
      allGone(pids)
    }))

  it.effect("garbage output or a checkpoint announced but never written is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const garbage = yield* setup({ clients: { "*": { mode: "garbage" } } })
      const error = yield* Effect.flip(train(garbage.options, recipe({ islands: 2 })))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.match(
        error.message,
        /: client [01] exited before the final step 6's checkpoint was saved \(no "Saving to" line at all\)$/
      )
      allGone(garbage.pids)
      const empty = yield* setup({ clients: { "*": { mode: "saving-without-file" } } })
      const missing = yield* Effect.flip(train(empty.options, recipe({ islands: 2 })))
      assert.strictEqual(missing._tag, "CheckpointMalformed")
      assert.include(missing.message, "holds no safetensors")
      allGone(empty.pids)
    }))

  it.effect("one client of four exiting 0 early is CheckpointMalformed at once; the server and other clients are killed", () =>
    Effect.gen(function*() {
      // the other clients hang: without a verdict on the early exit, the run would wait for its one-hour deadline
      const { options, pids } = yield* setup({ clients: { "*": { mode: "hang" }, "2": { mode: "garbage" } } })
      const error = yield* Effect.flip(train({ ...options, deadlineSeconds: 3600 }, recipe({ islands: 4 })))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.match(
        error.message,
        /: client [0-3] exited before the final step 6's checkpoint was saved \(no "Saving to" line at all\)$/
      )
      // the server and all four clients had started (each client records its pid before it joins)
      assert.isTrue(fs.existsSync(path.join(pids, "server.pid")))
      assert.strictEqual(fs.readdirSync(pids).filter((file) => /^client-\d+\.pid$/.test(file)).length, 4)
      allGone(pids)
    }))

  it.effect("a server that exits 0 before the final checkpoint is CheckpointMalformed at once; the clients are killed", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ server: { mode: "quit-early" }, clients: { "*": { mode: "hang" } } })
      const error = yield* Effect.flip(train({ ...options, deadlineSeconds: 3600 }, recipe({ islands: 2 })))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.match(error.message, /: the server exited before the final step 6's checkpoint was saved/)
      allGone(pids)
    }))

  it.effect("interrupting a training run kills the server and the clients", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ clients: { "*": { mode: "hang" } } })
      const fiber = yield* Effect.fork(train(options, recipe({ islands: 2 })))
      const server = yield* Effect.promise(() => waitForPid(path.join(pids, "server.pid")))
      const client = yield* Effect.promise(() => waitForPid(path.join(pids, "client-index-1.pid")))
      assert.isTrue(running(server) && running(client))
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      allGone(pids)
    }))

  it.effect("knobs Psyche cannot express are RecipeUnsupported and start nothing", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({})
      const outer = yield* Effect.flip(train({ ...options, ignore: [] }, recipe()))
      assert.deepStrictEqual([outer._tag, outer._tag === "RecipeUnsupported" ? outer.field : ""], ["RecipeUnsupported", "outerLr"])
      const inner = yield* Effect.flip(train(options, recipe({ innerSteps: 4 })))
      assert.deepStrictEqual([inner._tag, inner._tag === "RecipeUnsupported" ? inner.field : ""], ["RecipeUnsupported", "innerSteps"])
      assert.strictEqual(pidsIn(pids).length, 0)
      assert.isFalse(fs.existsSync(options.checkpointDir ?? ""))
    }))

  it.effect("tee marks the cluster sealed; built from a decoded spec through ClusterSpec.toLayer", () =>
    Effect.gen(function*() {
      const { options } = yield* setup({ clients: { "*": { finalLoss: 1.75 } } })
      const spec: ClusterSpec.ClusterSpec = { kind: "psyche", ...options, tee: "azure-snp" }
      const cluster = yield* Effect.provide(TrainingCluster, ClusterSpec.toLayer(spec))
      assert.strictEqual(cluster.isolation, "sealed")
      const report = Option.getOrThrow(cluster.attestation)
      assert.strictEqual(report.teeType, "azure-snp")
      assert.strictEqual(new TextDecoder().decode(report.evidence), "tee-backend-claim:psyche")
      const artifact = yield* cluster.train(recipe(), 2n)
      assert.strictEqual(artifact.trainLoss, 1.75)
    }))

  it.effect("inside a one-shot competition and inside a hierarchy", () =>
    Effect.gen(function*() {
      const { options } = yield* setup({ clients: { "*": { finalLoss: 2 } } })
      const scorer = Layer.succeed(
        Scorer,
        Scorer.of({
          id: "checkpoint-double",
          shards: 16,
          measure: (artifact) => {
            const value = fs.existsSync(path.join(artifact.checkpoint ?? "/nonexistent", "model.safetensors"))
              ? artifact.recipe.keepFraction
              : 0
            return Effect.succeed({ value, ciLower: value - 0.001, ciUpper: value + 0.001, n: 16, cost: 16 })
          }
        })
      )
      const outcome = yield* runOneShot({
        id: 2,
        gate: { minLiftCiLower: 0.02, minN: 12 },
        reward: { kind: "terminal-prize" },
        poolWei: 77n,
        baseline: { recipe: recipe({ keepFraction: 0.1 }), seed: 0n },
        researchers: [
          { name: "dense", seed: 1n, recipe: recipe({ keepFraction: 0.5 }) },
          { name: "same", seed: 2n, recipe: recipe({ keepFraction: 0.1 }) }
        ]
      }).pipe(Effect.provide(Layer.merge(Psyche.layerWith(options), scorer)))
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), ["dense"])
      assert.deepStrictEqual(outcome.payouts.map((p) => [p.researcher, p.wei]), [["dense", 77n]])

      const other = yield* setup({ clients: { "*": { finalLoss: 3 } } })
      const artifact = yield* Effect.flatMap(TrainingCluster, (c) => c.train(recipe({ islands: 2 }), 4n)).pipe(
        Effect.provide(Hierarchical.layer({ crossSyncInterval: 8, inner: [Psyche.layerWith(options), Psyche.layerWith(other.options)] }))
      )
      // SPEC §10, k = 2, interval 8: mean(2, 3) - 0.20 ln 2 + 0.06 (ln 8 - ln 4)(1 + 0.30)
      assert.closeTo(artifact.trainLoss, 2.5 - 0.2 * Math.log(2) + 0.06 * Math.log(2) * 1.3, 1e-12)
      assert.deepStrictEqual(artifact.notApplied, ["outerLr"])
    }))
})

layer(NodeWithKey, { timeout: "60 seconds" })("psyche backend (TestClock deadline)", (it) => {
  it.effect("a hung run is stopped at its deadline (on the Effect Clock): TrainingTimeout, server and clients gone", () =>
    Effect.gen(function*() {
      const { options, pids } = yield* setup({ clients: { "*": { mode: "hang" } } })
      const fiber = yield* Effect.fork(train({ ...options, deadlineSeconds: 900 }, recipe({ islands: 2 })))
      const up = yield* Effect.promise(() =>
        Promise.all(["server", "client-index-0", "client-index-1"].map((name) => waitForPid(path.join(pids, `${name}.pid`))))
      )
      yield* TestClock.adjust("899 seconds")
      for (const pid of up) assert.isTrue(running(pid))
      yield* TestClock.adjust("1 second")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.deepStrictEqual({ tag: error._tag, message: error.message }, {
        tag: "TrainingTimeout",
        message: "training on psyche passed its deadline of 900000 ms and was stopped"
      })
      allGone(pids)
    }))
})
