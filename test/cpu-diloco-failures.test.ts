/**
 * The cpu-diloco cluster against small real executables the test writes (Node scripts
 * with a shebang, passed as the `executable` option) that act out the trainer's
 * failure modes: missing, exiting non-zero, printing garbage, reporting a checkpoint
 * that is missing, invalid or of another run, never finishing (killed at the deadline)
 * and being interrupted. Each is its typed error, and no process survives.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import { type ProgressEvent, TrainingCluster, TrainingProgress } from "../src/cluster/TrainingCluster.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { encodeCheckpoint } from "../src/trainer/Checkpoint.js"
import { type ModelConfig, paramSpecs } from "../src/trainer/Mlp.js"
import { running, tempDir, waitForPid, writeScript } from "./fixtures/standins.js"
import { NodeWithKey } from "./support/keys.js"

const recipe: Recipe = { islands: 2, innerSteps: 4, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.5 }
const model: ModelConfig = { context: 2, embed: 2, hidden: 3, vocab: 8 }

/** A checkpoint file with zero weights whose provenance names `seed` and `recipe`. */
const writeCheckpointFile = (file: string, seed: string, r: Recipe): void => {
  const bytes = encodeCheckpoint({
    model,
    data: { kind: "markov", order: 2, alphabet: 8, seed: 0n },
    vocabulary: undefined,
    weights: paramSpecs(model).map((p) => new Float32Array(p.size)),
    training: { recipe: JSON.stringify(r), seed }
  })
  fs.writeFileSync(file, Either.getOrThrowWith(bytes, (error) => error))
}

/**
 * A stand-in trainer: it records its pid and the config it was given, reads `outDir`
 * from the config, then runs `body` (with `outDir`, `config` and `emit(event)` in scope).
 */
const standIn = (dir: string, body: string): string =>
  writeScript(
    dir,
    "trainer",
    `
const fs = require("node:fs")
const path = require("node:path")
const at = process.argv.indexOf("--config")
const config = JSON.parse(fs.readFileSync(process.argv[at + 1], "utf8"))
const outDir = config.outDir
fs.writeFileSync(${JSON.stringify(path.join(dir, "trainer.pid"))}, String(process.pid))
fs.writeFileSync(${JSON.stringify(path.join(dir, "received.json"))}, JSON.stringify({ argv: process.argv.slice(2), config }))
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\\n")
${body}
`
  )

const options = (dir: string, executable: string, deadlineSeconds = 30): CpuDiloco.CpuDilocoOptions => ({
  executable,
  checkpointDir: path.join(dir, "runs"),
  deadlineSeconds
})

const train = (o: CpuDiloco.CpuDilocoOptions, seed = 7n) =>
  Effect.flatMap(TrainingCluster, (cluster) => cluster.train(recipe, seed)).pipe(Effect.provide(CpuDiloco.layerWith(o)))

const failure = (o: CpuDiloco.CpuDilocoOptions) => Effect.flip(train(o))

/** The stand-in's pid, once it has written it (real time). */
const pidOf = (dir: string) => Effect.promise(() => waitForPid(path.join(dir, "trainer.pid"), 10_000))

/**
 * Whether `process.kill(pid, 0)` throws (no such process) within a moment: the kill has
 * already happened when the run returns, and Node reaps its exited child asynchronously.
 */
