/**
 * The trainer's model, independent of any tensor library: a character-level language
 * model that embeds each of the last `context` symbols, concatenates the embeddings,
 * applies one ReLU hidden layer and a softmax output. This module holds its shape,
 * its seeded initialisation and a plain-JavaScript forward pass in float64, which is
 * what the referee evaluates checkpoints with (no tensor backend, no trainer code
 * path, no reported loss).
 */
import * as Either from "effect/Either"
import { TensorMismatch } from "./Errors.js"
import { deriveSeed, makeRng } from "./Prng.js"

/** Sizes that define the model; stored in every checkpoint. */
export interface ModelConfig {
  /** Symbols of context the model sees before each prediction. */
  readonly context: number
  /** Embedding width per symbol. */
  readonly embed: number
  /** Hidden ReLU units. */
  readonly hidden: number
  /** Vocabulary size (alphabet or distinct characters). */
  readonly vocab: number
}

/** One parameter tensor: its checkpoint name, shape, and whether AdamW decays it. */
export interface ParamSpec {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly size: number
  readonly decay: boolean
}

const spec = (name: string, shape: ReadonlyArray<number>, decay: boolean): ParamSpec => ({
  name,
  shape,
  size: shape.reduce((a, b) => a * b, 1),
  decay
})

/** The five parameters by role, so code that needs each one by name cannot miss one. */
export interface ParamLayout {
  readonly embedding: ParamSpec
  readonly hiddenWeight: ParamSpec
  readonly hiddenBias: ParamSpec
  readonly outputWeight: ParamSpec
  readonly outputBias: ParamSpec
}

/**
 * The parameters by role. `hidden.weight` rows are grouped by context position: rows
 * j*embed .. (j+1)*embed-1 read the embedding of the j-th context symbol (oldest
 * first). Biases are not weight-decayed.
 */
export const paramLayout = (config: ModelConfig): ParamLayout => ({
  embedding: spec("embedding", [config.vocab, config.embed], true),
  hiddenWeight: spec("hidden.weight", [config.context * config.embed, config.hidden], true),
  hiddenBias: spec("hidden.bias", [config.hidden], false),
  outputWeight: spec("output.weight", [config.hidden, config.vocab], true),
  outputBias: spec("output.bias", [config.vocab], false)
})

/** The parameters, in the fixed order every weight list follows (see `paramLayout`). */
export const paramSpecs = (config: ModelConfig): ReadonlyArray<ParamSpec> => {
  const layout = paramLayout(config)
  return [layout.embedding, layout.hiddenWeight, layout.hiddenBias, layout.outputWeight, layout.outputBias]
}

/** Host-side weights: one float32 array per parameter, in `paramSpecs` order, row-major. */
export type Weights = ReadonlyArray<Float32Array>

/**
 * Per-tensor views into one flat parameter vector (tensors concatenated in
 * `paramSpecs` order). Training keeps each replica as one flat vector so the
 * optimiser runs a handful of tensor ops per step instead of a handful per tensor.
 */
export const splitFlat = (config: ModelConfig, flat: Float32Array): Array<Float32Array> => {
  let offset = 0
  return paramSpecs(config).map((p) => {
    const view = flat.subarray(offset, offset + p.size)
    offset += p.size
    return view
  })
}

/** One flat vector holding the weights in `paramSpecs` order. */
export const flatten = (weights: Weights): Float32Array => {
  const flat = new Float32Array(weights.reduce((total, w) => total + w.length, 0))
  let offset = 0
  for (const w of weights) {
    flat.set(w, offset)
    offset += w.length
  }
  return flat
}

/** 1 for entries AdamW decays (weight matrices), 0 for biases, in flat order. */
export const decayMask = (config: ModelConfig): Float32Array => {
  const mask = new Float32Array(parameterCount(config))
  let offset = 0
  for (const p of paramSpecs(config)) {
    if (p.decay) mask.fill(1, offset, offset + p.size)
    offset += p.size
  }
  return mask
}

/** Total number of scalar parameters. */
export const parameterCount = (config: ModelConfig): number =>
  paramSpecs(config).reduce((total, p) => total + p.size, 0)

