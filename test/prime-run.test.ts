/**
 * The prime backend run for real through `Command` against a stand-in `torchrun`
 * (test/fixtures/torchrun.mjs) that checks the config it is given like prime does and
 * logs in prime's format: success for 1 and 4 islands, every failure mode as its typed
 * error, and no island process left alive after a failure, a deadline or an interruption.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Hierarchical from "../src/cluster/HierarchicalCluster.js"
import * as Prime from "../src/cluster/PrimeCluster.js"
import { type ProgressEvent, TrainingCluster, TrainingProgress } from "../src/cluster/TrainingCluster.js"
import type { TrainedArtifact } from "../src/domain/Artifact.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { runOneShot } from "../src/market/OneShot.js"
import { Scorer } from "../src/scorer/Scorer.js"
import { installStandIn, pidsIn, primeCheckout, removeTempDirs, running, tempDir, waitForPid } from "./fixtures/standins.js"
import { NodeWithKey } from "./support/keys.js"
import { afterAll } from "vitest"

afterAll(removeTempDirs)

interface Island {
  readonly mode?: "ok" | "fail" | "garbage" | "hang" | "stubborn" | "nan" | "no-checkpoint"
  readonly finalLoss?: number
  readonly exitCode?: number
  readonly stepDelayMs?: number
  readonly failWhenPeersUp?: boolean
}

// Ports for this file: 20000-26000 (the CLI tests use 26000-32000; Psyche tests take OS-chosen
// ephemeral ports above 32768), so files running at the same time never collide.
let nextPort = 20_000 + Math.floor(Math.random() * 4_000)
/** Ports far enough apart for any test's islands. */
const freshPorts = (): number => {
  nextPort += 50
  return nextPort
}

/** A temp dir with the stand-in torchrun, its scenario, and a prime checkout holding `src/zeroband/train.py`. */
const setup = (islands: Record<string, Island>) => {
  const dir = tempDir("prime")
  installStandIn(dir, "torchrun.mjs", "torchrun")
  fs.writeFileSync(path.join(dir, "scenario.json"), JSON.stringify({ islands }))
  const workdir = primeCheckout(dir)
  const options: Prime.PrimeOptions = {
    launcher: [path.join(dir, "torchrun")],
    workdir,
    checkpointDir: path.join(dir, "runs"),
    totalSteps: 5,
    batchSize: 32,
    microBatch: 16,
    basePort: freshPorts(),
    deadlineSeconds: 30
  }
  return { dir, options, pids: path.join(dir, "pids"), received: path.join(dir, "received") }
}

const recipe = (overrides: Partial<Recipe> = {}): Recipe => ({
  islands: 1,
  innerSteps: 2,
  innerLr: 0.003,
  outerLr: 0.7,
  keepFraction: 1,
  ...overrides
})

const train = (options: Prime.PrimeOptions, r: Recipe, seed = 1n) =>
  Effect.flatMap(TrainingCluster, (cluster) => cluster.train(r, seed)).pipe(Effect.provide(Prime.layerWith(options)))

