import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import fc from "fast-check"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { defaultGate, type Gate, type Measurement } from "../src/domain/Measurement.js"
import { baseline as baselineRecipe, type Recipe } from "../src/domain/Recipe.js"
import * as Leaderboard from "../src/market/Leaderboard.js"
import * as Replay from "../src/market/Replay.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { TestKey } from "./support/keys.js"
import { measureRef, trainLossRef } from "./support/referenceModel.js"
import { close, vectors } from "./support/vectors.js"

const continuous = vectors.continuous
const bounty = {
  kind: "record-bounty" as const,
  epsilonMicros: BigInt(continuous.epsilonMicros),
  weiPerMicro: BigInt(continuous.weiPerMicro)
}
const referenceConfig = (poolWei?: bigint): Replay.ReplayConfig => ({
  gate: defaultGate,
  schedule: bounty,
  poolWei,
  baseline: { recipe: baselineRecipe, seed: BigInt(continuous.baselineSeed) }
})

// ---------------------------------------------------------------------------------
// An independent model of the replay, written from SPEC §4-§6 and §8 with the
// reference simulator of test/support (no code shared with src/).
// ---------------------------------------------------------------------------------
interface ModelResult {
  researcher: string
  heldOutValue: number
  liftMicros: bigint | null
  becameRecord: boolean
  paidWei: bigint
}
interface ModelOutcome {
  results: Array<ModelResult>
  payouts: Array<{ researcher: string; wei: bigint }>
  finalBestMicros: bigint | null
  spentWei: bigint
}
const heldOutRef = (recipe: Recipe, seed: bigint, shards = 16) =>
  measureRef(recipe, seed, trainLossRef(recipe, seed), "held-out", shards)
const seOf = (m: { ciLower: number; ciUpper: number }) => (m.ciUpper - m.ciLower) / (2 * 1.96)
const microsRef = (delta: number): bigint => {
  const scaled = delta * 1e6
  return BigInt(Math.sign(scaled) * Math.round(Math.abs(scaled)))
}
const modelReplay = (
  submissions: ReadonlyArray<{ researcher: string; recipe: Recipe }>,
  options: { poolWei?: bigint | undefined; epsilonMicros: bigint; weiPerMicro: bigint; minLiftCiLower?: number }
): ModelOutcome => {
  const base = heldOutRef(baselineRecipe, 0n)
  const results: Array<ModelResult> = []
  const payouts: Array<{ researcher: string; wei: bigint }> = []
  let best: bigint | null = null
  let spent = 0n
  submissions.forEach((s, i) => {
    const m = heldOutRef(s.recipe, BigInt(i))
    const delta = m.value - base.value
    const ciLower = delta - 1.96 * Math.sqrt(seOf(m) ** 2 + seOf(base) ** 2)
    const cleared = Number.isFinite(ciLower) && Math.min(m.n, base.n) >= 12 &&
      ciLower >= (options.minLiftCiLower ?? 0.02)
    const micros = cleared ? microsRef(delta) : null
    let becameRecord = false
    let paidWei = 0n
    if (micros !== null) {
      const marginal = micros - (best ?? 0n)
      const pay = marginal * options.weiPerMicro
      const fits = options.poolWei === undefined || pay <= options.poolWei - spent
      if (marginal > 0n && marginal >= options.epsilonMicros && fits) {
        becameRecord = true
        paidWei = pay
        best = micros
        spent += pay
        const line = payouts.find((p) => p.researcher === s.researcher)
        if (line === undefined) payouts.push({ researcher: s.researcher, wei: pay })
        else line.wei += pay
      }
    }
    results.push({ researcher: s.researcher, heldOutValue: m.value, liftMicros: micros, becameRecord, paidWei })
  })
  return { results, payouts: payouts.filter((p) => p.wei > 0n), finalBestMicros: best, spentWei: spent }
}

const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  islands: fc.constantFrom(1, 2, 3, 4, 8, 16, 32),
  innerSteps: fc.constantFrom(1, 8, 32, 64, 500, 4000),
  innerLr: fc.constantFrom(3e-4, 1e-3, 3e-3, 1e-2),
  outerLr: fc.constantFrom(0.3, 0.7, 1.0),
  keepFraction: fc.constantFrom(0.0005, 0.01, 0.1, 0.2, 0.5, 1)
})
const submissionsArb = fc.array(
  fc.record({ researcher: fc.constantFrom("alice", "bob", "carol", "dave"), recipe: recipeArb }),
  { minLength: 0, maxLength: 40 }
)

const sumWei = (payouts: ReadonlyArray<{ wei: bigint }>) => payouts.reduce((total, p) => total + p.wei, 0n)

const replay = (config: Replay.ReplayConfig, submissions: ReadonlyArray<Replay.ReplaySubmission>) =>
  Effect.runSync(Replay.collect(config, submissions, Replay.simEvaluator(16)))