/**
 * Seeded initialisation: uniform with unit variance for embeddings, He variance for
 * the ReLU layer, a small output layer (so the first loss is near ln(vocab)) and zero
 * biases. Only `sqrt` and the seeded generator are used, so bytes are reproducible.
 */
export const initWeights = (config: ModelConfig, seed: bigint): Array<Float32Array> => {
  const rng = makeRng(deriveSeed(seed, "init"))
  const std: Record<string, number> = {
    embedding: 1,
    "hidden.weight": Math.sqrt(2 / (config.context * config.embed)),
    "output.weight": 0.5 / Math.sqrt(config.hidden)
  }
  return paramSpecs(config).map((p) => {
    const values = new Float32Array(p.size)
    const bound = Math.sqrt(3) * (std[p.name] ?? 0)
    if (bound > 0) for (let i = 0; i < p.size; i++) values[i] = (2 * rng.nextFloat() - 1) * bound
    return values
  })
}

/** Check a weight list against a model config (count and sizes); returns a reason when it does not fit. */
export const weightsMismatch = (config: ModelConfig, weights: Weights): string | undefined => {
  const specs = paramSpecs(config)
  if (weights.length !== specs.length) return `expected ${specs.length} tensors, got ${weights.length}`
  for (const [i, p] of specs.entries()) {
    const w = weights[i]
    if (w === undefined || w.length !== p.size) return `tensor ${p.name} should hold ${p.size} values, holds ${w?.length ?? 0}`
  }
  return undefined
}

/**
 * Mean cross-entropy (nats) of the model on the targets `tokens[from..]`, each
 * predicted from the `config.context` tokens before it, in float64. The first layer
 * is folded into a per-(position, symbol) table, so each prediction costs
 * context*hidden additions instead of a full matrix product. `TensorMismatch` when
 * the weight list is incomplete or the first target lacks a full context.
 */
export const crossEntropy = (
  config: ModelConfig,
  weights: Weights,
  tokens: Int32Array,
  from: number
): Either.Either<number, TensorMismatch> => {
  const { context: C, embed: E, hidden: H, vocab: V } = config
  const [emb, w1, b1, w2, b2] = weights
  if (emb === undefined || w1 === undefined || b1 === undefined || w2 === undefined || b2 === undefined) {
    return Either.left(new TensorMismatch({ message: "crossEntropy: incomplete weights" }))
  }
  if (from < C) {
    return Either.left(
      new TensorMismatch({ message: `crossEntropy: targets start at ${from}, context needs ${C} tokens before` })
    )
  }
  const table = new Float64Array(C * V * H)
  for (let j = 0; j < C; j++) {
    for (let v = 0; v < V; v++) {
      const row = (j * V + v) * H
      for (let k = 0; k < E; k++) {
        const e = emb[v * E + k]!
        if (e === 0) continue
        const w1row = (j * E + k) * H
        for (let h = 0; h < H; h++) table[row + h] = table[row + h]! + e * w1[w1row + h]!
      }
    }
  }
  const hidden = new Float64Array(H)
  const logits = new Float64Array(V)
  let total = 0
  for (let t = from; t < tokens.length; t++) {
    for (let h = 0; h < H; h++) hidden[h] = b1[h]!
    for (let j = 0; j < C; j++) {
      const row = (j * V + tokens[t - C + j]!) * H
      for (let h = 0; h < H; h++) hidden[h] = hidden[h]! + table[row + h]!
    }
    for (let v = 0; v < V; v++) logits[v] = b2[v]!
    for (let h = 0; h < H; h++) {
      const a = hidden[h]!
      if (a <= 0) continue
      const w2row = h * V
      for (let v = 0; v < V; v++) logits[v] = logits[v]! + a * w2[w2row + v]!
    }
    let max = -Infinity
    for (let v = 0; v < V; v++) max = Math.max(max, logits[v]!)
    let sum = 0
    for (let v = 0; v < V; v++) sum += Math.exp(logits[v]! - max)
    total += max + Math.log(sum) - logits[tokens[t]!]!
  }
  return Either.right(total / Math.max(1, tokens.length - from))
}
