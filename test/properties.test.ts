import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import fc from "fast-check"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as Artifact from "../src/domain/Artifact.js"
import { jitter } from "../src/domain/Jitter.js"
import { clears, defaultGate, unpairedLift } from "../src/domain/Measurement.js"
import { MICROS_MAX, MICROS_MIN, toMicros, WEI_MAX } from "../src/domain/Money.js"
import { decodeRecipe } from "../src/domain/Recipe.js"
import * as Reward from "../src/market/Reward.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { TestKey } from "./support/keys.js"
import { jitterRef, measureRef, trainLossRef } from "./support/referenceModel.js"

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
const validRecipe = fc.record({
  islands: fc.integer({ min: 1, max: 4294967295 }),
  innerSteps: fc.integer({ min: 1, max: 4294967295 }),
  innerLr: fc.double({ min: 1e-9, max: 10, noNaN: true }),
  outerLr: fc.double({ min: 1e-9, max: 10, noNaN: true }),
  keepFraction: fc.double({ min: 1e-9, max: 1, noNaN: true })
})

describe("simulator and scorer agree with an independent model", () => {
  it("jitter on random u64 mixes", () => {
    fc.assert(fc.property(u64, (mix) => jitter(mix) === jitterRef(mix)), { numRuns: 2000 })
  })

  it("training loss and dev/held-out measurements of random recipes and seeds", () => {
    fc.assert(
      fc.property(validRecipe, u64, fc.integer({ min: 1, max: 64 }), (recipe, seed, shards) => {
        const artifact = LocalSim.trainUnchecked(recipe, seed)
        const expectedLoss = trainLossRef(recipe, seed)
        if (Math.abs(artifact.trainLoss - expectedLoss) > 1e-12) return false
        for (const split of ["dev", "held-out"] as const) {
          const actual = SimHeldOut.measure(artifact, split, shards)
          const expected = measureRef(recipe, seed, artifact.trainLoss, split, shards)
          for (const key of ["value", "ciLower", "ciUpper"] as const) {
            if (!(Math.abs(actual[key] - expected[key]) <= 1e-12)) return false
          }
          if (actual.n !== shards || actual.cost !== shards) return false
        }
        return true
      }),
      { numRuns: 500 }
    )
  })

  it("random valid recipes train to finite losses", () => {
    fc.assert(
      fc.property(validRecipe, u64, (recipe, seed) =>
        Effect.runSync(
          Effect.gen(function*() {
            const cluster = yield* LocalSim.make
            const artifact = yield* cluster.train(recipe, seed)
            return Number.isFinite(artifact.trainLoss)
          }).pipe(Effect.provide(TestKey))
        )
      ),
      { numRuns: 300 }
    )
  })
})

describe("recipe validation", () => {
  const invalid: ReadonlyArray<[string, fc.Arbitrary<unknown>]> = [
    ["islands", fc.oneof(fc.integer({ max: 0 }), fc.constant(4294967296), fc.constant(1.5), fc.constant("8"))],
    ["innerSteps", fc.oneof(fc.integer({ max: 0 }), fc.constant(2 ** 40), fc.constant(2.25), fc.constant(null))],
    ["innerLr", fc.oneof(fc.double({ max: 0 }), fc.constant(Number.POSITIVE_INFINITY), fc.constant(Number.NaN))],
    ["outerLr", fc.oneof(fc.double({ max: 0 }), fc.constant(Number.NEGATIVE_INFINITY), fc.constant("0.7"))],
    ["keepFraction", fc.oneof(fc.double({ max: 0 }), fc.double({ min: 1.0000001, max: 1e9 }), fc.constant(Number.NaN))]
  ]
  for (const [field, bad] of invalid) {
    it(`an invalid ${field} is a RecipeInvalid naming ${field}`, () => {
      fc.assert(
        fc.property(validRecipe, bad, (recipe, value) => {
          const result = Effect.runSync(Effect.either(decodeRecipe({ ...recipe, [field]: value })))
          return Either.isLeft(result) && result.left._tag === "RecipeInvalid" && result.left.field === field
        }),
        { numRuns: 200 }
      )
    })
  }

  it("an unknown field is rejected by name", () => {
    const result = Effect.runSync(Effect.either(decodeRecipe({ ...LocalSimBaseline, islandz: 3 })))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) assert.strictEqual(result.left.field, "islandz")
  })
})
const LocalSimBaseline = { islands: 1, innerSteps: 1, innerLr: 3e-3, outerLr: 0.7, keepFraction: 1 }

