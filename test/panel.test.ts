import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import type { OperatorKey } from "../src/integrity/OperatorKey.js"
import * as Panel from "../src/scorer/Panel.js"
import { Scorer } from "../src/scorer/Scorer.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { signed, TestKey } from "./support/keys.js"
import { close, type VecMeasurement, vectors } from "./support/vectors.js"

const assertMeasured = (actual: VecMeasurement, expected: VecMeasurement, what: string) => {
  for (const key of ["value", "ciLower", "ciUpper"] as const) {
    assert.isTrue(close(actual[key], expected[key]), `${what}.${key}: ${actual[key]} vs ${expected[key]}`)
  }
  assert.strictEqual(actual.n, expected.n)
  assert.strictEqual(actual.cost, expected.cost)
}

/** The case's artifact as the market's simulated cluster returns it (signed under the operator key). */
const artifactOf = (c: (typeof vectors.panel)[number]) => signed(LocalSim.trainUnchecked(c.recipe, BigInt(c.seed)))

describe("panel: the reference cases", () => {
  for (const c of vectors.panel) {
    it.effect(`${c.name}: ${c.quorum}-of-${c.shards.length}`, () =>
      Effect.gen(function*() {
        const panel = yield* Panel.ofShards(c.shards, c.quorum)
        const judgement = yield* Panel.judge(panel, artifactOf(c), c.claim)
        assert.strictEqual(judgement.accepted, c.accepted)
        assert.strictEqual(judgement.accepting, c.accepting)
        assert.strictEqual(judgement.quorum, c.quorum)
        assert.isTrue(close(judgement.consensus, c.consensus), `consensus ${judgement.consensus} vs ${c.consensus}`)
        assert.strictEqual(judgement.verdicts.length, c.verdicts.length)
        c.verdicts.forEach((expected, i) => {
          const actual = judgement.verdicts[i]!
          assert.strictEqual(actual.evalShards, expected.evalShards)
          assertMeasured(actual.measured, expected.measured, `${c.name} referee ${i}`)
          assert.strictEqual(actual.accepts, expected.accepts, `${c.name} referee ${i} accepts`)
        })
      }).pipe(Effect.provide(TestKey)))
  }

  it.effect("the split claim is accepted 2-of-3 but rejected when all three must accept", () =>
    Effect.gen(function*() {
      const split = vectors.panel.find((c) => c.name === "split-0.0015")!
      const unanimous = yield* Panel.ofShards(split.shards, 3)
      const judgement = yield* Panel.judge(unanimous, artifactOf(split), split.claim)
      assert.strictEqual(judgement.accepting, 2)
      assert.isFalse(judgement.accepted)
    }).pipe(Effect.provide(TestKey)))

  it.effect("majority(5, 13) is the reference 3-of-5 panel over shards 13..17", () =>
    Effect.gen(function*() {
      const panel = yield* Panel.majority(5, 13)
      assert.deepStrictEqual(panel.referees.map((r) => r.shards), [13, 14, 15, 16, 17])
      assert.strictEqual(panel.quorum, 3)
      assert.strictEqual((yield* Panel.majority(4, 12)).quorum, 3)
      assert.strictEqual((yield* Panel.majority(1, 12)).quorum, 1)
    }).pipe(Effect.provide(TestKey)))

  it.effect("NaN and infinite claims are accepted by no referee", () =>
    Effect.gen(function*() {
      const honest = vectors.panel[0]!
      const panel = yield* Panel.ofShards(honest.shards, 1)
      for (const claim of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const judgement = yield* Panel.judge(panel, artifactOf(honest), claim)
        assert.strictEqual(judgement.accepting, 0, String(claim))
        assert.isFalse(judgement.accepted)
      }
    }).pipe(Effect.provide(TestKey)))
})

describe("panel: construction errors are typed", () => {
  const cases: ReadonlyArray<[string, Effect.Effect<Panel.Panel, unknown, OperatorKey>]> = [
    ["an empty panel", Panel.make([], 1)],
    ["an empty shard list", Panel.ofShards([], 1)],
    ["quorum 0", Panel.ofShards([12, 16], 0)],
    ["quorum above n", Panel.ofShards([12, 16, 64], 4)],
    ["a fractional quorum", Panel.ofShards([12, 16], 1.5)],
    ["a referee with zero shards", Panel.ofShards([12, 0], 1)],
    ["a referee with a fractional shard count", Panel.ofShards([12.5], 1)],
    ["a majority of nobody", Panel.majority(0, 12)],
    ["a majority from zero base shards", Panel.majority(3, 0)]
  ]
  for (const [name, build] of cases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.provide(build, TestKey))
        assert.isTrue(error instanceof Object && "_tag" in error && error._tag === "PanelInvalid", String(error))
      }))
  }
})

