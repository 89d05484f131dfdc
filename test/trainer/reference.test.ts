/**
 * The trainer against calculations written here from the formulas (docs/trainer.md),
 * not against its own output: AdamW steps by hand, the decoupled weight decay on
 * weights but not biases, the Nesterov outer step, the islands' separate data streams,
 * a whole DiLoCo run recomputed in float64 plain JavaScript (its own forward and
 * backward pass), and a learning-curve bound taken from the data source's entropies.
 * Each test fails when the trainer ignores the outer learning rate or momentum, feeds
 * every island the same stream, loses AdamW's first moment, drops weight decay or
 * applies it to biases, or trains with a much smaller inner learning rate.
 */
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { adamWInit, adamWStep } from "../../src/trainer/AdamW.js"
import { initBackend } from "../../src/trainer/Backend.js"
import * as DataSource from "../../src/trainer/DataSource.js"
import { evaluateCheckpoint } from "../../src/trainer/Evaluate.js"
import { decayMask, flatten, initWeights, type ModelConfig } from "../../src/trainer/Mlp.js"
import { fromTensor, toTensor } from "../../src/trainer/MlpTensors.js"
import { decodeRunConfig, type RunConfig } from "../../src/trainer/RunConfig.js"
import { adamWOptionsOf, type SyncObservation, train } from "../../src/trainer/Train.js"
import { removeTempDirs, tempDir } from "../fixtures/standins.js"

/** The referee's key for held-out shards in these tests. */
const SECRET = new Uint8Array(32).fill(7)

/** The success of an `Either`; a failure fails the test with the error itself. */
const right = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (error) => error)

let work = ""
beforeAll(async () => {
  work = tempDir("trainer-reference")
  await Effect.runPromise(initBackend("wasm"))
})
afterAll(removeTempDirs)

const config = (input: Record<string, unknown>): RunConfig => right(decodeRunConfig({ outDir: path.join(work, "run"), ...input }))

/** The largest absolute difference between two equally long vectors. */
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.strictEqual(a.length, b.length)
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!))
  return max
}

// ---------------------------------------------------------------------------
// The reference: AdamW, the model's gradient, and DiLoCo, in float64

// PyTorch's AdamW defaults
const BETA1 = 0.9
const BETA2 = 0.999
const EPS = 1e-8

interface AdamState {
  t: number
  readonly m: Float64Array
  readonly v: Float64Array
}

const adamState = (n: number): AdamState => ({ t: 0, m: new Float64Array(n), v: new Float64Array(n) })

/** PyTorch's AdamW (decoupled decay first, then the bias-corrected Adam step), written out. */
const adamByHand = (
  p: Float64Array,
  g: ArrayLike<number>,
  s: AdamState,
  lr: number,
  wd: number,
  decays: ArrayLike<number>
): void => {
  s.t++
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! - lr * wd * decays[i]! * p[i]!
    s.m[i] = BETA1 * s.m[i]! + (1 - BETA1) * g[i]!
    s.v[i] = BETA2 * s.v[i]! + (1 - BETA2) * g[i]! * g[i]!
    const mHat = s.m[i]! / (1 - BETA1 ** s.t)
    const vHat = s.v[i]! / (1 - BETA2 ** s.t)
    p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + EPS)
  }
}

/** Where each parameter tensor starts in the flat vector (embedding, hidden.weight, hidden.bias, output.weight, output.bias). */
const offsets = ({ context: C, embed: E, hidden: H, vocab: V }: ModelConfig) => {
  const w1 = V * E
  const b1 = w1 + C * E * H
  const w2 = b1 + H
  const b2 = w2 + H * V
  return { emb: 0, w1, b1, w2, b2, size: b2 + V }
}

/** 1 on the weight matrices, 0 on the two biases: what "decay weights, not biases" means. */
const weightsNotBiases = (model: ModelConfig): Float64Array => {
  const o = offsets(model)
  const mask = new Float64Array(o.size).fill(1)
  mask.fill(0, o.b1, o.w2)
  mask.fill(0, o.b2, o.size)
  return mask
}

