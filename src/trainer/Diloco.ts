/**
 * The outer loop of DiLoCo on host arrays: pseudo-gradients, DeMo-style top-k
 * compression with error feedback, averaging, the Nesterov outer step, and honest
 * byte counts for what one sync would put on the wire.
 */
import * as Either from "effect/Either"
import { TensorMismatch } from "./Errors.js"
import type { Weights } from "./Mlp.js"

/** Bytes per float32 value and per int32 index on the wire. */
export const VALUE_BYTES = 4
export const INDEX_BYTES = 4

/** Entries kept of a tensor of `size` values: all of them at keepFraction 1, else round(keepFraction*size), at least 1. */
export const keptCount = (size: number, keepFraction: number): number =>
  keepFraction >= 1 ? size : Math.min(size, Math.max(1, Math.round(keepFraction * size)))

/**
 * Bytes one island sends for one tensor: dense float32 values at keepFraction 1
 * (no indices needed), else a value and an index per kept entry.
 */
export const tensorSyncBytes = (size: number, keepFraction: number): number =>
  keepFraction >= 1 ? VALUE_BYTES * size : (VALUE_BYTES + INDEX_BYTES) * keptCount(size, keepFraction)

/** Bytes one island sends per sync for a whole model. */
export const islandSyncBytes = (sizes: ReadonlyArray<number>, keepFraction: number): number =>
  sizes.reduce((total, size) => total + tensorSyncBytes(size, keepFraction), 0)

/** Bytes one island would send per sync without compression (dense float32). */
export const islandDenseBytes = (sizes: ReadonlyArray<number>): number =>
  sizes.reduce((total, size) => total + VALUE_BYTES * size, 0)

/** A compressed tensor: what is sent (dense layout, zeros where dropped) and what is carried to the next round. */
export interface Compressed {
  readonly sent: Float32Array
  readonly residual: Float32Array
  /** Indices of the kept entries, ascending. */
  readonly indices: Int32Array
}

/**
 * Keep the `k` largest-magnitude entries of `delta` (ties broken by lower index) and
 * carry the rest. Every entry lands in exactly one of `sent` or `residual`, so
 * sent + residual == delta exactly: error feedback loses no mass.
 */
export const topK = (delta: Float32Array, k: number): Compressed => {
  const n = delta.length
  const sent = new Float32Array(n)
  const residual = Float32Array.from(delta)
  if (k >= n) {
    sent.set(delta)
    residual.fill(0)
    const all = new Int32Array(n)
    for (let i = 0; i < n; i++) all[i] = i
    return { sent, residual, indices: all }
  }
  const magnitudes = Float32Array.from(delta, Math.abs).sort()
  const threshold = magnitudes[n - k]!
  let above = 0
  for (let i = 0; i < n; i++) if (Math.abs(delta[i]!) > threshold) above++
  let ties = k - above
  const indices = new Int32Array(k)
  let taken = 0
  for (let i = 0; i < n; i++) {
    const m = Math.abs(delta[i]!)
    if (m > threshold || (m === threshold && ties-- > 0)) {
      sent[i] = delta[i]!
      residual[i] = 0
      indices[taken++] = i
    }
  }
  return { sent, residual, indices }
}

/**
 * One island's contribution to a sync: its pseudo-gradient (global minus island
 * weights) plus the residual it carried, compressed per tensor. `TensorMismatch` when
 * the three weight lists do not hold the same number of tensors.
 */
export const compressPseudoGradient = (
  global: Weights,
  island: Weights,
  carried: Weights,
  keepFraction: number
): Either.Either<ReadonlyArray<Compressed>, TensorMismatch> =>
  Either.all(
    global.map((g, t) => {
      const w = island[t]
      const r = carried[t]
      if (w === undefined || r === undefined) {
        return Either.left(new TensorMismatch({ message: "compressPseudoGradient: mismatched tensor lists" }))
      }
      const delta = new Float32Array(g.length)
      for (let i = 0; i < g.length; i++) delta[i] = g[i]! - w[i]! + r[i]!
      return Either.right(topK(delta, keptCount(g.length, keepFraction)))
    })
  )

/**
 * Mean of the islands' sent pseudo-gradients, per tensor (summed in float64, island
 * order). `TensorMismatch` when an island sent fewer tensors than `sizes` lists.
 */
export const averageSent = (
  contributions: ReadonlyArray<ReadonlyArray<Compressed>>,
  sizes: ReadonlyArray<number>
): Either.Either<Array<Float32Array>, TensorMismatch> =>
  Either.all(
    sizes.map((size, t) => {
      const sum = new Float64Array(size)
      for (const island of contributions) {
        const sent = island[t]?.sent
        if (sent === undefined) return Either.left(new TensorMismatch({ message: "averageSent: mismatched tensor lists" }))
        for (let i = 0; i < size; i++) sum[i] = sum[i]! + sent[i]!
      }
      const out = new Float32Array(size)
      for (let i = 0; i < size; i++) out[i] = sum[i]! / contributions.length
      return Either.right(out)
    })
  )

/**
 * The outer optimiser, SGD with Nesterov momentum (PyTorch form), applied in place:
 *   b <- mu*b + g;  theta <- theta - lr*(g + mu*b)
 * With mu = 0 it is plain SGD; with lr 1 as well, theta becomes theta - g.
 * `TensorMismatch` (and nothing updated) when the three lists do not hold the same
 * number of tensors.
 */
export const nesterovStep = (
  global: ReadonlyArray<Float32Array>,
  momentum: ReadonlyArray<Float32Array>,
  gradient: ReadonlyArray<Float32Array>,
  lr: number,
  mu: number
): Either.Either<void, TensorMismatch> =>
  Either.all(
    global.map((theta, t) => {
      const b = momentum[t]
      const g = gradient[t]
      return b === undefined || g === undefined
        ? Either.left(new TensorMismatch({ message: "nesterovStep: mismatched tensor lists" }))
        : Either.right({ theta, b, g })
    })
  ).pipe(
    Either.map((tensors) => {
      for (const { b, g, theta } of tensors) {
        for (let i = 0; i < theta.length; i++) {
          const gi = g[i]!
          const bi = mu * b[i]! + gi
          b[i] = bi
          theta[i] = theta[i]! - lr * (mu === 0 ? gi : gi + mu * bi)
        }
      }
    })
  )
