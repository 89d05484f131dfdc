/**
 * Draining the live market (SPEC §16 SIGTERM): running jobs get the grace period and
 * no more, also when the drain runs where nothing can be interrupted (a finalizer,
 * which is where a service stopping on a signal drains). Found by the service's drain
 * test: a drain raced with a timeout waited for the job whatever the grace.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Ref, TestClock } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as Continuous from "../src/market/ContinuousMarket.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import * as Store from "../src/store/MarketStore.js"
import { signed, TestKey } from "./support/keys.js"
import { baseConfig, r, simCluster } from "./support/service.js"

describe("drain (SPEC §16)", () => {
  it.scoped("a job that outlives the grace period does not hold the drain, even uninterruptibly", () =>
    Effect.gen(function*() {
      const training = yield* Deferred.make<void>()
      const finished = yield* Ref.make(false)
      // the baseline (seed 0) trains at once; a submission trains until the test ends
      const hanging = simCluster((recipe, seed) =>
        seed === 0n && recipe.islands === 1
          ? Effect.succeed(signed(LocalSim.trainUnchecked(recipe, seed)))
          : Deferred.succeed(training, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.as(signed(LocalSim.trainUnchecked(recipe, seed)))
          )
      )
      const market = yield* Continuous.make(baseConfig).pipe(
        Effect.provide(Layer.mergeAll(hanging, SimHeldOut.layer, Store.layerMemory).pipe(Layer.provideMerge(TestKey)))
      )
      yield* market.accept("alice", r(8, 32, 0.2))
      yield* Deferred.await(training)
      const drained = yield* Effect.fork(
        Effect.uninterruptible(market.drain(Duration.seconds(10))).pipe(Effect.zipRight(Ref.set(finished, true)))
      )
      yield* TestClock.adjust(Duration.seconds(5))
      assert.isFalse(yield* Ref.get(finished), "the drain waits while the grace period runs")
      yield* TestClock.adjust(Duration.seconds(6))
      yield* Fiber.join(drained)
      assert.isTrue(yield* Ref.get(finished))
      // the job was neither settled nor failed: a restarted market trains it again
      assert.deepStrictEqual((yield* market.list(Continuous.operator)).map((s) => s.status), ["training"])
    }))
})