/**
 * Mean cross-entropy of a batch and its gradient, for the model of docs/trainer.md:
 * embed each context symbol, concatenate, ReLU layer, softmax output.
 */
const lossAndGradByHand = (model: ModelConfig, p: Float64Array, batch: DataSource.Batch): Float64Array => {
  const { context: C, embed: E, hidden: H, vocab: V } = model
  const o = offsets(model)
  const B = batch.size
  const grad = new Float64Array(o.size)
  for (let b = 0; b < B; b++) {
    const x = new Float64Array(C * E)
    for (let j = 0; j < C; j++) {
      const symbol = batch.contexts[b * C + j]!
      for (let k = 0; k < E; k++) x[j * E + k] = p[o.emb + symbol * E + k]!
    }
    const z = new Float64Array(H)
    for (let h = 0; h < H; h++) {
      let sum = p[o.b1 + h]!
      for (let i = 0; i < C * E; i++) sum += x[i]! * p[o.w1 + i * H + h]!
      z[h] = sum
    }
    const a = z.map((value) => Math.max(0, value))
    const logits = new Float64Array(V)
    for (let v = 0; v < V; v++) {
      let sum = p[o.b2 + v]!
      for (let h = 0; h < H; h++) sum += a[h]! * p[o.w2 + h * V + v]!
      logits[v] = sum
    }
    const max = Math.max(...logits)
    const exps = logits.map((l) => Math.exp(l - max))
    const total = exps.reduce((s, e) => s + e, 0)
    // d(mean loss)/d(logit v) = (softmax_v - [v = target]) / B
    const dLogits = exps.map((e, v) => (e / total - (v === batch.targets[b] ? 1 : 0)) / B)
    const dz = new Float64Array(H)
    for (let h = 0; h < H; h++) {
      let da = 0
      for (let v = 0; v < V; v++) {
        grad[o.w2 + h * V + v] = grad[o.w2 + h * V + v]! + a[h]! * dLogits[v]!
        da += dLogits[v]! * p[o.w2 + h * V + v]!
      }
      dz[h] = z[h]! > 0 ? da : 0
      grad[o.b1 + h] = grad[o.b1 + h]! + dz[h]!
    }
    for (let v = 0; v < V; v++) grad[o.b2 + v] = grad[o.b2 + v]! + dLogits[v]!
    for (let i = 0; i < C * E; i++) {
      let dx = 0
      for (let h = 0; h < H; h++) {
        grad[o.w1 + i * H + h] = grad[o.w1 + i * H + h]! + x[i]! * dz[h]!
        dx += dz[h]! * p[o.w1 + i * H + h]!
      }
      const symbol = batch.contexts[b * C + Math.floor(i / E)]!
      grad[o.emb + symbol * E + (i % E)] = grad[o.emb + symbol * E + (i % E)]! + dx
    }
  }
  return grad
}

/**
 * DiLoCo without compression (keepFraction 1), in float64: every island starts from the
 * global weights with its own stream and AdamW state (kept across rounds), takes its
 * inner steps, and the mean of (global - island) is applied by SGD with Nesterov
 * momentum, PyTorch form: b <- mu*b + g; theta <- theta - lr*(g + mu*b).
 */
const dilocoByHand = (run: RunConfig, model: ModelConfig, streams: ReadonlyArray<DataSource.TrainStream>) => {
  const { innerLr, innerSteps, outerLr } = run.recipe
  const theta = Float64Array.from(flatten(initWeights(model, run.seed)))
  const momentum = new Float64Array(theta.length)
  const decays = weightsNotBiases(model)
  const islands = streams.map((stream) => ({ p: Float64Array.from(theta), adam: adamState(theta.length), stream }))
  for (let done = 0; done < run.budget; ) {
    const steps = Math.min(innerSteps, run.budget - done)
    for (let s = 0; s < steps; s++) {
      for (const island of islands) {
        const grad = lossAndGradByHand(model, island.p, island.stream.nextBatch(run.batchSize))
        adamByHand(island.p, grad, island.adam, innerLr, run.weightDecay, decays)
      }
    }
    done += steps
    for (let i = 0; i < theta.length; i++) {
      let g = 0
      for (const island of islands) g += theta[i]! - island.p[i]!
      g /= islands.length
      momentum[i] = run.outerMomentum * momentum[i]! + g
      theta[i] = theta[i]! - outerLr * (g + run.outerMomentum * momentum[i]!)
    }
    for (const island of islands) island.p.set(theta)
  }
  return theta
}

