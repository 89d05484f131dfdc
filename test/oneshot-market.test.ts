import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Ref } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { BackendFailed } from "../src/domain/Errors.js"
import { runOneShot } from "../src/market/OneShot.js"
import { referenceCompetition } from "../src/market/Reference.js"
import { Scorer } from "../src/scorer/Scorer.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { signed, TestKey } from "./support/keys.js"

/** A cluster double that trains like the simulator but records calls and fails for one recipe. */
const recordingCluster = (calls: Ref.Ref<number>, failIslands?: number) =>
  Layer.succeed(
    TrainingCluster,
    TrainingCluster.of({
      id: "double",
      isolation: "shared",
      attestation: Option.none(),
      train: (recipe, seed) =>
        Ref.update(calls, (n) => n + 1).pipe(
          Effect.zipRight(
            recipe.islands === failIslands
              ? Effect.fail(new BackendFailed({ backend: "double", exitCode: 3, stderrTail: "out of memory" }))
              : Effect.succeed(signed(LocalSim.trainUnchecked(recipe, seed)))
          )
        )
    })
  )

describe("one-shot market against swapped layers", () => {
  it.effect("a researcher whose training fails is listed with the failure; the others are ranked and paid (SPEC §15.8)", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const outcome = yield* runOneShot(referenceCompetition).pipe(
        Effect.provide(Layer.merge(recordingCluster(calls, 8), SimHeldOut.layer))
      )
      // scale-islands (8 islands) failed: it ranks nowhere; comm-efficient moves up to first place
      const failed = outcome.candidates.find((c) => c.researcher === "scale-islands")
      assert.strictEqual(failed?._tag, "Failed")
      if (failed?._tag === "Failed") {
        assert.strictEqual(failed.failure._tag, "BackendFailed")
        assert.include(failed.failure.message, "out of memory")
      }
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), ["comm-efficient"])
      assert.deepStrictEqual(outcome.payouts.map((p) => [p.researcher, p.wei]), [["comm-efficient", 500_000n]])
      assert.strictEqual(outcome.candidates.length, referenceCompetition.researchers.length)
      // everyone trained, the baseline too
      assert.strictEqual(yield* Ref.get(calls), referenceCompetition.researchers.length + 1)
    }).pipe(Effect.provide(TestKey)))

  it.effect("a failing baseline fails the competition at once: no researcher trains after it (concurrency 1)", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const baselineIslands = referenceCompetition.baseline.recipe.islands
      assert.isFalse(referenceCompetition.researchers.some((r) => r.recipe.islands === baselineIslands))
      const error = yield* Effect.flip(
        runOneShot(referenceCompetition).pipe(
          Effect.provide(Layer.merge(recordingCluster(calls, baselineIslands), SimHeldOut.layer))
        )
      )
      assert.strictEqual(error._tag, "ClusterFailed")
      assert.include(error.message, "out of memory")
      // only the baseline was trained
      assert.strictEqual(yield* Ref.get(calls), 1)
    }).pipe(Effect.provide(TestKey)))

  it.effect("no researchers, or two with one name, are CompetitionInvalid before any training", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const layer = Layer.merge(recordingCluster(calls), SimHeldOut.layer)
      const empty = yield* runOneShot({ ...referenceCompetition, researchers: [] }).pipe(Effect.provide(layer), Effect.flip)
      assert.strictEqual(empty._tag, "CompetitionInvalid")
      const [first, second] = referenceCompetition.researchers
      const twins = yield* runOneShot({
        ...referenceCompetition,
        researchers: [first!, { ...second!, name: first!.name }]
      }).pipe(Effect.provide(layer), Effect.flip)
      assert.strictEqual(twins._tag, "CompetitionInvalid")
      assert.include(twins.message, first!.name)
      assert.strictEqual(yield* Ref.get(calls), 0)
    }).pipe(Effect.provide(TestKey)))

  it.effect("a bad reward or incoherent knobs fail before any training", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const layer = Layer.merge(recordingCluster(calls), SimHeldOut.layer)
      const overWeight = yield* runOneShot({
        ...referenceCompetition,
        reward: { kind: "snapshot-top-k", weightsBps: [9000, 2000] }
      }).pipe(Effect.provide(layer), Effect.flip)
      assert.strictEqual(overWeight._tag, "RewardInvalid")
      const continuous = yield* runOneShot({
        ...referenceCompetition,
        reward: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1n }
      }).pipe(Effect.provide(layer), Effect.flip)
      assert.strictEqual(continuous._tag, "UnsupportedReward")
      const incoherent = yield* runOneShot({
        ...referenceCompetition,
        knobs: { structure: "collaborative", cadence: "continuous" }
      }).pipe(Effect.provide(layer), Effect.flip)
      assert.strictEqual(incoherent._tag, "KnobsIncoherent")
      assert.strictEqual(yield* Ref.get(calls), 0)
    }).pipe(Effect.provide(TestKey)))

  it.effect("a cluster that returns a different recipe than it was asked to train is caught", () =>
    Effect.gen(function*() {
      const lying = Layer.succeed(
        TrainingCluster,
        TrainingCluster.of({
          id: "liar",
          isolation: "shared",
          attestation: Option.none(),
          train: (recipe, seed) => Effect.succeed(signed(LocalSim.trainUnchecked({ ...recipe, islands: 64 }, seed)))
        })
      )
      const error = yield* runOneShot(referenceCompetition).pipe(
        Effect.provide(Layer.merge(lying, SimHeldOut.layer)),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ArtifactInvalid")
    }).pipe(Effect.provide(TestKey)))

  it.effect("the referee, not the cluster's claim, decides: a scorer double reverses the ranking", () =>
    Effect.gen(function*() {
      // A referee that scores by islands only: fewer islands is better.
      const referee = Layer.succeed(
        Scorer,
        Scorer.of({
          id: "double",
          shards: 16,
          measure: (artifact) => {
            const value = -artifact.recipe.islands
            return Effect.succeed({ value, ciLower: value - 0.001, ciUpper: value + 0.001, n: 16, cost: 16 })
          }
        })
      )
      const outcome = yield* runOneShot({
        ...referenceCompetition,
        baseline: { ...referenceCompetition.baseline, recipe: { ...referenceCompetition.baseline.recipe, islands: 10 } },
        reward: { kind: "terminal-prize" }
      }).pipe(Effect.provide(Layer.merge(LocalSim.layer, referee)))
      // islands 4 (three researchers tie on delta 6 and ciLower) rank by name; islands 8 is last
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), [
        "bad-lr",
        "comm-efficient",
        "over-compress",
        "too-large-H",
        "scale-islands"
      ])
      assert.deepStrictEqual(outcome.payouts.map((p) => [p.researcher, p.wei]), [["bad-lr", 1_000_000n]])
    }).pipe(Effect.provide(TestKey)))

  it.effect("concurrent training gives the same outcome as sequential", () =>
    Effect.gen(function*() {
      const layer = Layer.merge(LocalSim.layer, SimHeldOut.layer)
      const sequential = yield* runOneShot(referenceCompetition).pipe(Effect.provide(layer))
      const concurrent = yield* runOneShot({ ...referenceCompetition, concurrency: 5 }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(concurrent.payouts, sequential.payouts)
      assert.deepStrictEqual(concurrent.ranked, sequential.ranked)
    }).pipe(Effect.provide(TestKey)))
})
