/**
 * The cpu-diloco cluster against the real trainer executable (dist/trainer/bin.js,
 * built by `npm run build`): a run writes its config, streams progress, returns an
 * artifact whose checkpoint holds the recipe's weights, and the same recipe and seed
 * give the same checkpoint bytes. Tiny budgets and models keep each run to a second or two.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Ref, Schema } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import { type ProgressEvent, TrainingCluster, TrainingProgress } from "../src/cluster/TrainingCluster.js"
import { TrainedArtifact } from "../src/domain/Artifact.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { readCheckpoint } from "../src/trainer/Checkpoint.js"
import { tempDir } from "./fixtures/standins.js"
import { smallCpuDiloco } from "./support/checkpoints.js"
import { checkpointDigest, NodeWithKey, TestKey, testKey, writeKeyFile } from "./support/keys.js"
import { receiptOf } from "./support/receipts.js"

const repoRoot = fileURLToPath(new URL("../", import.meta.url))
const builtTrainer = path.join(repoRoot, "dist", "trainer", "bin.js")

const recipe = (overrides: Partial<Recipe> = {}): Recipe => ({
  islands: 2,
  innerSteps: 8,
  innerLr: 0.003,
  outerLr: 0.7,
  keepFraction: 1,
  ...overrides
})

/** A small model: context 4, embed 8, hidden 32 over the 8-symbol default source. */
const small = smallCpuDiloco

/** Parameters of the small model, counted by hand from its tensors. */
const SMALL_PARAMETERS = 8 * 8 + // embedding [vocab, embed]
  4 * 8 * 32 + // hidden.weight [context * embed, hidden]
  32 + // hidden.bias
  32 * 8 + // output.weight [hidden, vocab]
  8 // output.bias

const trainWith = (options: CpuDiloco.CpuDilocoOptions, r: Recipe, seed: bigint) =>
  Effect.flatMap(TrainingCluster, (cluster) => cluster.train(r, seed)).pipe(Effect.provide(CpuDiloco.layerWith(options)))

const decodeSpec = Schema.decodeUnknownEither(ClusterSpec.ClusterSpec, { onExcessProperty: "error" })