// ---------------------------------------------------------------------------

describe("AdamW against the formula", () => {
  it("three steps by hand with the run config's settings (PyTorch betas and eps); decay only where the mask says", () => {
    const run = config({ recipe: { islands: 1, innerSteps: 1, innerLr: 0.05, outerLr: 1, keepFraction: 1 }, seed: "1", weightDecay: 0.2 })
    const options = adamWOptionsOf(run)
    const start = [0.5, -1.5, 2, 0.25]
    const decays = [1, 0, 1, 0]
    const grads = [[1, -2, 0.5, 3], [-1, 1, 0.5, -3], [0.2, 0.3, -0.4, 1]]
    const mask = tf.tensor1d(decays)
    let param: tf.Tensor = tf.tensor1d(start)
    let state = adamWInit(param)
    const expected = Float64Array.from(start)
    const byHand = adamState(4)
    for (const g of grads) {
      const next = adamWStep(param, tf.tensor1d(g), state, options, mask)
      param = next.param
      state = next.state
      adamByHand(expected, g, byHand, 0.05, 0.2, decays)
      assert.isBelow(maxDiff(fromTensor(param), expected), 1e-6, `after step ${byHand.t}`)
    }
    tf.dispose([param, mask, state.m, state.v])
  })

  it("a zero gradient only decays: weight matrices shrink by lr*wd, biases keep their values", () => {
    const model: ModelConfig = { context: 2, embed: 3, hidden: 4, vocab: 5 }
    const mask = decayMask(model)
    assert.deepStrictEqual([...mask], [...weightsNotBiases(model)])
    const start = flatten(initWeights(model, 9n))
    const o = offsets(model)
    start.fill(0.5, o.b1, o.w2)
    start.fill(-0.25, o.b2, o.size)
    const param = toTensor(start)
    const maskTensor = toTensor(mask)
    const zero = tf.zerosLike(param)
    const { param: after, state } = adamWStep(param, zero, adamWInit(param), { lr: 0.1, beta1: BETA1, beta2: BETA2, eps: EPS, weightDecay: 0.5 }, maskTensor)
    const values = fromTensor(after)
    tf.dispose([after, maskTensor, state.m, state.v])
    for (let i = 0; i < start.length; i++) {
      const isBias = (i >= o.b1 && i < o.w2) || i >= o.b2
      assert.closeTo(values[i]!, isBias ? start[i]! : start[i]! * (1 - 0.1 * 0.5), 1e-7, `${isBias ? "bias" : "weight"} ${i}`)
    }
  })
})

