/**
 * The model of `Mlp.ts` on TensorFlow.js tensors, with its backward pass written out.
 * The Node build of tfjs-core registers no gradient functions (and the wasm backend
 * has no gather gradient), so instead of autodiff the gradients of this small network
 * are the textbook ones: symbols are embedded by a one-hot matrix product, and every
 * derivative is a matrix product, a sum or a ReLU mask. A replica's parameters live
 * in one flat float32 tensor (tensors concatenated in `paramSpecs` order).
 */
import * as tf from "@tensorflow/tfjs-core"
import type { Batch } from "./DataSource.js"
import { type ModelConfig, paramLayout, type ParamSpec } from "./Mlp.js"

/** Upload a flat parameter vector (the caller owns the tensor). */
export const toTensor = (flat: Float32Array): tf.Tensor1D => tf.tensor1d(flat, "float32")

/** Download a flat parameter vector. */
export const fromTensor = (param: tf.Tensor): Float32Array => Float32Array.from(param.dataSync())

/** One-hot rows of `indices` ([n, vocab]), or their transpose ([vocab, n]). */
const oneHot = (indices: Int32Array, vocab: number, transposed: boolean): Float32Array => {
  const out = new Float32Array(indices.length * vocab)
  const n = indices.length
  for (let i = 0; i < n; i++) out[transposed ? indices[i]! * n + i : i * vocab + indices[i]!] = 1
  return out
}

/** Mean cross-entropy of a batch (nats) and its flat gradient (the caller disposes it). */
export interface LossAndGrad {
  readonly loss: number
  readonly grad: tf.Tensor1D
}

/** Forward and backward pass of the mean cross-entropy over a batch, for a flat parameter vector. */
export const lossAndGrad = (config: ModelConfig, param: tf.Tensor, batch: Batch): LossAndGrad => {
  const { context: C, embed: E, vocab: V } = config
  const B = batch.size
  const layout = paramLayout(config)
  let loss = 0
  const grad = tf.tidy(() => {
    // The flat vector holds the tensors in `paramSpecs` order; take them back one by one.
    let offset = 0
    const take = (p: ParamSpec): tf.Tensor => {
      const part = tf.reshape(tf.slice(param, offset, p.size), [...p.shape])
      offset += p.size
      return part
    }
    const emb = take(layout.embedding)
    const w1 = take(layout.hiddenWeight)
    const b1 = take(layout.hiddenBias)
    const w2 = take(layout.outputWeight)
    const b2 = take(layout.outputBias)
    const x = tf.tensor2d(oneHot(batch.contexts, V, false), [B * C, V])
    const xT = tf.tensor2d(oneHot(batch.contexts, V, true), [V, B * C])
    const y = tf.tensor2d(oneHot(batch.targets, V, false), [B, V])
    const e = tf.reshape(tf.matMul(x, emb), [B, C * E])
    const h = tf.fused.matMul({ a: e, b: w1, bias: b1, activation: "relu" })
    const logits = tf.fused.matMul({ a: h, b: w2, bias: b2 })
    loss = meanCrossEntropy(logits.dataSync(), batch.targets, V)
    // d(mean CE)/d(logits) = (softmax - onehot) / B. Transposes are explicit: the
    // wasm kernels run matMul's transpose flags several times slower than a transpose.
    const dLogits = tf.mul(tf.sub(tf.softmax(logits), y), 1 / B)
    const dW2 = tf.matMul(tf.transpose(h), dLogits)
    const dB2 = tf.sum(dLogits, 0)
    const dZ = tf.mul(tf.matMul(dLogits, tf.transpose(w2)), tf.step(h))
    const dW1 = tf.matMul(tf.transpose(e), dZ)
    const dB1 = tf.sum(dZ, 0)
    const dE = tf.reshape(tf.matMul(dZ, tf.transpose(w1)), [B * C, E])
    const dEmb = tf.matMul(xT, dE)
    return tf.concat1d([dEmb, dW1, dB1, dW2, dB2].map((g) => tf.reshape<tf.Rank.R1>(g, [-1])))
  })
  return { loss, grad }
}

/** Mean cross-entropy of float32 logits rows against targets, via a stable log-sum-exp in float64. */
const meanCrossEntropy = (logits: ArrayLike<number>, targets: Int32Array, vocab: number): number => {
  let total = 0
  for (let b = 0; b < targets.length; b++) {
    let max = -Infinity
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[b * vocab + v]!)
    let sum = 0
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[b * vocab + v]! - max)
    total += max + Math.log(sum) - logits[b * vocab + targets[b]!]!
  }
  return total / targets.length
}