describe("panel: consensus", () => {
  const honest = vectors.panel.find((c) => c.name === "honest-majority5")!
  /** A referee that reports the simulator's measurement shifted by `lie`. */
  const liar = (lie: number): Scorer["Type"] =>
    Scorer.of({
      id: "liar",
      shards: 16,
      measure: (artifact, split) =>
        Effect.sync(() => {
          const m = SimHeldOut.measure(artifact, split, 16)
          return { ...m, value: m.value + lie, ciLower: m.ciLower + lie, ciUpper: m.ciUpper + lie }
        })
    })
  const honestReferees = (shards: ReadonlyArray<number>) =>
    Effect.forEach(shards, (n) => Effect.orDie(SimHeldOut.make(n)))

  it("combine: mean, and median of odd and even counts (hand-computed)", () => {
    assert.strictEqual(Panel.combine("mean", [1, 2, 6]), 3)
    assert.strictEqual(Panel.combine("median", [6, 1, 2]), 2)
    assert.strictEqual(Panel.combine("median", [4, 1, 3, 100]), 3.5)
  })

  it.effect("the median resists one lying referee; the mean is dragged by lie / n", () =>
    Effect.gen(function*() {
      const artifact = artifactOf(honest)
      const honestValues = honest.verdicts.slice(0, 4).map((v) => v.measured.value) // shards 13..16
      const referees = [...(yield* honestReferees([13, 14, 15, 16])), liar(10)]
      const median = yield* Panel.make(referees, 3, "median")
      const mean = yield* Panel.make(referees, 3, "mean")
      const byMedian = yield* Panel.judge(median, artifact, honest.claim)
      const byMean = yield* Panel.judge(mean, artifact, honest.claim)
      // the median of the four honest values and one huge one is the third smallest honest value
      const sorted = [...honestValues].sort((a, b) => a - b)
      assert.isTrue(close(byMedian.consensus, sorted[2]!), `${byMedian.consensus} vs ${sorted[2]}`)
      // the liar reports the 16-shard referee's value plus 10
      const expectedMean = (honestValues.reduce((a, b) => a + b, 0) + honest.verdicts[3]!.measured.value + 10) / 5
      assert.isTrue(close(byMean.consensus, expectedMean))
      assert.isAbove(byMean.consensus - sorted[3]!, 1.9)
      assert.strictEqual(byMedian.accepting, 4)
      assert.isTrue(byMedian.accepted)
    }).pipe(Effect.provide(TestKey)))

  it("property: whatever one referee claims, the median stays within the honest referees' range", async () => {
    const artifact = artifactOf(honest)
    const honestPanel = await Effect.runPromise(honestReferees([13, 14, 15, 16]).pipe(Effect.provide(TestKey)))
    const honestValues = honest.verdicts.slice(0, 4).map((v) => v.measured.value)
    const low = Math.min(...honestValues)
    const high = Math.max(...honestValues)
    await fc.assert(
      fc.asyncProperty(fc.double({ min: -1e6, max: 1e6, noNaN: true }), async (lie) => {
        const panel = await Effect.runPromise(Panel.make([...honestPanel, liar(lie)], 3, "median").pipe(Effect.provide(TestKey)))
        const judgement = await Effect.runPromise(Panel.judge(panel, artifact, honest.claim))
        return judgement.consensus >= low - 1e-12 && judgement.consensus <= high + 1e-12
      }),
      { numRuns: 200 }
    )
  })

  it.effect("agree: an honest panel's intervals contain its consensus; a liar under the mean breaks agreement, not under the median", () =>
    Effect.gen(function*() {
      const artifact = artifactOf(honest)
      const panel = yield* Panel.majority(5, 13)
      const agreement = yield* Panel.agree(panel, artifact)
      const containing = honest.verdicts.filter((v) =>
        v.measured.ciLower <= honest.consensus && honest.consensus <= v.measured.ciUpper
      ).length
      assert.strictEqual(agreement.containing, containing)
      assert.strictEqual(agreement.agreed, containing >= 3)
      assert.isTrue(close(agreement.consensus, honest.consensus))

      const referees = [...(yield* honestReferees([13, 14, 15, 16])), liar(10)]
      const dragged = yield* Panel.agree(yield* Panel.make(referees, 3, "mean"), artifact)
      assert.strictEqual(dragged.containing, 0)
      assert.isFalse(dragged.agreed)
      const robust = yield* Panel.agree(yield* Panel.make(referees, 3, "median"), artifact)
      assert.isTrue(robust.agreed)
      assert.isAtLeast(robust.containing, 3)
    }).pipe(Effect.provide(TestKey)))
})
