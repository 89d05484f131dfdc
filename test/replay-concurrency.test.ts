/**
 * The replay on a cluster that is not the simulator's fast path trains up to
 * `concurrency` submissions at once, each with the seed of its own place in the
 * sequence, and settles them strictly in order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Stream, TestClock } from "effect"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { defaultGate, type Measurement } from "../src/domain/Measurement.js"
import * as Replay from "../src/market/Replay.js"
import * as HeldOut from "../src/scorer/HeldOutScorer.js"

const recipe = (islands: number) => ({ islands, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 })
const config: Replay.ReplayConfig = {
  gate: defaultGate,
  schedule: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1n },
  baseline: { recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: 0n }
}
const submissions = [2, 8, 4, 16, 4, 2].map((islands, i) => ({ researcher: `r${i}`, recipe: recipe(islands) }))

describe("replay concurrency", () => {
  it.effect("up to `concurrency` submissions train at once, each with its own seed, settled in order", () =>
    Effect.gen(function*() {
      let inFlight = 0
      let most = 0
      const seeds: Array<bigint> = []
      // each evaluation takes a second of (test) time and measures what the simulator would
      const evaluator: Replay.Evaluator<never, never> = {
        evaluate: (r, seed) =>
          Effect.gen(function*() {
            inFlight += 1
            most = Math.max(most, inFlight)
            seeds.push(seed)
            yield* Effect.sleep(Duration.seconds(1))
            inFlight -= 1
            return HeldOut.measure(LocalSim.trainUnchecked(r, seed), "held-out", 16) satisfies Measurement
          })
      }
      const run = (concurrency: number) =>
        Effect.flatMap(Replay.prepare(config, evaluator), (settler) =>
          Stream.runCollect(Replay.stream(settler, Stream.fromIterable(submissions), evaluator, { concurrency })))
      const fiber = yield* Effect.fork(run(3))
      yield* TestClock.adjust(Duration.seconds(10))
      const concurrent = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(most, 3)
      // the baseline (seed 0) first, then submission i with seed i, whatever order they finished in
      assert.deepStrictEqual([...seeds].sort((a, b) => Number(a - b)), [0n, 0n, 1n, 2n, 3n, 4n, 5n])
      assert.deepStrictEqual(concurrent.map((r) => [r.index, r.researcher]), submissions.map((s, i) => [i, s.researcher]))

      const fast = Replay.simEvaluator(16)
      const reference = yield* Effect.flatMap(Replay.prepare(config, fast), (settler) =>
        Stream.runCollect(Replay.stream(settler, Stream.fromIterable(submissions), fast)))
      assert.deepStrictEqual(concurrent, Chunk.toReadonlyArray(reference))
    }))
})