describe("gate", () => {
  const nonFinite = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)
  const lift = fc.record({
    delta: fc.double({ min: -1, max: 1, noNaN: true }),
    ciLower: fc.double({ min: -1, max: 1, noNaN: true }),
    ciUpper: fc.double({ min: -1, max: 1, noNaN: true }),
    n: fc.integer({ min: 0, max: 100 })
  })

  it("fails closed when delta or ciLower is not finite", () => {
    fc.assert(
      fc.property(lift, nonFinite, fc.boolean(), (l, bad, which) =>
        !clears(defaultGate, which ? { ...l, delta: bad } : { ...l, ciLower: bad }, 16)),
      { numRuns: 500 }
    )
  })

  it("fails closed on a NaN threshold, too few shards, or an unknown cost under a ceiling", () => {
    fc.assert(
      fc.property(lift, nonFinite, (l, bad) => {
        const ok = { ...l, ciLower: 0.5, delta: 0.5, n: 20 }
        return !clears({ ...defaultGate, minLiftCiLower: Number.NaN }, ok, 16) &&
          !clears(defaultGate, { ...ok, n: 11 }, 16) &&
          !clears({ ...defaultGate, costPerTaskCeiling: 10 }, ok, bad) &&
          !clears({ ...defaultGate, costPerTaskCeiling: Number.NaN }, ok, 16) &&
          !clears({ ...defaultGate, costPerTaskCeiling: 10 }, { ...ok, n: 0 }, 16) &&
          clears(defaultGate, ok, 16)
      }),
      { numRuns: 200 }
    )
  })

  it("clears exactly when ciLower >= threshold with enough shards (finite inputs)", () => {
    fc.assert(
      fc.property(lift, (l) => clears(defaultGate, l, 16) === (l.n >= 12 && l.ciLower >= 0.02)),
      { numRuns: 500 }
    )
  })

  it("cost ceiling compares cost per task", () => {
    const ok = { delta: 0.5, ciLower: 0.4, ciUpper: 0.6, n: 16 }
    assert.isTrue(clears({ ...defaultGate, costPerTaskCeiling: 2 }, ok, 32))
    assert.isFalse(clears({ ...defaultGate, costPerTaskCeiling: 2 }, ok, 33))
  })

  it("standard error falls back to the binomial form for a zero-width interval", () => {
    const point = { value: 0.25, ciLower: 0.25, ciUpper: 0.25, n: 12, cost: 12 }
    const base = { value: 0.1, ciLower: 0.1, ciUpper: 0.1, n: 0, cost: 0 }
    const l = unpairedLift(point, { ...point, value: 0.1, ciLower: 0.1, ciUpper: 0.1 })
    const se = Math.sqrt(0.25 * 0.75 / 12 + 0.1 * 0.9 / 12)
    assert.isTrue(Math.abs(l.ciLower - (0.15 - 1.96 * se)) < 1e-15)
    assert.strictEqual(unpairedLift(point, base).ciLower, Number.NEGATIVE_INFINITY)
  })
})