const gone = (pid: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0)
      } catch {
        return true
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return false
  })

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("cpu-diloco failure modes (real processes)", (it) => {
  it.effect("a stand-in that does the job: argv, config, progress and its checkpoint are used", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-ok")
      const executable = standIn(
        dir,
        `
emit({ event: "start", islands: 2 })
emit({ event: "step", round: 1, step: 1, loss: 2.5, bytesSent: 0, tokens: 32 })
emit({ event: "sync", round: 1, step: 1, bytesDense: 800, bytesSent: 480, bytesDenseTotal: 800, bytesSentTotal: 480, keptPerIsland: 30 })
process.stderr.write("a warning on stderr\\n")
const checkpoint = path.join(outDir, "model.safetensors")
fs.writeFileSync(checkpoint, fs.readFileSync(${JSON.stringify(path.join(dir, "prepared.safetensors"))}))
emit({ event: "done", trainLoss: 1.75, checkpoint })
`
      )
      writeCheckpointFile(path.join(dir, "prepared.safetensors"), "7", recipe)
      const events = yield* Ref.make<ReadonlyArray<ProgressEvent>>([])
      const sink = Layer.succeed(TrainingProgress, { publish: (e) => Ref.update(events, (all) => [...all, e]) })
      const artifact = yield* Effect.flatMap(TrainingCluster, (cluster) => cluster.train(recipe, 7n)).pipe(
        Effect.provide(CpuDiloco.layerWith(options(dir, executable)).pipe(Layer.provide(sink)))
      )
      assert.strictEqual(artifact.trainLoss, 1.75)
      const received = JSON.parse(fs.readFileSync(path.join(dir, "received.json"), "utf8"))
      // an argument vector: --config and the file, nothing else
      assert.deepStrictEqual(received.argv.slice(0, 1), ["--config"])
      assert.strictEqual(received.argv.length, 2)
      assert.strictEqual(artifact.checkpoint, path.join(received.config.outDir, "model.safetensors"))
      assert.deepStrictEqual(received.config.recipe, recipe)
      assert.strictEqual(received.config.seed, "7")
      const seen = yield* Ref.get(events)
      const step = seen.find((e) => e.step === 1 && e.loss !== undefined)
      assert.deepStrictEqual(
        step && { step: step.step, loss: step.loss, bytesSent: step.bytesSent },
        { step: 1, loss: 2.5, bytesSent: 0 }
      )
      assert.isTrue(seen.some((e) => e.bytesSent === 480))
      assert.isTrue(seen.some((e) => e.line === "a warning on stderr"))
      assert.isFalse(running(yield* pidOf(dir)))
    }))

  it.effect("a missing executable is BackendUnavailable (a path or a name not on PATH)", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-missing")
      const byPath = yield* failure(options(dir, path.join(dir, "no-such-trainer")))
      assert.strictEqual(byPath._tag, "BackendUnavailable")
      assert.include(byPath.message, "no-such-trainer")
      const byName = yield* failure(options(dir, "trainmarket-trainer-that-is-not-installed"))
      assert.strictEqual(byName._tag, "BackendUnavailable")
    }))

  it.effect("a non-zero exit is BackendFailed with the exit code and the end of stderr", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-fail")
      const executable = standIn(
        dir,
        `
emit({ event: "step", round: 1, step: 1, loss: 2.5, bytesSent: 0, tokens: 32 })
for (let i = 0; i < 40; i++) process.stderr.write("noise " + i + "\\n")
process.stderr.write("trainmarket-trainer: training diverged: loss is NaN\\n")
process.exitCode = 3
`
      )
      const error = yield* failure(options(dir, executable))
      assert.strictEqual(error._tag, "BackendFailed")
      if (error._tag === "BackendFailed") {
        assert.strictEqual(error.exitCode, 3)
        assert.isTrue(error.stderrTail.endsWith("trainmarket-trainer: training diverged: loss is NaN"))
        // only the end of stderr is kept
        assert.notInclude(error.stderrTail, "noise 0\n")
      }
    }))

  it.effect("garbage output and no final event is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-garbage")
      const executable = standIn(dir, `process.stdout.write("hello\\n{not json\\n[1,2]\\n")`)
      const error = yield* failure(options(dir, executable))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.include(error.message, "done")
      assert.include(error.message, "[1,2]")
    }))

  it.effect("a done event without a usable trainLoss is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-badloss")
      const executable = standIn(dir, `emit({ event: "done", trainLoss: "low", checkpoint: "model.safetensors" })`)
      const error = yield* failure(options(dir, executable))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.include(error.message, "trainLoss")
    }))

  it.effect("a done event pointing at a missing checkpoint is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-nockpt")
      const executable = standIn(
        dir,
        `emit({ event: "done", trainLoss: 1.5, checkpoint: path.join(outDir, "model.safetensors") })`
      )
      const error = yield* failure(options(dir, executable))
      assert.strictEqual(error._tag, "CheckpointMalformed")
      assert.include(error.message, "does not exist")
    }))

  it.effect("a checkpoint that is not safetensors, or was trained for another seed, is CheckpointMalformed", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-badckpt")
      const garbage = standIn(
        dir,
        `
const checkpoint = path.join(outDir, "model.safetensors")
fs.writeFileSync(checkpoint, "definitely not safetensors")
emit({ event: "done", trainLoss: 1.5, checkpoint })
`
      )
      const invalid = yield* failure(options(dir, garbage))
      assert.strictEqual(invalid._tag, "CheckpointMalformed")
      assert.include(invalid.message, "not valid")

      writeCheckpointFile(path.join(dir, "other-seed.safetensors"), "8", recipe)
      const swapped = standIn(
        dir,
        `emit({ event: "done", trainLoss: 1.5, checkpoint: ${JSON.stringify(path.join(dir, "other-seed.safetensors"))} })`
      )
      const other = yield* failure(options(dir, swapped))
      assert.strictEqual(other._tag, "CheckpointMalformed")
      assert.include(other.message, "not trained for this recipe and seed")
    }))

  it.effect("a run that never finishes is killed at its deadline: TrainingTimeout, and the process is gone", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-hang")
      const executable = standIn(dir, `emit({ event: "start" }); setInterval(() => {}, 1000)`)
      const error = yield* failure(options(dir, executable, 1.5))
      assert.strictEqual(error._tag, "TrainingTimeout")
      if (error._tag === "TrainingTimeout") {
        assert.strictEqual(error.deadlineMillis, 1500)
        assert.strictEqual(error.clusterId, "cpu-diloco")
      }
      const pid = yield* pidOf(dir)
      assert.isFalse(running(pid))
      assert.isTrue(yield* gone(pid))
    }))

  it.effect("interrupting the training fiber kills the trainer", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-interrupt")
      const executable = standIn(dir, `setInterval(() => {}, 1000)`)
      const fiber = yield* Effect.fork(train(options(dir, executable)))
      const pid = yield* pidOf(dir)
      assert.isTrue(running(pid))
      yield* Fiber.interrupt(fiber)
      assert.isFalse(running(pid))
      assert.isTrue(yield* gone(pid))
    }))
})
