import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import fc from "fast-check"
import {
  averageSent,
  compressPseudoGradient,
  islandDenseBytes,
  islandSyncBytes,
  keptCount,
  nesterovStep,
  topK
} from "../../src/trainer/Diloco.js"

/** The success of an `Either`; a failure fails the test with the error itself. */
const right = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (error) => error)

const f32Array = (min: number, max: number) =>
  fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: min, maxLength: max })

describe("top-k compression with error feedback", () => {
  it("sent + residual == delta exactly; k largest magnitudes sent; indices ascending", () => {
    fc.assert(
      fc.property(f32Array(1, 200), fc.double({ min: 1e-4, max: 1, noNaN: true }), (values, keepFraction) => {
      const delta = Float32Array.from(values)
      const k = keptCount(delta.length, keepFraction)
      const { indices, residual, sent } = topK(delta, k)
      assert.strictEqual(indices.length, k)
      for (let i = 1; i < indices.length; i++) assert.isTrue(indices[i]! > indices[i - 1]!)
      const kept = new Set(indices)
      let smallestSent = Infinity
      let largestDropped = 0
      for (let i = 0; i < delta.length; i++) {
        assert.strictEqual(sent[i]! + residual[i]!, delta[i]!)
        if (kept.has(i)) {
          assert.strictEqual(residual[i], 0)
          assert.strictEqual(sent[i], delta[i])
          smallestSent = Math.min(smallestSent, Math.abs(delta[i]!))
        } else {
          assert.strictEqual(sent[i], 0)
          largestDropped = Math.max(largestDropped, Math.abs(delta[i]!))
        }
      }
      assert.isTrue(largestDropped <= smallestSent)
      }),
      { numRuns: 300 }
    )
  })

  it("kept counts: all at keepFraction 1, round(fraction*size) otherwise, never below 1", () => {
    assert.strictEqual(keptCount(1000, 1), 1000)
    assert.strictEqual(keptCount(1000, 0.1), 100)
    assert.strictEqual(keptCount(1000, 0.0105), 11)
    assert.strictEqual(keptCount(1000, 0.0001), 1)
    assert.strictEqual(keptCount(3, 0.5), 2)
  })

  it("bytes per sync: 4 bytes per value dense; 4+4 bytes per kept entry sparse; keepFraction 1 is dense", () => {
    const sizes = [128, 8192, 128, 1024, 8]
    const params = 128 + 8192 + 128 + 1024 + 8
    assert.strictEqual(islandDenseBytes(sizes), 4 * params)
    assert.strictEqual(islandSyncBytes(sizes, 1), 4 * params)
    // round(0.1 * size) kept per tensor: 13, 819, 13, 102, 1
    assert.strictEqual(islandSyncBytes(sizes, 0.1), 8 * (13 + 819 + 13 + 102 + 1))
    // at 0.01: 1, 82, 1, 10, 1 (at least one per tensor)
    assert.strictEqual(islandSyncBytes(sizes, 0.01), 8 * (1 + 82 + 1 + 10 + 1))
  })

  it("the carried residual is fed back: over rounds, everything not yet sent is still carried", () => {
    // A constant pseudo-gradient of 0.3 on one entry and 1 elsewhere, keeping 1 of 4:
    // the small entry is sent once its carried mass outgrows the others.
    const global = [Float32Array.of(0, 0, 0, 0)]
    const island = [Float32Array.of(-1, -1, -0.25, -1)]
    let carried: Array<Float32Array> = [new Float32Array(4)]
    const sentTotal = new Float64Array(4)
    for (let round = 1; round <= 12; round++) {
      const [c] = right(compressPseudoGradient(global, island, carried, 0.25))
      assert.isDefined(c)
      if (c === undefined) return
      c.sent.forEach((x, i) => (sentTotal[i] = sentTotal[i]! + x))
      carried = [c.residual]
      // mass conservation: sent so far + carried now == rounds * pseudo-gradient
      const pseudo = [1, 1, 0.25, 1]
      for (let i = 0; i < 4; i++) assert.closeTo(sentTotal[i]! + c.residual[i]!, round * pseudo[i]!, 1e-6)
    }
    assert.isTrue(sentTotal[2]! > 0, "the small entry was eventually sent")
  })
})

describe("outer Nesterov step", () => {
  it("matches the PyTorch SGD(nesterov) recurrence; momentum 0 and lr 1 is theta - g", () => {
    const theta = [Float32Array.of(1, -2)]
    const buf = [new Float32Array(2)]
    assert.isTrue(Either.isRight(nesterovStep(theta, buf, [Float32Array.of(0.5, 0.25)], 0.7, 0.9)))
    // b = g; theta -= 0.7 * (g + 0.9 * g)
    assert.closeTo(theta[0]![0]!, 1 - 0.7 * 1.9 * 0.5, 1e-6)
    assert.closeTo(theta[0]![1]!, -2 - 0.7 * 1.9 * 0.25, 1e-6)
    assert.isTrue(Either.isRight(nesterovStep(theta, buf, [Float32Array.of(0.5, 0.25)], 0.7, 0.9)))
    // b = 0.9*g + g = 1.9 g; update = g + 0.9 * 1.9 g = 2.71 g
    assert.closeTo(theta[0]![0]!, 1 - 0.7 * 1.9 * 0.5 - 0.7 * 2.71 * 0.5, 1e-6)
    const plain = [Float32Array.of(3, 4)]
    assert.isTrue(Either.isRight(nesterovStep(plain, [new Float32Array(2)], [Float32Array.of(0.5, -1)], 1, 0)))
    assert.deepStrictEqual([...plain[0]!], [2.5, 5])
  })
})

describe("mismatched tensor lists", () => {
  it("are a TensorMismatch, and the outer step then updates nothing", () => {
    const two = [Float32Array.of(1), Float32Array.of(2)]
    const one = [Float32Array.of(0)]
    const compressed = compressPseudoGradient(two, one, two, 1)
    assert.isTrue(Either.isLeft(compressed) && compressed.left._tag === "TensorMismatch")
    const averaged = averageSent([[{ sent: Float32Array.of(1), residual: Float32Array.of(0), indices: Int32Array.of(0) }]], [1, 1])
    assert.isTrue(Either.isLeft(averaged) && averaged.left.message === "averageSent: mismatched tensor lists")
    const stepped = nesterovStep(two, one, two, 1, 0)
    assert.isTrue(Either.isLeft(stepped) && stepped.left.message === "nesterovStep: mismatched tensor lists")
    assert.deepStrictEqual(two.map((t) => [...t]), [[1], [2]])
  })
})