describe("integer money", () => {
  const pool = fc.bigInt({ min: 0n, max: WEI_MAX })
  const names = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 12 })

  it("terminal prize pays the whole pool to the top or nothing", () => {
    fc.assert(
      fc.property(pool, names, (p, ranked) => {
        const paid = Reward.settleTerminal(p, ranked)
        const total = paid.reduce((a, x) => a + x.wei, 0n)
        return ranked.length === 0 || p === 0n ? paid.length === 0 : total === p && paid[0]?.researcher === ranked[0]
      }),
      { numRuns: 300 }
    )
  })

  it("snapshot top-k conserves the pool and pays floor(pool*w/10000) per rank", () => {
    const weights = fc.array(fc.integer({ min: 0, max: 10000 }), { minLength: 1, maxLength: 8 }).filter((w) =>
      w.reduce((a, b) => a + b, 0) <= 10000
    )
    fc.assert(
      fc.property(pool, weights, names, (p, w, ranked) => {
        const paid = Reward.settleTopK(p, w, ranked)
        const total = paid.reduce((a, x) => a + x.wei, 0n)
        if (total > p) return false
        // each paid rank gets exactly its floor share (the sum of floors never exceeds the pool)
        let expectedRows = 0
        for (let i = 0; i < Math.min(w.length, ranked.length); i++) {
          const share = (p * BigInt(w[i]!)) / 10000n
          if (share === 0n) continue
          const row = paid[expectedRows++]
          if (row === undefined || row.researcher !== ranked[i] || row.wei !== share) return false
        }
        return expectedRows === paid.length && paid.every((x) => x.wei > 0n)
      }),
      { numRuns: 500 }
    )
  })

  it("top-k weights above 10000 bps or empty are a RewardInvalid before any work", () => {
    for (const weightsBps of [[], [6000, 4001], [10001]]) {
      const result = Effect.runSync(Effect.either(Reward.validate({ kind: "snapshot-top-k", weightsBps })))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "RewardInvalid", JSON.stringify(weightsBps))
    }
    assert.isTrue(
      Either.isRight(Effect.runSync(Effect.either(Reward.validate({ kind: "snapshot-top-k", weightsBps: [10000] }))))
    )
  })

  it("micros round half away from zero and saturate at the i64 bounds; non-finite is 0", () => {
    assert.strictEqual(toMicros(0.0000005), 1n)
    assert.strictEqual(toMicros(-0.0000005), -1n)
    assert.strictEqual(toMicros(0.27691623125197484), 276916n)
    assert.strictEqual(toMicros(Number.NaN), 0n)
    assert.strictEqual(toMicros(Number.POSITIVE_INFINITY), 0n)
    fc.assert(
      fc.property(fc.double({ min: 9.3e12, max: 1e300, noNaN: true }), (x) =>
        toMicros(x) === MICROS_MAX && toMicros(-x) === MICROS_MIN),
      { numRuns: 300 }
    )
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), (k) => toMicros(k / 1e6) === BigInt(k)),
      { numRuns: 500 }
    )
  })

  it("record bounty: beats pay the marginal, and the total is the frontier bought once", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -1_000_000n, max: 1_000_000n }), { maxLength: 40 }),
        fc.bigInt({ min: 0n, max: 5000n }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        (scores, epsilon, weiPerMicro) => {
          let state: Reward.BountyState = { best: undefined }
          let total = 0n
          for (const s of scores) {
            const before = state.best ?? 0n
            const step = Reward.beat(state, s, epsilon, weiPerMicro)
            if (step.record !== (s - before > 0n && s - before >= epsilon)) return false
            total += step.paidWei
            state = step.state
          }
          return total === weiPerMicro * ((state.best ?? 0n) - 0n)
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("artifact reference", () => {
  it("is FNV-1a 64 over the six little-endian words", () => {
    fc.assert(
      fc.property(validRecipe, u64, (recipe, seed) => {
        const bytes = new Uint8Array(48)
        const view = new DataView(bytes.buffer)
        view.setBigUint64(0, BigInt(recipe.islands), true)
        view.setBigUint64(8, BigInt(recipe.innerSteps), true)
        view.setFloat64(16, recipe.innerLr, true)
        view.setFloat64(24, recipe.outerLr, true)
        view.setFloat64(32, recipe.keepFraction, true)
        view.setBigUint64(40, seed, true)
        let h = 0xcbf29ce484222325n
        for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) % (1n << 64n)
        return Artifact.ref({ recipe, trainSeed: seed }) === `training:${h.toString(16).padStart(16, "0")}`
      }),
      { numRuns: 300 }
    )
  })
})
