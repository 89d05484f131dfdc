import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { adamWInit, adamWStep } from "../../src/trainer/AdamW.js"
import { initBackend } from "../../src/trainer/Backend.js"
import { readCheckpoint } from "../../src/trainer/Checkpoint.js"
import { entropyRate, heldOutShards, markovChain, openDataSource } from "../../src/trainer/DataSource.js"
import { CheckpointInvalid } from "../../src/trainer/Errors.js"
import { evaluateCheckpoint } from "../../src/trainer/Evaluate.js"
import { crossEntropy, decayMask, flatten, initWeights, paramSpecs, splitFlat } from "../../src/trainer/Mlp.js"
import { fromTensor, lossAndGrad, toTensor } from "../../src/trainer/MlpTensors.js"
import { decodeRunConfig, type RunConfig } from "../../src/trainer/RunConfig.js"
import { type SyncObservation, train, type TrainEvent } from "../../src/trainer/Train.js"

/** The referee's key for held-out shards in these tests. */
const SECRET = new Uint8Array(32).fill(7)

/** The success of an `Either`; a failure fails the test with the error itself. */
const right = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (error) => error)

const BIN = fileURLToPath(new URL("../../dist/trainer/bin.js", import.meta.url))
let work = ""

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "trainer-test-"))
  await Effect.runPromise(initBackend("wasm"))
})
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true })
})

const config = (input: Record<string, unknown>): RunConfig => {
  const decoded = decodeRunConfig(input)
  if (Either.isLeft(decoded)) throw decoded.left
  return decoded.right
}

