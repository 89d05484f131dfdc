/**
 * A one-shot competition trained for real (cpu-diloco, the trainer executable) and
 * refereed on held-out shards of the trained weights (checkpoint scorer), with a data
 * seed and training seeds that appear nowhere in the repository's example: a good
 * DiLoCo recipe clears the default gate and is paid; the over-compressed recipe
 * (keepFraction 0.0005: one entry per tensor per sync) is gated out.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Schema } from "effect"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { CompetitionFile } from "../src/files/CompetitionFile.js"
import { forFile as layersOf } from "../src/Layers.js"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import { defaultGate } from "../src/domain/Measurement.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { runOneShot } from "../src/market/OneShot.js"
import * as CheckpointScorer from "../src/scorer/CheckpointScorer.js"
import { tempDir } from "./fixtures/standins.js"
import { NodeWithKey, testKey, trained } from "./support/keys.js"

const baseline: Recipe = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
const goodDiloco: Recipe = { islands: 4, innerSteps: 16, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
const overCompressed: Recipe = { islands: 4, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.0005 }

/** A data source the repository never uses: another seeded order-2 chain over 8 symbols. */
const data = { kind: "markov", order: 2, alphabet: 8, seed: "31337" } as const

describe("the example competition file", () => {
  it("decodes, trains with cpu-diloco, scores with the checkpoint scorer, and has an over-compressed recipe", () => {
    const file = fileURLToPath(new URL("../examples/real-cpu-competition.json", import.meta.url))
    const decoded = Schema.decodeUnknownEither(CompetitionFile, { onExcessProperty: "error" })(
      JSON.parse(fs.readFileSync(file, "utf8"))
    )
    assert.isTrue(Either.isRight(decoded))
    if (Either.isLeft(decoded)) return
    const competition = decoded.right
    assert.strictEqual(competition.cluster.kind, "cpu-diloco")
    assert.strictEqual(competition.scorer?.kind, "checkpoint")
    assert.isAtLeast(competition.researchers.length + 1, 4)
    assert.isTrue(competition.researchers.some((r) => r.recipe.keepFraction <= 0.001))
    assert.isTrue(competition.researchers.some((r) => r.recipe.islands > 1 && r.recipe.keepFraction === 1))
  })
})

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("a competition trained for real", (it) => {
  it.effect("a good DiLoCo recipe clears the default gate and is paid; the over-compressed one is gated", () =>
    Effect.gen(function*() {
      const dir = tempDir("real-competition")
      const cluster = CpuDiloco.layerWith({ data, checkpointDir: dir, deadlineSeconds: 60 })
      const scorer = CheckpointScorer.layerWith({ data, shards: 16, tokensPerShard: 1024, secret: testKey })
      const outcome = yield* runOneShot({
        id: 1,
        gate: defaultGate,
        reward: { kind: "terminal-prize" },
        poolWei: 1_000_000n,
        baseline: { recipe: baseline, seed: 500n },
        researchers: [
          { name: "good-diloco", seed: 501n, recipe: goodDiloco },
          { name: "over-compress", seed: 502n, recipe: overCompressed }
        ]
      }).pipe(Effect.provide(Layer.merge(cluster, scorer)))

      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), ["good-diloco"])
      const good = outcome.ranked[0]
      assert.isDefined(good)
      if (good !== undefined) {
        assert.isAtLeast(good.lift.ciLower, defaultGate.minLiftCiLower)
        assert.isAtLeast(good.lift.n, defaultGate.minN)
      }
      assert.deepStrictEqual(outcome.winners, ["good-diloco"])
      assert.deepStrictEqual(outcome.payouts, [{ researcher: "good-diloco", wei: 1_000_000n }])
      // the over-compressed recipe trained (its checkpoint is real) and was scored worse than the baseline
      const compressed = trained(outcome.candidates.find((c) => c.researcher === "over-compress"), "over-compress")
      assert.isBelow(compressed.lift.ciUpper, 0)
      assert.isTrue(fs.existsSync(compressed.artifact.checkpoint ?? ""))
    }))

  it.effect("a competition file's layers build the real cluster and the checkpoint scorer", () =>
    Effect.gen(function*() {
      const file = Schema.decodeUnknownSync(CompetitionFile)({
        id: 2,
        cluster: { kind: "cpu-diloco", budget: 8, hidden: 8 },
        evalShards: 12,
        scorer: { kind: "checkpoint", tokensPerShard: 16 },
        reward: { kind: "terminal-prize" },
        poolWei: "1",
        baseline: { recipe: baseline, seed: "0" },
        researchers: [{ name: "solo", seed: "1", recipe: baseline }]
      })
      const spec = {
        id: file.id,
        gate: file.gate,
        reward: file.reward,
        poolWei: file.poolWei,
        baseline: file.baseline,
        researchers: file.researchers
      }
      const outcome = yield* runOneShot(spec).pipe(Effect.provide(layersOf(file)))
      // the baseline was trained and scored on 12 shards (the file's evalShards) of 16 tokens
      assert.strictEqual(outcome.baseline.heldOut.n, 12)
      assert.strictEqual(outcome.baseline.heldOut.cost, 12 * 16)
      assert.isTrue(outcome.baseline.heldOut.value < 0 && outcome.baseline.heldOut.value > -Math.log(8) - 1)
      assert.strictEqual(trained(outcome.candidates[0], "solo").heldOut.n, 12)
      // a competition without researchers is refused before any training (SPEC §15.8)
      const empty = yield* Effect.flip(runOneShot({ ...spec, researchers: [] }).pipe(Effect.provide(layersOf(file))))
      assert.strictEqual(empty._tag, "CompetitionInvalid")
    }))
})
