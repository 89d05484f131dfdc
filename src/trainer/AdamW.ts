/**
 * AdamW (Loshchilov & Hutter: Adam with decoupled weight decay) over a parameter
 * tensor: the inner optimiser of every DiLoCo island. Written out rather than taken
 * from a library because it is part of the algorithm being measured, and so a test can
 * run the same optimiser outside DiLoCo.
 */
import * as tf from "@tensorflow/tfjs-core"

/** Optimiser settings. */
export interface AdamWOptions {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
}

/** PyTorch's AdamW defaults for everything but the learning rate. */
export const adamWDefaults = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } as const

/** Moment estimates and the step count used for bias correction. */
export interface AdamWState {
  readonly step: number
  readonly m: tf.Tensor
  readonly v: tf.Tensor
}

/** Fresh state (zero moments) for a parameter tensor. */
export const adamWInit = (param: tf.Tensor): AdamWState => ({ step: 0, m: tf.zerosLike(param), v: tf.zerosLike(param) })

/** Release an optimiser state's tensors. */
export const adamWDispose = (state: AdamWState): void => {
  tf.dispose([state.m, state.v])
}

/**
 * One AdamW step. Takes ownership of `param`, `grad` and `state` (their tensors are
 * disposed) and returns new ones; `decayMask` (1 where weights decay, 0 elsewhere,
 * e.g. biases) is only read:
 *   p <- p - lr*wd*mask*p                       (decoupled weight decay)
 *   m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2
 *   p <- p - lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 */
export const adamWStep = (
  param: tf.Tensor,
  grad: tf.Tensor,
  state: AdamWState,
  options: AdamWOptions,
  decayMask: tf.Tensor
): { readonly param: tf.Tensor; readonly state: AdamWState } => {
  const step = state.step + 1
  const { beta1, beta2, eps, lr, weightDecay } = options
  const correction1 = 1 - beta1 ** step
  const correction2 = 1 - beta2 ** step
  const out = tf.tidy(() => {
    const m = tf.add(tf.mul(state.m, beta1), tf.mul(grad, 1 - beta1))
    const v = tf.add(tf.mul(state.v, beta2), tf.mul(tf.square(grad), 1 - beta2))
    // sqrt(v / c2) + eps, written as (sqrt(v) + eps*sqrt(c2)) / sqrt(c2)
    const update = tf.div(tf.mul(m, (lr * Math.sqrt(correction2)) / correction1), tf.add(tf.sqrt(v), eps * Math.sqrt(correction2)))
    const decayed = weightDecay === 0 ? param : tf.sub(param, tf.mul(tf.mul(decayMask, param), lr * weightDecay))
    return { next: tf.sub(decayed, update), m, v }
  })
  tf.dispose([param, grad, state.m, state.v])
  return { param: out.next, state: { step, m: out.m, v: out.v } }
}