/** What an island stand-in recorded (bigints as `"<n>n"` strings). */
interface Received {
  readonly argv: Array<string>
  readonly nproc: number
  readonly env: Record<string, string>
  readonly config: {
    readonly diloco: { readonly inner_steps: string; readonly outer_lr: number }
    readonly optim: { readonly total_steps: string; readonly optim: { readonly lr: number } }
    readonly ckpt: { readonly interval: string }
  }
}
const received = (dir: string, island: number): Received =>
  JSON.parse(fs.readFileSync(path.join(dir, `island-${island}.json`), "utf8"))

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("prime backend (real processes)", (it) => {
  it.effect("one island: the loss and checkpoint the stand-in reports, the config it checked", () =>
    Effect.gen(function*() {
      const { options, received: got } = setup({ "*": { finalLoss: 2.4567 } })
      const artifact = yield* train(options, recipe(), 42n)
      assert.strictEqual(artifact.trainLoss, 2.4567)
      assert.strictEqual(artifact.clusterId, "prime")
      assert.strictEqual(artifact.trainSeed, 42n)
      assert.deepStrictEqual(artifact.notApplied, [])
      // 5 steps requested with H = 2: three outer steps, checkpoint at step 6
      assert.match(artifact.checkpoint ?? "", /\/ckpt\/island-0\/step_6$/)
      assert.isTrue(fs.statSync(artifact.checkpoint ?? "").isDirectory())
      // the checkpoint directory's hash (SPEC §15.1): one file the stand-in wrote, one manifest line
      const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
      assert.strictEqual(
        artifact.checkpointSha256,
        sha256(`__0_0.distcp ${sha256("weights of island 0 at step 6")}\n`)
      )
      const island = received(got, 0)
      assert.strictEqual(island.config.diloco.inner_steps, "2n")
      assert.strictEqual(island.config.diloco.outer_lr, 0.7)
      assert.strictEqual(island.config.optim.optim.lr, 0.003)
      assert.strictEqual(island.config.optim.total_steps, "6n")
      assert.strictEqual(island.config.ckpt.interval, "6n")
      assert.deepStrictEqual(island.env, {
        GLOBAL_ADDR: "localhost",
        GLOBAL_PORT: String(options.basePort),
        GLOBAL_WORLD_SIZE: "1",
        GLOBAL_RANK: "0",
        GLOBAL_UNIQUE_ID: "0",
        CUDA_VISIBLE_DEVICES: "0",
        GLOO_SOCKET_IFNAME: "lo"
      })
    }))

  it.effect("four islands: the mean of each island's last loss, every island checkpointed, ignored knobs listed", () =>
    Effect.gen(function*() {
      const { options, pids } = setup({
        "0": { finalLoss: 2.5 },
        "1": { finalLoss: 2.25 },
        "2": { finalLoss: 2.75 },
        "3": { finalLoss: 3 }
      })
      const artifact = yield* train(
        { ...options, ignore: ["keepFraction"] },
        recipe({ islands: 4, innerSteps: 3, keepFraction: 0.25 })
      )
      // (2.5 + 2.25 + 2.75 + 3) / 4
      assert.strictEqual(artifact.trainLoss, 2.625)
      assert.deepStrictEqual(artifact.notApplied, ["keepFraction"])
      const runDir = path.dirname(path.dirname(path.dirname(artifact.checkpoint ?? "")))
      for (let i = 0; i < 4; i++) {
        assert.isTrue(fs.statSync(path.join(runDir, "ckpt", `island-${i}`, "step_6")).isDirectory())
      }
      assert.strictEqual(pidsIn(pids).length, 4)
      for (const pid of pidsIn(pids)) assert.isFalse(running(pid))
    }))

  it.effect("progress: every island's step lines reach the TrainingProgress sink", () =>
    Effect.gen(function*() {
      const { options } = setup({ "*": { finalLoss: 2 } })
      const events = yield* Ref.make<Array<ProgressEvent>>([])
      const sink = Layer.succeed(
        TrainingProgress,
        TrainingProgress.of({ publish: (e) => Ref.update(events, (all) => [...all, e]) })
      )
      yield* Effect.flatMap(TrainingCluster, (c) => c.train(recipe({ islands: 2 }), 0n)).pipe(
        Effect.provide(Prime.layerWith(options).pipe(Layer.provide(sink)))
      )
      const seen = yield* Ref.get(events)
      for (const island of [0, 1]) {
        const steps = seen.filter((e) => e.island === island && e.step !== undefined).map((e) => e.step)
        assert.deepStrictEqual(steps, [1, 2, 3, 4, 5, 6])
        const last = seen.filter((e) => e.island === island && e.loss !== undefined).at(-1)
        assert.strictEqual(last?.loss, 2)
      }
      assert.isTrue(seen.some((e) => e.line.includes("Training finished")))
    }))

  it.effect("one island failing is BackendFailed with its exit code and stderr; the other islands are killed", () =>
    Effect.gen(function*() {
      // island 1 fails once every island is up (the others hang)
      const { options, pids } = setup({ "*": { mode: "hang" }, "1": { mode: "fail", exitCode: 3, failWhenPeersUp: true } })
      const error = yield* Effect.flip(train(options, recipe({ islands: 3 })))
      assert.strictEqual(error._tag, "BackendFailed")
      if (error._tag !== "BackendFailed") return
      assert.strictEqual(error.backend, "prime (island 1)")
      assert.strictEqual(error.exitCode, 3)
      assert.include(error.stderrTail, "RuntimeError: island 1 lost its GPU")
      yield* Effect.promise(() => waitForPid(path.join(pids, "island-0.pid")))
      assert.strictEqual(pidsIn(pids).length, 3)
      for (const pid of pidsIn(pids)) assert.isFalse(running(pid))
    }))

  it.effect("a missing launcher, workdir or training script is BackendUnavailable naming it", () =>
    Effect.gen(function*() {
      const { options, dir } = setup({})
      const noLauncher = yield* Effect.flip(train({ ...options, launcher: [path.join(dir, "nope", "torchrun")] }, recipe()))
      assert.strictEqual(noLauncher.message, `backend prime is unavailable: executable ${path.join(dir, "nope", "torchrun")} not found`)
      const noWorkdir = yield* Effect.flip(train({ ...options, workdir: path.join(dir, "gone") }, recipe()))
      assert.strictEqual(noWorkdir.message, `backend prime is unavailable: working directory ${path.join(dir, "gone")} not found`)
      fs.mkdirSync(path.join(dir, "empty-checkout"))
      const noScript = yield* Effect.flip(train({ ...options, workdir: path.join(dir, "empty-checkout") }, recipe()))
      assert.strictEqual(
        noScript.message,
        `backend prime is unavailable: training script ${path.join(dir, "empty-checkout", "src/zeroband/train.py")} not found`
      )
    }))

  it.effect("garbage output, a NaN loss or a missing checkpoint is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const garbage = yield* Effect.flip(train(setup({ "*": { mode: "garbage" } }).options, recipe()))
      assert.strictEqual(garbage._tag, "CheckpointMalformed")
      assert.include(garbage.message, "island 0 exited 0 without")
      const nan = yield* Effect.flip(train(setup({ "1": { mode: "nan" } }).options, recipe({ islands: 2 })))
      assert.strictEqual(nan._tag, "CheckpointMalformed")
      assert.include(nan.message, "island 1's last loss (step 6) is NaN")
      const noCheckpoint = yield* Effect.flip(train(setup({ "*": { mode: "no-checkpoint" } }).options, recipe()))
      assert.strictEqual(noCheckpoint._tag, "CheckpointMalformed")
      assert.include(noCheckpoint.message, "never logged \"Saved checkpoint to <path>\"")
    }))

  it.effect("GPUs per island: torchrun gets --nproc_per_node and the island its devices", () =>
    Effect.gen(function*() {
      // batch 32 over 2 GPUs is 16 samples each, one micro-batch of 16: a config the stand-in accepts
      const { options, received: got } = setup({})
      const artifact = yield* train({ ...options, gpusPerIsland: 2 }, recipe({ islands: 2 }))
      assert.strictEqual(artifact.trainLoss, 2)
      assert.strictEqual(received(got, 0).nproc, 2)
      assert.strictEqual(received(got, 1).env.CUDA_VISIBLE_DEVICES, "2,3")
    }))

  it.effect("interrupting a training run kills its islands", () =>
    Effect.gen(function*() {
      const { options, pids } = setup({ "*": { mode: "hang" } })
      const fiber = yield* Effect.fork(train(options, recipe({ islands: 2 })))
      const first = yield* Effect.promise(() => waitForPid(path.join(pids, "island-0.pid")))
      const second = yield* Effect.promise(() => waitForPid(path.join(pids, "island-1.pid")))
      assert.isTrue(running(first) && running(second))
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isFalse(running(first))
      assert.isFalse(running(second))
    }))

  it.effect("a knob prime cannot express is RecipeUnsupported and starts nothing", () =>
    Effect.gen(function*() {
      const { options, pids } = setup({})
      const error = yield* Effect.flip(train(options, recipe({ keepFraction: 0.1 })))
      assert.deepStrictEqual({ tag: error._tag, field: error._tag === "RecipeUnsupported" ? error.field : "" }, {
        tag: "RecipeUnsupported",
        field: "keepFraction"
      })
      assert.strictEqual(pidsIn(pids).length, 0)
      assert.isFalse(fs.existsSync(options.checkpointDir ?? ""))
      const invalid = yield* Effect.flip(train(options, recipe({ islands: 0 })))
      assert.strictEqual(invalid._tag, "RecipeInvalid")
    }))

  it.effect("tee marks the cluster sealed with a claim naming the backend", () =>
    Effect.gen(function*() {
      const { options } = setup({})
      const cluster = yield* Effect.provide(TrainingCluster, Prime.layerWith({ ...options, tee: "phala-tdx" }))
      assert.strictEqual(cluster.isolation, "sealed")
      const report = Option.getOrThrow(cluster.attestation)
      assert.strictEqual(report.teeType, "phala-tdx")
      assert.strictEqual(new TextDecoder().decode(report.evidence), "tee-backend-claim:prime")
      assert.strictEqual(new TextDecoder().decode(report.measurement), "operator-claim:not-verified")
      const plain = yield* Effect.provide(TrainingCluster, Prime.layerWith(options))
      assert.strictEqual(plain.isolation, "shared")
      assert.isTrue(Option.isNone(plain.attestation))
    }))

  it.effect("built from a decoded {\"kind\":\"prime\"} spec through ClusterSpec.toLayer", () =>
    Effect.gen(function*() {
      const { options } = setup({ "*": { finalLoss: 1.5 } })
      const spec: ClusterSpec.ClusterSpec = { kind: "prime", ...options }
      const artifact = yield* Effect.flatMap(TrainingCluster, (c) => c.train(recipe(), 3n)).pipe(
        Effect.provide(ClusterSpec.toLayer(spec))
      )
      assert.strictEqual(artifact.trainLoss, 1.5)
      const incoherent = yield* Effect.flip(
        Effect.provide(TrainingCluster, ClusterSpec.toLayer({ kind: "prime", ...options, batchSize: 30 }))
      )
      assert.strictEqual(incoherent._tag, "ClusterInvalid")
    }))

  it.effect("inside a one-shot competition, re-scored by a scorer that reads the artifacts", () =>
    Effect.gen(function*() {
      const { options } = setup({ "*": { finalLoss: 2 } })
      const measured = yield* Ref.make<Array<TrainedArtifact>>([])
      // A referee double: it requires a real checkpoint and scores more islands higher.
      const scorer = Layer.succeed(
        Scorer,
        Scorer.of({
          id: "checkpoint-double",
          shards: 16,
          measure: (artifact) =>
            Effect.gen(function*() {
              yield* Ref.update(measured, (all) => [...all, artifact])
              const value = fs.existsSync(artifact.checkpoint ?? "/nonexistent") ? artifact.recipe.islands / 10 : 0
              return { value, ciLower: value - 0.001, ciUpper: value + 0.001, n: 16, cost: 16 }
            })
        })
      )
      const outcome = yield* runOneShot({
        id: 1,
        gate: { minLiftCiLower: 0.02, minN: 12 },
        reward: { kind: "snapshot-top-k", weightsBps: [6000, 4000] },
        poolWei: 1000n,
        baseline: { recipe: recipe({ innerSteps: 1 }), seed: 0n },
        researchers: [
          { name: "two", seed: 1n, recipe: recipe({ islands: 2 }) },
          { name: "three", seed: 2n, recipe: recipe({ islands: 3 }) }
        ]
      }).pipe(Effect.provide(Layer.merge(Prime.layerWith(options), scorer)))
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), ["three", "two"])
      // lifts over the 1-island baseline: 0.3 - 0.1 and 0.2 - 0.1
      assert.closeTo(outcome.ranked[0]?.lift.delta ?? 0, 0.2, 1e-12)
      assert.closeTo(outcome.ranked[1]?.lift.delta ?? 0, 0.1, 1e-12)
      assert.deepStrictEqual(outcome.payouts.map((p) => [p.researcher, p.wei]), [["three", 600n], ["two", 400n]])
      const seen = yield* Ref.get(measured)
      assert.strictEqual(seen.length, 3)
      for (const artifact of seen) assert.strictEqual(artifact.clusterId, "prime")
    }))

  it.effect("inside a hierarchy: two prime clusters train concurrently and their losses merge", () =>
    Effect.gen(function*() {
      const a = setup({ "*": { finalLoss: 2.5 } })
      const b = setup({ "*": { finalLoss: 2 } })
      const hierarchy = Hierarchical.layer({
        crossSyncInterval: 4,
        inner: [Prime.layerWith(a.options), Prime.layerWith(b.options)]
      })
      const artifact = yield* Effect.flatMap(TrainingCluster, (c) => c.train(recipe({ islands: 2 }), 9n)).pipe(
        Effect.provide(hierarchy)
      )
      // SPEC §10 with k = 2, interval 4: mean(2.5, 2) - 0.20 ln 2
      assert.closeTo(artifact.trainLoss, 2.25 - 0.2 * Math.log(2), 1e-12)
      assert.include(artifact.checkpoint ?? "", a.dir)
      const failing = setup({ "*": { mode: "fail", exitCode: 7 } })
      const error = yield* Effect.flip(
        Effect.flatMap(TrainingCluster, (c) => c.train(recipe(), 9n)).pipe(
          Effect.provide(Hierarchical.layer({ crossSyncInterval: 4, inner: [Prime.layerWith(a.options), Prime.layerWith(failing.options)] }))
        )
      )
      assert.strictEqual(error._tag, "InnerClusterFailed")
      if (error._tag === "InnerClusterFailed") {
        assert.strictEqual(error.path, "root/1")
        assert.strictEqual(error.error._tag, "BackendFailed")
      }
      for (const pid of [...pidsIn(a.pids), ...pidsIn(failing.pids)]) assert.isFalse(running(pid))
    }))
})

layer(NodeWithKey, { timeout: "60 seconds" })("prime backend (TestClock deadline)", (it) => {
  it.effect("a hung run is stopped at its deadline (on the Effect Clock): TrainingTimeout, and every island is gone", () =>
    Effect.gen(function*() {
      const { options, pids } = setup({ "*": { mode: "hang" } })
      const fiber = yield* Effect.fork(train({ ...options, deadlineSeconds: 600 }, recipe({ islands: 2 })))
      const islands = yield* Effect.promise(() =>
        Promise.all([waitForPid(path.join(pids, "island-0.pid")), waitForPid(path.join(pids, "island-1.pid"))])
      )
      yield* TestClock.adjust("599 seconds")
      for (const pid of islands) assert.isTrue(running(pid))
      yield* TestClock.adjust("1 second")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.deepStrictEqual({ tag: error._tag, message: error.message }, {
        tag: "TrainingTimeout",
        message: "training on prime passed its deadline of 600000 ms and was stopped"
      })
      for (const pid of islands) assert.isFalse(running(pid))
    }))
})
