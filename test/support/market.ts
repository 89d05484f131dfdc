/**
 * What the journal store tests share (SQLite, PostgreSQL): the rules and submissions of
 * a small live market on the simulator, simulators that let a test watch or hold a
 * training run, opening a market on a given store, and what every store must do: a
 * market reopened on it finds everything.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import * as LocalSim from "../../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../../src/cluster/TrainingCluster.js"
import type { TrainedArtifact } from "../../src/domain/Artifact.js"
import type { StoreFailed } from "../../src/domain/Errors.js"
import { defaultGate } from "../../src/domain/Measurement.js"
import { baseline as baselineRecipe, type Recipe } from "../../src/domain/Recipe.js"
import * as Continuous from "../../src/market/ContinuousMarket.js"
import * as Replay from "../../src/market/Replay.js"
import * as SimHeldOut from "../../src/scorer/HeldOutScorer.js"
import type { MarketStore } from "../../src/store/MarketStore.js"
import { signed, TestKey } from "./keys.js"

/** A recipe by its main knobs (the reference learning rates unless `innerLr` is given). */
export const r = (islands: number, innerSteps: number, keepFraction: number, innerLr = 0.003): Recipe => ({
  islands,
  innerSteps,
  innerLr,
  outerLr: 0.7,
  keepFraction
})

/** A record-bounty market on the simulator's baseline. */
export const config: Continuous.MarketConfig = {
  gate: defaultGate,
  schedule: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1_000_000_000n },
  baseline: { recipe: baselineRecipe, seed: 0n }
}

/** Five submissions by two researchers, some of them records. */
export const submissions = [r(4, 32, 0.1), r(2, 32, 0.1), r(8, 32, 0.2), r(4, 4000, 0.1), r(16, 32, 0.2)]
  .map((recipe, i) => ({ researcher: `researcher-${i % 2}`, recipe }))

/** What `market replay` makes of `submissions` under `config`: what every store must pay. */
export const replayed = Effect.runSync(Replay.collect({ ...config, gate: defaultGate }, submissions, Replay.simEvaluator(16)))

/** The simulator under the test key. */
export const simulated: Layer.Layer<TrainingCluster> = LocalSim.layer.pipe(Layer.provide(TestKey))

/** The simulator under the test key, each training run going through `around` (to count it, slow it or hold it). */
export const simulatedAround = (
  around: (recipe: Recipe, train: Effect.Effect<TrainedArtifact>) => Effect.Effect<TrainedArtifact>
): Layer.Layer<TrainingCluster> =>
  Layer.succeed(
    TrainingCluster,
    TrainingCluster.of({
      id: LocalSim.clusterId,
      isolation: "shared",
      attestation: Option.none(),
      train: (recipe, seed) => around(recipe, Effect.sync(() => signed(LocalSim.trainUnchecked(recipe, seed))))
    })
  )

/** A store layer as the market's stores are: built on the Node platform, refusing with `StoreFailed`. */
export type StoreLayer = Layer.Layer<MarketStore, StoreFailed, NodeContext.NodeContext>

/** What a market needs, on `store`: `cluster`, the simulated referee and the test key. */
export const servicesOn = (store: StoreLayer, cluster: Layer.Layer<TrainingCluster> = simulated) =>
  Layer.mergeAll(cluster, SimHeldOut.layer, store).pipe(Layer.provideMerge(TestKey), Layer.provide(NodeContext.layer))

/** Open a market on `store` in the current scope (the store stays open as long as the market). */
export const openOn = (store: StoreLayer, rules: Continuous.MarketConfig = config) =>
  Effect.map(Layer.build(Layer.provide(Continuous.layer(rules), servicesOn(store))), (context) =>
    Context.get(context, Continuous.ContinuousMarket))

/** Submit (and wait for) every submission on a market opened on `store`, then close it; its snapshot. */
export const submitAll = (store: StoreLayer) =>
  Effect.scoped(
    Effect.gen(function*() {
      const market = yield* openOn(store)
      yield* Effect.forEach(submissions, (s) => market.submit(s.researcher, s.recipe))
      return yield* market.snapshot
    })
  )

/**
 * Submit everything on `store`, close, and reopen it in the current scope: the same
 * snapshot, the replay's payouts, an audit that agrees. Returns the journal's length.
 */
export const reopenFindsEverything = (store: StoreLayer) =>
  Effect.gen(function*() {
    const first = yield* submitAll(store)
    const reopened = yield* openOn(store)
    const snapshot = yield* reopened.snapshot
    assert.deepStrictEqual(snapshot, first)
    assert.deepStrictEqual(snapshot.payouts, replayed.summary.payouts)
    const audit = yield* reopened.audit
    assert.isTrue(audit.recomputeAgrees)
    // opened, baseline, then accepted, started, measured and settled per submission
    assert.strictEqual(audit.events, 2 + 4 * submissions.length)
    return audit.events
  })

/** A journaled settlement (its JSON payload) with the payout doubled: an edit by hand. */
export const doublePayout = (payload: string): string => {
  const event = JSON.parse(payload) as { paidWei: string }
  event.paidWei = (BigInt(event.paidWei) * 2n).toString()
  return JSON.stringify(event)
}

/** The journal rows a hand edit of a record's payout picks. */
export const RECORD_SETTLEMENT = "kind = 'settled' AND payload LIKE '%\"becameRecord\":true%'"