interface Run {
  readonly status: number | null
  readonly stderr: string
  readonly events: ReadonlyArray<Record<string, unknown>>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Run the built trainer executable on a config file. */
const runBin = (name: string, body: unknown): Run => {
  assert.isTrue(fs.existsSync(BIN), `${BIN} is missing: run npm run build first`)
  const file = path.join(work, `${name}.json`)
  fs.writeFileSync(file, typeof body === "string" ? body : JSON.stringify(body))
  // stdin /dev/null: a pipe that closed at once would tell the trainer its parent is gone
  const run = spawnSync(process.execPath, [BIN, "--config", file], {
    encoding: "utf8",
    timeout: 120_000,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines = run.stdout.split("\n").filter((line) => line.length > 0)
  const events = lines.map((line) => {
    const parsed: unknown = JSON.parse(line)
    if (!isRecord(parsed)) throw new Error(`not a JSON object line: ${line}`)
    return parsed
  })
  return { status: run.status, stderr: run.stderr, events }
}

const num = (event: Record<string, unknown> | undefined, key: string): number => {
  const value = event?.[key]
  assert.isNumber(value, key)
  return typeof value === "number" ? value : NaN
}

const baseline = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }

describe("the model's hand-written backward pass", () => {
  it("matches finite differences of the float64 forward pass", () => {
    const model = { context: 3, embed: 4, hidden: 6, vocab: 5 }
    const weights = initWeights(model, 3n)
    const tokens = Int32Array.from([0, 4, 2, 1, 3, 3, 0, 2, 4, 1, 1, 2])
    const size = tokens.length - 3
    const contexts = new Int32Array(size * 3)
    const targets = new Int32Array(size)
    for (let b = 0; b < size; b++) {
      contexts.set(tokens.subarray(b, b + 3), b * 3)
      targets[b] = tokens[b + 3]!
    }
    const param = toTensor(flatten(weights))
    const { grad, loss } = lossAndGrad(model, param, { size, context: 3, contexts, targets })
    assert.closeTo(loss, right(crossEntropy(model, weights, tokens, 3)), 1e-5)
    const analytic = splitFlat(model, fromTensor(grad))
    tf.dispose([param, grad])
    const step = 1e-3
    paramSpecs(model).forEach((p, t) => {
      const w = weights[t]!
      for (let i = 0; i < p.size; i++) {
        const original = w[i]!
        w[i] = original + step
        const up = right(crossEntropy(model, weights, tokens, 3))
        w[i] = original - step
        const down = right(crossEntropy(model, weights, tokens, 3))
        w[i] = original
        // central differences of a smooth loss (ReLU kinks aside) in float64
        assert.closeTo(analytic[t]![i]!, (up - down) / (2 * step), 1e-4, `${p.name}[${i}]`)
      }
    })
  })
})

describe("DiLoCo in-process", () => {
  it("islands 1, innerSteps 1, outerLr 1, momentum 0, keepFraction 1 is plain AdamW", async () => {
    const run = config({
      recipe: { islands: 1, innerSteps: 1, innerLr: 0.01, outerLr: 1, keepFraction: 1 },
      seed: "42",
      outDir: path.join(work, "reduce"),
      outerMomentum: 0,
      budget: 24,
      batchSize: 16,
      context: 3,
      hidden: 16,
      embed: 4,
      devTokens: 0
    })
    const result = await Effect.runPromise(train(run, () => {}))
    // The same optimiser without any outer loop, on island 0's stream.
    const source = right(openDataSource(run.data))
    const model = { context: 3, embed: 4, hidden: 16, vocab: source.vocabSize }
    const mask = toTensor(decayMask(model))
    const stream = right(source.trainStream(run.seed, 0, 1, run.context))
    let param: tf.Tensor = toTensor(flatten(initWeights(model, run.seed)))
    let state = adamWInit(param)
    const options = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: run.weightDecay }
    for (let s = 0; s < run.budget; s++) {
      const { grad } = lossAndGrad(model, param, stream.nextBatch(run.batchSize))
      const next = adamWStep(param, grad, state, options, mask)
      param = next.param
      state = next.state
    }
    const plain = splitFlat(model, fromTensor(param))
    tf.dispose([param, mask, state.m, state.v])
    const initial = initWeights(model, run.seed)
    let moved = 0
    paramSpecs(model).forEach((p, t) => {
      for (let i = 0; i < p.size; i++) {
        const a = result.weights[t]![i]!
        const b = plain[t]![i]!
        // theta - (theta - theta_island) rounds once per step in float32
        assert.isTrue(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${p.name}[${i}]: ${a} vs ${b}`)
        moved = Math.max(moved, Math.abs(b - initial[t]![i]!))
      }
    })
    assert.isAbove(moved, 0.05, "training moved the weights")
  })

  it("error feedback: sent + carried equals pseudo-gradient + previous residual, and the residual is carried on", async () => {
    const observations: Array<SyncObservation> = []
    const events: Array<TrainEvent> = []
    const run = config({
      recipe: { islands: 2, innerSteps: 3, innerLr: 0.01, outerLr: 0.7, keepFraction: 0.05 },
      seed: "5",
      outDir: path.join(work, "feedback"),
      budget: 8,
      batchSize: 8,
      context: 2,
      hidden: 8,
      embed: 4,
      devTokens: 0
    })
    await Effect.runPromise(train(run, (event) => events.push(event), { observeSync: (o) => observations.push(o) }))
    // rounds = ceil(8 / 3) = 3, the last one 2 steps long
    assert.strictEqual(observations.length, 3 * 2)
    const sizes = [8 * 4, 2 * 4 * 8, 8, 8 * 8, 8]
    const sparseBytes = sizes.reduce((total, size) => total + 8 * Math.max(1, Math.round(0.05 * size)), 0)
    for (const o of observations) {
      assert.strictEqual(o.bytes, sparseBytes)
      o.compressed.forEach((c, t) => {
        const size = sizes[t]!
        assert.strictEqual(c.indices.length, Math.max(1, Math.round(0.05 * size)))
        for (let i = 0; i < size; i++) {
          const expected = Math.fround(o.global[t]![i]! - o.islandWeights[t]![i]! + o.carried[t]![i]!)
          assert.strictEqual(c.sent[i]! + c.residual[i]!, expected)
        }
      })
      if (o.round > 1) {
        const previous = observations.find((p) => p.round === o.round - 1 && p.island === o.island)
        previous?.compressed.forEach((c, t) => assert.deepStrictEqual([...o.carried[t]!], [...c.residual]))
      }
    }
    const steps = events.filter((e) => e.event === "step")
    const syncs = events.filter((e) => e.event === "sync")
    assert.deepStrictEqual(
      steps.map((e) => (e.event === "step" ? e.round : 0)),
      [1, 1, 1, 2, 2, 2, 3, 3]
    )
    assert.strictEqual(syncs.length, 3)
    for (const e of syncs) {
      if (e.event !== "sync") continue
      assert.strictEqual(e.bytesSent, 2 * sparseBytes)
      assert.strictEqual(e.bytesDense, 2 * 4 * sizes.reduce((a, b) => a + b, 0))
    }
  })
})

describe("text data", () => {
  it("trains on a UTF-8 file; the referee scores its held-out region and refuses another vocabulary", async () => {
    const file = path.join(work, "corpus.txt")
    fs.writeFileSync(file, "the cat sat on the mat. ".repeat(250))
    const run = config({
      recipe: { islands: 2, innerSteps: 4, innerLr: 0.01, outerLr: 0.7, keepFraction: 1 },
      seed: "3",
      outDir: path.join(work, "text"),
      budget: 48,
      context: 6,
      devTokens: 200,
      data: { kind: "text", path: file }
    })
    const result = await Effect.runPromise(train(run, () => {}))
    const loaded = right(readCheckpoint(result.done.checkpoint))
    assert.deepStrictEqual(loaded.vocabulary, [" ", ".", "a", "c", "e", "h", "m", "n", "o", "s", "t"])
    assert.isNull(result.done.entropyFloor)
    const losses = right(evaluateCheckpoint(result.done.checkpoint, run.data, right(heldOutShards(run.data, SECRET, 4, 100, 6))))
    assert.strictEqual(losses.length, 4)
    // a periodic text is nearly deterministic given 6 characters: far below a uniform guess
    for (const loss of losses) assert.isBelow(loss, 0.5 * Math.log(11))
    const other = path.join(work, "other.txt")
    fs.writeFileSync(other, "xyz ".repeat(500))
    const otherSpec = { kind: "text", path: other } as const
    const refused = evaluateCheckpoint(result.done.checkpoint, otherSpec, right(heldOutShards(otherSpec, SECRET, 2, 10, 6)))
    assert.isTrue(Either.isLeft(refused), "a checkpoint trained on another vocabulary must be refused")
    if (Either.isLeft(refused)) {
      assert.instanceOf(refused.left, CheckpointInvalid)
      assert.strictEqual(refused.left._tag, "CheckpointInvalid")
    }
  })
})

describe("the trainer executable", () => {
  it("the bare config learns: held-out loss far below ln(alphabet), toward the entropy floor", () => {
    const run = runBin("bare", { recipe: baseline, seed: "1", outDir: path.join(work, "bare") })
    assert.strictEqual(run.status, 0, run.stderr)
    const done = run.events.at(-1)
    assert.strictEqual(done?.["event"], "done")
    const checkpoint = done?.["checkpoint"]
    assert.isString(checkpoint)
    assert.isTrue(typeof checkpoint === "string" && path.isAbsolute(checkpoint))
    // The default source: order-2 chain over 8 symbols, data seed 0.
    const spec = { kind: "markov", order: 2, alphabet: 8, seed: 0n } as const
    const floor = entropyRate(markovChain(spec))
    const uniform = Math.log(8)
    const shards = right(heldOutShards(spec, SECRET, 8, 1024))
    const losses = right(evaluateCheckpoint(typeof checkpoint === "string" ? checkpoint : "", spec, shards))
    const heldOut = losses.reduce((a, b) => a + b, 0) / losses.length
    const loaded = right(readCheckpoint(typeof checkpoint === "string" ? checkpoint : ""))
    const untrained = initWeights(loaded.model, 1n)
    const before = shards.reduce((t, s) => t + right(crossEntropy(loaded.model, untrained, s.tokens, s.history)), 0) / shards.length
    assert.isBelow(heldOut, floor + 0.5 * (uniform - floor), `held-out ${heldOut}, floor ${floor}`)
    assert.isAbove(heldOut, floor - 0.02, "no model beats the entropy rate")
    assert.isBelow(heldOut, before - 0.5, `untrained ${before}`)
    assert.closeTo(num(done, "entropyFloor"), floor, 1e-12)
    const start = run.events[0]
    assert.strictEqual(start?.["event"], "start")
    assert.oneOf(start?.["backend"], ["wasm", "cpu"])
    assert.strictEqual(run.events.filter((e) => e["event"] === "step").length, 256)
    assert.strictEqual(run.events.filter((e) => e["event"] === "sync").length, 256)
  })

  it("same config, same checkpoint bytes; compressed syncs counted as values + indices", () => {
    const body = (dir: string) => ({
      recipe: { islands: 3, innerSteps: 5, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 },
      seed: "18446744073709551615",
      outDir: path.join(work, dir),
      budget: 12
    })
    const first = runBin("det-a", body("det-a"))
    const second = runBin("det-b", body("det-b"))
    assert.strictEqual(first.status, 0, first.stderr)
    assert.strictEqual(second.status, 0, second.stderr)
    const a = fs.readFileSync(path.join(work, "det-a", "model.safetensors"))
    const b = fs.readFileSync(path.join(work, "det-b", "model.safetensors"))
    assert.isTrue(a.equals(b), "identical checkpoint bytes")
    // default model: vocab 8, embed 16, context 4, hidden 128
    const sizes = [8 * 16, 4 * 16 * 128, 128, 128 * 8, 8]
    const params = sizes.reduce((x, y) => x + y, 0)
    const kept = sizes.reduce((total, size) => total + Math.max(1, Math.round(0.1 * size)), 0)
    const syncs = first.events.filter((e) => e["event"] === "sync")
    assert.strictEqual(syncs.length, 3)
    for (const sync of syncs) {
      assert.strictEqual(num(sync, "bytesDense"), 3 * 4 * params)
      assert.strictEqual(num(sync, "bytesSent"), 3 * 8 * kept)
    }
    const done = first.events.at(-1)
    assert.strictEqual(num(done, "bytesSentTotal"), 3 * 3 * 8 * kept)
    assert.strictEqual(num(done, "bytesDenseTotal"), 3 * 3 * 4 * params)
    const steps = first.events.filter((e) => e["event"] === "step")
    assert.deepStrictEqual(
      steps.map((e) => num(e, "round")),
      [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3]
    )
  })

  it("bad configs exit 2 with one line on stderr; a diverging run exits 1", () => {
    const typo = runBin("typo", { recipe: baseline, seed: "1", outDir: path.join(work, "typo"), budjet: 3 })
    assert.strictEqual(typo.status, 2)
    assert.include(typo.stderr, "budjet")
    assert.strictEqual(typo.stderr.trim().split("\n").length, 1)
    const badRecipe = runBin("bad-recipe", { recipe: { ...baseline, keepFraction: 0 }, seed: "1", outDir: work })
    assert.strictEqual(badRecipe.status, 2)
    assert.include(badRecipe.stderr, "keepFraction")
    const notJson = runBin("not-json", "{")
    assert.strictEqual(notJson.status, 2)
    const missing = spawnSync(process.execPath, [BIN, "--config", path.join(work, "nope.json")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    assert.strictEqual(missing.status, 2)
    const diverge = runBin("diverge", {
      recipe: { ...baseline, innerLr: 1e38 },
      seed: "1",
      outDir: path.join(work, "diverge"),
      budget: 6
    })
    assert.strictEqual(diverge.status, 1)
    assert.include(diverge.stderr, "diverged")
  })
})