describe("DiLoCo against a float64 recomputation", () => {
  const model: ModelConfig = { context: 2, embed: 3, hidden: 8, vocab: 8 }
  // 2 islands, rounds of 3, 3 and 1 steps; large decay and learning rates so every term shows
  const run = () =>
    config({
      recipe: { islands: 2, innerSteps: 3, innerLr: 0.05, outerLr: 0.6, keepFraction: 1 },
      seed: "11",
      budget: 7,
      batchSize: 8,
      context: model.context,
      embed: model.embed,
      hidden: model.hidden,
      outerMomentum: 0.8,
      weightDecay: 0.5,
      devTokens: 0
    })

  it("the final global weights equal the recomputed run (inner AdamW with decay, outer Nesterov, one stream per island)", async () => {
    const r = run()
    const result = await Effect.runPromise(train(r, () => {}))
    const source = right(DataSource.openDataSource(r.data))
    const streams = [0, 1].map((island) => right(source.trainStream(r.seed, island, 2, r.context)))
    const expected = dilocoByHand(r, model, streams)
    const moved = maxDiff(expected, flatten(initWeights(model, r.seed)))
    assert.isAbove(moved, 0.1, "the run moved the weights")
    assert.isBelow(maxDiff(flatten(result.weights), expected), 1e-5)
  })

  it("each sync's outer step is the Nesterov step of the islands' mean pseudo-gradient at outerLr and outerMomentum", async () => {
    const r = run()
    const observations: Array<SyncObservation> = []
    const result = await Effect.runPromise(train(r, () => {}, { observeSync: (o) => observations.push(o) }))
    const rounds = Math.max(...observations.map((o) => o.round))
    assert.strictEqual(rounds, 3)
    const momentum = new Float64Array(flatten(result.weights).length)
    for (let round = 1; round <= rounds; round++) {
      const here = observations.filter((o) => o.round === round)
      assert.strictEqual(here.length, 2)
      const theta = Float64Array.from(flatten(here[0]!.global))
      for (let i = 0; i < theta.length; i++) {
        let g = 0
        for (const o of here) g += theta[i]! - flatten(o.islandWeights)[i]!
        g /= here.length
        momentum[i] = 0.8 * momentum[i]! + g
        theta[i] = theta[i]! - 0.6 * (g + 0.8 * momentum[i]!)
      }
      const next = round < rounds ? flatten(observations.find((o) => o.round === round + 1)!.global) : flatten(result.weights)
      assert.isBelow(maxDiff(next, theta), 1e-6, `round ${round}`)
    }
  })

  it("islands read different streams: after the same start and the same number of steps, their weights differ", async () => {
    const r = run()
    const observations: Array<SyncObservation> = []
    await Effect.runPromise(train(r, () => {}, { observeSync: (o) => observations.push(o) }))
    const [first, second] = observations.filter((o) => o.round === 1)
    assert.isDefined(first)
    assert.isDefined(second)
    // a stream per island also means each island's weights are what its own stream gives
    assert.isAbove(maxDiff(flatten(first!.islandWeights), flatten(second!.islandWeights)), 1e-3)
  })
})

describe("how fast it learns, against the source's entropies", () => {
  it("a DiLoCo recipe at the default budget uses more than the last symbol: it beats the order-1 predictor early and closes half the gap to the floor", async () => {
    const spec: DataSource.MarkovSpec = { kind: "markov", order: 2, alphabet: 8, seed: 0n }
    const chain = DataSource.markovChain(spec)
    const pi = DataSource.stationaryDistribution(chain)
    // H(next | last symbol): the best loss of any model that sees one symbol of context
    let orderOne = 0
    for (let last = 0; last < 8; last++) {
      const next = new Float64Array(8)
      let mass = 0
      for (let before = 0; before < 8; before++) {
        const state = before * 8 + last
        mass += pi[state]!
        for (let c = 0; c < 8; c++) next[c] = next[c]! + pi[state]! * chain.rows[state * 8 + c]!
      }
      for (let c = 0; c < 8; c++) if (next[c]! > 0) orderOne -= next[c]! * Math.log(next[c]! / mass)
    }
    const floor = DataSource.entropyRate(chain)
    assert.isTrue(floor < orderOne - 0.5 && orderOne < Math.log(8), `floor ${floor}, order 1 ${orderOne}`)

    const losses: Array<number> = []
    const r = config({ recipe: { islands: 1, innerSteps: 16, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: "1", data: { kind: "markov", order: 2, alphabet: 8, seed: "0" } })
    const result = await Effect.runPromise(train(r, (e) => e.event === "step" && losses.push(e.loss)))
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
    // round 4 (steps 49-64): its training batches already beat any one-symbol model
    const fourth = mean(losses.slice(48, 64))
    assert.isBelow(fourth, orderOne, `round 4 training loss ${fourth}, order-1 entropy ${orderOne}`)
    const heldOut = mean(right(evaluateCheckpoint(result.done.checkpoint, spec, right(DataSource.heldOutShards(spec, SECRET, 8, 1024)))))
    assert.isBelow(heldOut, (orderOne + floor) / 2, `held-out ${heldOut}, order 1 ${orderOne}, floor ${floor}`)
    assert.isAbove(heldOut, floor - 0.02)
  })
})
