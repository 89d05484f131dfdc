import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { jitter } from "../src/domain/Jitter.js"
import { runOneShot } from "../src/market/OneShot.js"
import { referenceCompetition } from "../src/market/Reference.js"
import { Scorer } from "../src/scorer/Scorer.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { signed, TestKey, trained } from "./support/keys.js"
import { close, type VecMeasurement, vectors } from "./support/vectors.js"

const assertMeasurement = (actual: VecMeasurement, expected: VecMeasurement, what: string) => {
  for (const key of ["value", "ciLower", "ciUpper"] as const) {
    assert.isTrue(close(actual[key], expected[key]), `${what}.${key}: ${actual[key]} vs ${expected[key]}`)
  }
  assert.strictEqual(actual.n, expected.n, `${what}.n`)
  assert.strictEqual(actual.cost, expected.cost, `${what}.cost`)
}

describe("reference vectors", () => {
  it("jitter", () => {
    for (const { mix, value } of vectors.jitter) {
      assert.isTrue(close(jitter(BigInt(mix)), value), `jitter(${mix})`)
    }
  })

  it.effect("training losses and dev/held-out measurements of every reference recipe", () =>
    Effect.gen(function*() {
      const cluster = yield* TrainingCluster
      assert.strictEqual(vectors.train.length, 32)
      for (const row of vectors.train) {
        const artifact = yield* cluster.train(row.recipe, BigInt(row.seed))
        assert.isTrue(close(artifact.trainLoss, row.trainLoss), `trainLoss seed ${row.seed}`)
        assertMeasurement(SimHeldOut.measure(artifact, "dev", 16), row.dev16, "dev16")
        assertMeasurement(SimHeldOut.measure(artifact, "held-out", 16), row.heldOut16, "heldOut16")
        assertMeasurement(SimHeldOut.measure(artifact, "held-out", 13), row.heldOut13, "heldOut13")
      }
    }).pipe(Effect.provide(LocalSim.layer), Effect.provide(TestKey)))

  it.effect("the scorer service measures what the pure function measures", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer
      const row = vectors.train[5]!
      const artifact = signed(LocalSim.trainUnchecked(row.recipe, BigInt(row.seed)))
      assertMeasurement(yield* scorer.measure(artifact, "held-out"), row.heldOut16, "service heldOut16")
      assertMeasurement(yield* scorer.measure(artifact, "dev"), row.dev16, "service dev16")
    }).pipe(Effect.provide(SimHeldOut.layer), Effect.provide(TestKey)))

  it.effect("the reference one-shot competition", () =>
    Effect.gen(function*() {
      const outcome = yield* runOneShot(referenceCompetition)
      assertMeasurement(outcome.baseline.heldOut, vectors.oneShot.baseline, "baseline")
      assert.strictEqual(outcome.candidates.length, vectors.oneShot.candidates.length)
      for (const expected of vectors.oneShot.candidates) {
        const actual = trained(outcome.candidates.find((c) => c.researcher === expected.researcher), expected.researcher)
        assert.strictEqual(actual.seed, BigInt(expected.seed))
        assertMeasurement(actual.heldOut, expected.heldOut, `${expected.researcher}.heldOut`)
        for (const key of ["delta", "ciLower", "ciUpper"] as const) {
          assert.isTrue(close(actual.lift[key], expected.lift[key]), `${expected.researcher}.lift.${key}`)
        }
        assert.strictEqual(actual.lift.n, expected.lift.n)
        assert.strictEqual(actual.clears, expected.clears, `${expected.researcher}.clears`)
      }
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), vectors.oneShot.ranked)
      assert.deepStrictEqual(
        outcome.payouts.map((p) => ({ researcher: p.researcher, wei: p.wei.toString() })),
        vectors.oneShot.payouts
      )
    }).pipe(Effect.provide(Layer.merge(LocalSim.layer, SimHeldOut.layer)), Effect.provide(TestKey)))
})