const assertMatchesModel = (
  actual: { results: ReadonlyArray<Replay.ReplayResult>; summary: Replay.ReplaySummary },
  expected: ModelOutcome
) => {
  assert.strictEqual(actual.results.length, expected.results.length)
  actual.results.forEach((r, i) => {
    const e = expected.results[i]!
    assert.strictEqual(r.index, i)
    assert.strictEqual(r.researcher, e.researcher)
    assert.isTrue(close(r.heldOutValue, e.heldOutValue), `heldOutValue ${i}`)
    assert.strictEqual(r.liftMicros ?? null, e.liftMicros, `liftMicros ${i}`)
    assert.strictEqual(r.becameRecord, e.becameRecord, `becameRecord ${i}`)
    assert.strictEqual(r.paidWei, e.paidWei, `paidWei ${i}`)
  })
  assert.deepStrictEqual(actual.summary.payouts, expected.payouts)
  assert.strictEqual(actual.summary.finalBestMicros ?? null, expected.finalBestMicros)
  assert.strictEqual(actual.summary.spentWei, expected.spentWei)
}

describe("replay form: the reference scenarios", () => {
  for (const scenario of continuous.scenarios) {
    it(`${scenario.name} (simulator evaluated as plain functions)`, () => {
      const { results, summary } = replay(
        referenceConfig(),
        scenario.results.map((r) => ({ researcher: r.researcher, recipe: r.recipe }))
      )
      assert.strictEqual(results.length, scenario.results.length)
      scenario.results.forEach((expected, i) => {
        const actual = results[i]!
        assert.strictEqual(actual.researcher, expected.researcher)
        assert.isTrue(close(actual.heldOutValue, expected.heldOutValue), `${expected.researcher} heldOutValue`)
        assert.strictEqual(
          actual.liftMicros === undefined ? null : Number(actual.liftMicros),
          expected.liftMicros,
          `${expected.researcher} liftMicros`
        )
        assert.strictEqual(actual.becameRecord, expected.becameRecord, `${expected.researcher} becameRecord`)
        assert.strictEqual(actual.paidWei.toString(), expected.paidWei, `${expected.researcher} paidWei`)
      })
      assert.strictEqual(summary.spentWei.toString(), scenario.totalWei)
      assert.strictEqual(
        summary.finalBestMicros === undefined ? null : Number(summary.finalBestMicros),
        scenario.finalBestMicros
      )
      assert.strictEqual(sumWei(summary.payouts).toString(), scenario.totalWei)
    })
  }

  it.effect("every scenario through the cluster and scorer services gives the same figures", () =>
    Effect.gen(function*() {
      const evaluator = yield* Replay.serviceEvaluator
      for (const scenario of continuous.scenarios) {
        const { results, summary } = yield* Replay.collect(
          referenceConfig(),
          scenario.results.map((r) => ({ researcher: r.researcher, recipe: r.recipe })),
          evaluator
        )
        scenario.results.forEach((expected, i) => {
          assert.isTrue(close(results[i]!.heldOutValue, expected.heldOutValue))
          assert.strictEqual(results[i]!.paidWei.toString(), expected.paidWei)
        })
        assert.strictEqual(summary.spentWei.toString(), scenario.totalWei)
      }
    }).pipe(Effect.provide(Layer.merge(LocalSim.layer, SimHeldOut.layer)), Effect.provide(TestKey)))

  it("a binding pool rejects a record whole: no pay, no new best (hand-computed from the improving scenario)", () => {
    const improving = continuous.scenarios.find((s) => s.name === "improving")!
    // alice pays 98,972 micros * 1e9 wei; the pool then has 51,028e9 left, below bob's
    // 87,974e9 marginal and carol's 181,890e9 marginal over alice (280,862 - 98,972).
    const pool = 150_000n * 1_000_000_000n
    const { results, summary } = replay(
      referenceConfig(pool),
      improving.results.map((r) => ({ researcher: r.researcher, recipe: r.recipe }))
    )
    assert.deepStrictEqual(results.map((r) => r.becameRecord), [true, false, false])
    assert.deepStrictEqual(results.map((r) => r.paidWei), [98_972_000_000_000n, 0n, 0n])
    assert.deepStrictEqual(results.map((r) => r.liftMicros), [98_972n, 186_946n, 280_862n])
    assert.strictEqual(summary.finalBestMicros, 98_972n)
    assert.strictEqual(summary.spentWei, 98_972_000_000_000n)
    assert.deepStrictEqual(summary.payouts, [{ researcher: "alice", wei: 98_972_000_000_000n }])
  })
})