describe("cpu-diloco spec and trainer location", () => {
  it("the bare spec decodes, unknown fields and bad data are rejected by name", () => {
    assert.isTrue(Either.isRight(decodeSpec({ kind: "cpu-diloco" })))
    const full = decodeSpec({
      kind: "cpu-diloco",
      budget: 64,
      batchSize: 8,
      context: 3,
      hidden: 16,
      embed: 4,
      data: { kind: "markov", order: 1, alphabet: 5, seed: "9" },
      deadlineSeconds: 5,
      ignore: ["keepFraction"],
      tee: "none",
      executable: "/bin/true"
    })
    assert.isTrue(Either.isRight(full))
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", hiddenUnits: 16 })))
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", context: 65 })))
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", budget: 0 })))
    // seed must be a decimal string; 16^3 = 4096 transitions is fine, 256^3 is not
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", data: { kind: "markov", seed: 9 } })))
    assert.isTrue(Either.isRight(decodeSpec({ kind: "cpu-diloco", data: { kind: "markov", alphabet: 16, order: 2 } })))
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", data: { kind: "markov", alphabet: 256, order: 2 } })))
    assert.isTrue(Either.isLeft(decodeSpec({ kind: "cpu-diloco", data: { kind: "text" } })))
  })

  it("the default trainer is found from the library (dist/cluster/) and from the bundled CLI (dist/bin.js)", () => {
    const root = "/opt/pkg"
    const fromLibrary = CpuDiloco.trainerCandidates(pathToFileURL(`${root}/dist/cluster/CpuDilocoCluster.js`).href)
    const fromBundle = CpuDiloco.trainerCandidates(pathToFileURL(`${root}/dist/bin.js`).href)
    const fromSource = CpuDiloco.trainerCandidates(pathToFileURL(`${root}/src/cluster/CpuDilocoCluster.ts`).href)
    const expected = `${root}/dist/trainer/bin.js`
    assert.strictEqual(fromLibrary[0], expected)
    assert.include(fromBundle, expected)
    assert.include(fromSource, expected)
  })

  it.live("a text data file that does not exist is refused when the layer is built", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.either(
        Effect.flatMap(TrainingCluster, (c) => Effect.succeed(c.id)).pipe(
          Effect.provide(CpuDiloco.layerWith({ data: { kind: "text", path: "/nonexistent/corpus.txt" } })),
          Effect.provide(TestKey),
          Effect.provide(NodeContext.layer)
        )
      )
      assert.isTrue(Either.isLeft(exit))
      if (Either.isLeft(exit)) {
        assert.strictEqual(exit.left._tag, "ClusterInvalid")
        assert.include(exit.left.message, "/nonexistent/corpus.txt")
      }
    }))
})

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("cpu-diloco against the real trainer", (it) => {
  it.effect("trains: run config written, progress streamed, checkpoint of the recipe returned", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-diloco")
      const events = yield* Ref.make<ReadonlyArray<ProgressEvent>>([])
      const sink = Layer.succeed(
        TrainingProgress,
        TrainingProgress.of({ publish: (event) => Ref.update(events, (all) => [...all, event]) })
      )
      const r = recipe()
      const artifact = yield* Effect.flatMap(TrainingCluster, (cluster) => cluster.train(r, 5n)).pipe(
        Effect.provide(CpuDiloco.layerWith(small(path.join(dir, "runs"))).pipe(Layer.provide(sink)))
      )
      assert.strictEqual(artifact.clusterId, "cpu-diloco")
      assert.deepStrictEqual(artifact.recipe, r)
      assert.strictEqual(artifact.trainSeed, 5n)
      assert.deepStrictEqual(artifact.notApplied, [])
      assert.isTrue(Number.isFinite(artifact.trainLoss) && artifact.trainLoss > 0)
      const checkpoint = artifact.checkpoint ?? ""
      assert.isTrue(checkpoint.startsWith(path.join(dir, "runs") + path.sep), checkpoint)
      assert.isTrue(fs.existsSync(checkpoint))
      // the cluster hashed the checkpoint and signed the artifact under the operator key (SPEC §15.1)
      assert.strictEqual(artifact.checkpointSha256, checkpointDigest(checkpoint))
      assert.strictEqual(artifact.receipt, receiptOf(testKey, artifact))

      // the run config the trainer read sits beside the checkpoint
      const config = JSON.parse(fs.readFileSync(path.join(path.dirname(checkpoint), "run.json"), "utf8"))
      assert.deepStrictEqual(config.recipe, r)
      assert.strictEqual(config.seed, "5")
      assert.strictEqual(config.hidden, 32)
      assert.strictEqual(config.budget, 32)

      // the checkpoint holds the model the options asked for, trained for this recipe and seed
      const loaded = yield* readCheckpoint(checkpoint)
      assert.deepStrictEqual(loaded.model, { context: 4, embed: 8, hidden: 32, vocab: 8 })
      assert.strictEqual(loaded.training["seed"], "5")

      // progress: every inner step with a loss, and bytes sent following the dense formula:
      // 4 syncs (budget 32 / H 8) x 2 islands x 4 bytes x parameters (keepFraction 1 is sent dense)
      const seen = yield* Ref.get(events)
      const steps = seen.filter((e) => e.line.includes('"event":"step"'))
      assert.deepStrictEqual(steps.map((e) => e.step), Array.from({ length: 32 }, (_, i) => i + 1))
      assert.isTrue(steps.every((e) => e.clusterId === "cpu-diloco" && Number.isFinite(e.loss ?? Number.NaN)))
      const sent = seen.map((e) => e.bytesSent ?? 0)
      assert.strictEqual(Math.max(...sent), 4 * 2 * 4 * SMALL_PARAMETERS)
      // before the first sync (step 8) nothing has been sent
      assert.strictEqual(steps[0]?.bytesSent, 0)
      // a sync keeps the status line's loss: the loss of the step it follows
      const firstSync = seen.find((e) => e.line.includes('"event":"sync"'))
      assert.strictEqual(firstSync?.step, 8)
      assert.strictEqual(firstSync?.loss, steps[7]?.loss)
    }))

  it.effect("the same recipe and seed give the same checkpoint bytes; another seed does not", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-diloco-det")
      const options = small(dir)
      const r = recipe({ islands: 2, innerSteps: 4, keepFraction: 0.25 })
      const first = yield* trainWith(options, r, 42n)
      const second = yield* trainWith(options, r, 42n)
      const other = yield* trainWith(options, r, 43n)
      assert.notStrictEqual(first.checkpoint, second.checkpoint)
      const bytes = (a: { readonly checkpoint?: string | undefined }) => fs.readFileSync(a.checkpoint ?? "")
      assert.isTrue(bytes(first).equals(bytes(second)))
      assert.isFalse(bytes(first).equals(bytes(other)))
      assert.strictEqual(first.trainLoss, second.trainLoss)
    }))

  it.effect("more islands than one process simulates is RecipeUnsupported, before anything runs", () =>
    Effect.gen(function*() {
      const dir = tempDir("cpu-diloco-big")
      const error = yield* Effect.flip(trainWith({ ...small(dir), ignore: ["islands"] }, recipe({ islands: 257 }), 1n))
      assert.strictEqual(error._tag, "RecipeUnsupported")
      if (error._tag === "RecipeUnsupported") assert.strictEqual(error.field, "islands")
      assert.deepStrictEqual(fs.readdirSync(dir), [])
    }))

  it.effect("the built library (dist/index.js) finds its own trainer and trains in a real Node process", () =>
    Effect.gen(function*() {
      assert.isTrue(fs.existsSync(builtTrainer), "run npm run build first")
      const dir = tempDir("cpu-diloco-dist")
      const keyFile = writeKeyFile(dir)
      // the operator key comes from a key file (Layers.operatorKey, SPEC §15.1); the artifact is printed as JSON
      const program = `
        import { Effect, Option } from "effect"
        import { NodeContext } from "@effect/platform-node"
        import { CpuDilocoCluster, Layers, TrainingCluster } from "./dist/index.js"
        const recipe = { islands: 1, innerSteps: 4, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
        const run = Effect.flatMap(TrainingCluster, (c) => c.train(recipe, 3n)).pipe(
          Effect.provide(CpuDilocoCluster.layerWith({ checkpointDir: ${JSON.stringify(dir)}, budget: 8, hidden: 16 })),
          Effect.provide(Layers.operatorKey(Option.some(${JSON.stringify(keyFile)}))),
          Effect.provide(NodeContext.layer)
        )
        Effect.runPromise(run).then((a) => process.stdout.write(JSON.stringify({ ...a, trainSeed: String(a.trainSeed) })))
      `
      const result = yield* Effect.promise(() =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ["--input-type=module", "-e", program], { cwd: repoRoot })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
          child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
          child.on("close", (code) => resolve({ code, stdout, stderr }))
        })
      )
      assert.strictEqual(result.code, 0, result.stderr)
      const printed = Schema.decodeUnknownSync(TrainedArtifact)(JSON.parse(result.stdout))
      const checkpoint = printed.checkpoint ?? ""
      assert.isTrue(checkpoint.startsWith(dir), checkpoint)
      assert.strictEqual((yield* readCheckpoint(checkpoint)).model.hidden, 16)
      // signed under the key file's key, over the checkpoint's hash
      assert.strictEqual(printed.checkpointSha256, checkpointDigest(checkpoint))
      assert.strictEqual(printed.receipt, receiptOf(testKey, printed))
    }))
})