describe("replay form: properties", () => {
  it("agrees exactly with an independent model on random sequences, with and without a binding pool", () => {
    fc.assert(
      fc.property(
        submissionsArb,
        fc.option(fc.bigInt({ min: 0n, max: 400_000n * 1_000_000_000n }), { nil: undefined }),
        (submissions, poolWei) => {
          const actual = replay(referenceConfig(poolWei), submissions)
          assertMatchesModel(
            actual,
            modelReplay(submissions, { poolWei, epsilonMicros: bounty.epsilonMicros, weiPerMicro: bounty.weiPerMicro })
          )
        }
      ),
      { numRuns: 150 }
    )
  })

  it("unlimited RecordBounty pays exactly weiPerMicro * (final best - baseline)", () => {
    fc.assert(
      fc.property(
        submissionsArb,
        fc.bigInt({ min: 0n, max: 5000n }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        (submissions, epsilonMicros, weiPerMicro) => {
          const { summary } = replay(
            { ...referenceConfig(), schedule: { kind: "record-bounty", epsilonMicros, weiPerMicro } },
            submissions
          )
          const expected = weiPerMicro * (summary.finalBestMicros ?? 0n)
          return sumWei(summary.payouts) === expected && summary.spentWei === expected
        }
      ),
      { numRuns: 150 }
    )
  })

  it("spent never exceeds the pool, under either schedule", () => {
    const schedule = fc.oneof(
      fc.record({
        kind: fc.constant("record-bounty" as const),
        epsilonMicros: fc.bigInt({ min: 0n, max: 5000n }),
        weiPerMicro: fc.bigInt({ min: 1n, max: 10n ** 12n })
      }),
      fc.record({ kind: fc.constant("time-at-top" as const), weiPerEpoch: fc.bigInt({ min: 1n, max: 10n ** 6n }) })
    )
    fc.assert(
      fc.property(submissionsArb, schedule, fc.bigInt({ min: 0n, max: 10n ** 17n }), (submissions, s, poolWei) => {
        const { results, summary } = replay({ ...referenceConfig(poolWei), schedule: s }, submissions)
        return summary.spentWei <= poolWei && sumWei(summary.payouts) === summary.spentWei &&
          results.every((r) => r.paidWei <= poolWei)
      }),
      { numRuns: 200 }
    )
  })

  it("recomputing the payouts from the log alone reproduces them, under either schedule", () => {
    const schedule = fc.oneof(
      fc.constant<Leaderboard.ContinuousSchedule>(bounty),
      fc.record({ kind: fc.constant("time-at-top" as const), weiPerEpoch: fc.bigInt({ min: 1n, max: 10n ** 6n }) })
    )
    fc.assert(
      fc.property(
        submissionsArb,
        schedule,
        fc.option(fc.bigInt({ min: 0n, max: 10n ** 17n }), { nil: undefined }),
        (submissions, s, poolWei) => {
          const rows: Array<Leaderboard.LeaderboardRow> = []
          const config = { ...referenceConfig(poolWei), schedule: s }
          const evaluator = Replay.simEvaluator(16)
          const summary = Effect.runSync(
            Replay.prepare(config, evaluator, (row) => rows.push(row)).pipe(
              Effect.flatMap((settler) =>
                Stream.runDrain(Replay.stream(settler, Stream.fromIterable(submissions), evaluator)).pipe(
                  Effect.map(() => settler.summary())
                )
              )
            )
          )
          const audit = Leaderboard.recompute({ schedule: s, poolWei }, rows)
          assert.deepStrictEqual(audit.discrepancies, [])
          assert.deepStrictEqual(audit.payouts, summary.payouts)
          assert.strictEqual(audit.spentWei, summary.spentWei)
          assert.strictEqual(audit.finalBestMicros, summary.finalBestMicros)
        }
      ),
      { numRuns: 150 }
    )
  })
})

describe("replay form: time-at-top, one epoch per submission", () => {
  const recipes = (name: string) =>
    continuous.scenarios.find((s) => s.name === name)!.results.map((r) => ({
      researcher: r.researcher,
      recipe: r.recipe
    }))
  const timeAtTop = (weiPerEpoch: bigint, poolWei?: bigint): Replay.ReplayConfig => ({
    ...referenceConfig(poolWei),
    schedule: { kind: "time-at-top", weiPerEpoch }
  })

  it("each epoch credits the holder after that submission (dip: alice holds through bob's epoch)", () => {
    // dip: alice records, bob is weaker (alice keeps the top spot), carol records.
    const { results, summary } = replay(timeAtTop(100n), recipes("dip"))
    assert.deepStrictEqual(results.map((r) => r.becameRecord), [true, false, true])
    assert.deepStrictEqual(results.map((r) => r.paidWei), [100n, 0n, 100n])
    assert.deepStrictEqual(summary.payouts, [{ researcher: "alice", wei: 200n }, { researcher: "carol", wei: 100n }])
    assert.strictEqual(summary.spentWei, 300n)
    assert.strictEqual(summary.finalBestMicros, 280_862n)
  })

  it("credits are capped by the pool left, then stop", () => {
    const { results, summary } = replay(timeAtTop(100n, 250n), recipes("improving"))
    assert.deepStrictEqual(results.map((r) => r.paidWei), [100n, 100n, 50n])
    assert.strictEqual(summary.spentWei, 250n)
    const exhausted = replay(timeAtTop(100n, 150n), recipes("improving"))
    assert.deepStrictEqual(exhausted.results.map((r) => r.paidWei), [100n, 50n, 0n])
    assert.deepStrictEqual(exhausted.results.map((r) => r.becameRecord), [true, true, true])
  })

  it("nobody is credited while no submission has cleared the gate", () => {
    const { results, summary } = replay(timeAtTop(100n), recipes("gated"))
    assert.deepStrictEqual(results.map((r) => r.paidWei), [0n, 0n])
    assert.deepStrictEqual(summary.payouts, [])
    assert.strictEqual(summary.finalBestMicros, undefined)
  })
})

describe("replay form: streaming", () => {
  const recipes: ReadonlyArray<Recipe> = [
    { islands: 4, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 },
    { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }
  ]

  it("consumes its input lazily: the first results of an endless stream arrive", () => {
    const endless = Stream.iterate(0, (i) => i + 1).pipe(
      Stream.map((i) => ({ researcher: `r${i % 3}`, recipe: recipes[i % recipes.length]! }))
    )
    const evaluator = Replay.simEvaluator(16)
    const first = Effect.runSync(
      Replay.prepare(referenceConfig(), evaluator).pipe(
        Effect.flatMap((settler) => Stream.runCollect(Stream.take(Replay.stream(settler, endless, evaluator), 5)))
      )
    )
    assert.deepStrictEqual(Chunk.toReadonlyArray(first).map((r) => r.index), [0, 1, 2, 3, 4])
  })

  it("hands results to the caller chunk by chunk, in order, and keeps none", () => {
    const n = 10_000
    const submissions = Stream.fromIterable(
      Array.from({ length: n }, (_, i) => ({ researcher: `r${i % 7}`, recipe: recipes[i % 2]! }))
    )
    let seen = 0
    let ordered = true
    const summary = Effect.runSync(
      Replay.run(referenceConfig(), submissions, Replay.simEvaluator(16), (chunk) =>
        Effect.sync(() => {
          for (const r of chunk) {
            ordered = ordered && r.index === seen
            seen += 1
          }
        }))
    )
    assert.strictEqual(seen, n)
    assert.isTrue(ordered)
    assert.strictEqual(summary.submissions, n)
    assert.strictEqual(summary.spentWei, bounty.weiPerMicro * (summary.finalBestMicros ?? 0n))
  })
})

describe("replay form: ranking objective", () => {
  // A hand-built evaluator: value from the recipe's islands, cost = 160 / islands.
  const measured = (recipe: Recipe): Measurement => {
    const value = -2.5 + 0.05 * Math.log2(recipe.islands) - (recipe.keepFraction < 0.01 ? 1 : 0)
    return { value, ciLower: value - 0.001, ciUpper: value + 0.001, n: 16, cost: 160 / recipe.islands }
  }
  const evaluator: Replay.Evaluator<never, never> = {
    evaluate: (recipe) => Effect.succeed(measured(recipe))
  }
  const gate: Gate = { minLiftCiLower: 0.02, minN: 12 }
  const r = (islands: number, keepFraction = 0.1): Recipe => ({
    islands,
    innerSteps: 32,
    innerLr: 0.003,
    outerLr: 0.7,
    keepFraction
  })

  it.effect("a lowest-cost market pays cost reductions among submissions that clear the value floor", () =>
    Effect.gen(function*() {
      const { results, summary } = yield* Replay.collect(
        {
          gate,
          schedule: { kind: "record-bounty", epsilonMicros: 1n, weiPerMicro: 1n },
          objective: { axis: "cost", sign: -1 },
          baseline: { recipe: r(1, 1), seed: 0n }
        },
        [
          { researcher: "alice", recipe: r(2) }, // cost 80: 80 cost units below the baseline's 160
          { researcher: "bob", recipe: r(8, 0.0005) }, // cost 20 but its value falls below the floor
          { researcher: "carol", recipe: r(4) } // cost 40: 40 more below alice
        ],
        evaluator
      )
      assert.deepStrictEqual(results.map((x) => x.liftMicros), [80_000_000n, undefined, 120_000_000n])
      assert.deepStrictEqual(results.map((x) => x.paidWei), [80_000_000n, 0n, 40_000_000n])
      assert.strictEqual(summary.finalBestMicros, 120_000_000n)
    }))
})
