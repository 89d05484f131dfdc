/**
 * Attacks on the money paths (SPEC §15.1). Each test plays the exploit first — what the
 * researcher would gain if a referee believed the artifact — and then shows that every
 * referee refuses it with `ProvenanceInvalid` before measuring anything. Expected
 * receipts, checkpoint hashes and measurements come from independent computations
 * (node:crypto's HMAC-SHA256 and sha256, the SPEC §3/§4 model of test/support), never
 * from the code under test.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import * as Artifact from "../src/domain/Artifact.js"
import type { TrainedArtifact } from "../src/domain/Artifact.js"
import type { Recipe } from "../src/domain/Recipe.js"
import * as Receipt from "../src/integrity/Receipt.js"
import { runOneShot } from "../src/market/OneShot.js"
import { referenceCompetition } from "../src/market/Reference.js"
import * as CheckpointScorer from "../src/scorer/CheckpointScorer.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import * as Panel from "../src/scorer/Panel.js"
import { Scorer } from "../src/scorer/Scorer.js"
import { tempDir } from "./fixtures/standins.js"
import { smallCpuDiloco, writeModel } from "./support/checkpoints.js"
import { type CliResult, jsonOf, runCli, runInProcess } from "./support/cli.js"
import {
  checkpointDigest,
  NodeWithKey,
  sha256Hex,
  signed,
  signedCheckpoint,
  TestKey,
  testKey,
  trained,
  writeKeyFile
} from "./support/keys.js"
import { expectedReceipt, type Json, jsonForm, receiptOf, refOf } from "./support/receipts.js"
import { measureRef, trainLossRef } from "./support/referenceModel.js"
import { close, vectors } from "./support/vectors.js"

/** A key that is not the operator's (what a researcher could sign with). */
const otherKey = Uint8Array.from({ length: 32 }, (_, i) => 0xf0 ^ i)

const recipe: Recipe = { islands: 8, innerSteps: 32, innerLr: 3e-3, outerLr: 0.7, keepFraction: 1 }
const seed = 4242n

/** The loss an attacker writes into an artifact (the honest one is about 2.2). */
const BOASTED_LOSS = 0.1

/** The next double above a positive `x` (one ulp). */
const nextUp = (x: number): number => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  view.setBigUint64(0, view.getBigUint64(0) + 1n)
  return view.getFloat64(0)
}

/** Run `effect`, expect `ProvenanceInvalid`, return its message. */
const refused = <A, E extends { readonly _tag: string; readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    assert.strictEqual(error._tag, "ProvenanceInvalid", error.message)
    return error.message
  })

/** The simulated cluster and referee of this market, under `TestKey`. */
const simulated = Layer.merge(LocalSim.layer, SimHeldOut.layer).pipe(Layer.provide(TestKey))

describe("the simulated referee (SPEC §15.1)", () => {
  it.effect("(a) a trained artifact whose trainLoss was edited (ref still valid) is ProvenanceInvalid; the honest one scores as measure says", () =>
    Effect.gen(function*() {
      const cluster = yield* TrainingCluster
      const scorer = yield* Scorer
      const honest = yield* cluster.train(recipe, seed)
      assert.isTrue(close(honest.trainLoss, trainLossRef(recipe, seed)))
      assert.strictEqual(honest.receipt, receiptOf(testKey, honest))

      // the exploit: the JSON the cluster printed, its loss lowered; the ref covers recipe and seed, so it still checks
      const editedJson = { ...jsonForm(honest), trainLoss: BOASTED_LOSS, ref: refOf(recipe, seed) }
      const edited = yield* Artifact.decodeJson(editedJson, "edited")
      const honestFigure = measureRef(recipe, seed, trainLossRef(recipe, seed), "held-out", 16)
      const believed = measureRef(recipe, seed, BOASTED_LOSS, "held-out", 16)
      assert.isAbove(believed.value - honestFigure.value, 2, "what the edit would be paid for")
      assert.include(yield* refused(scorer.measure(edited, "held-out")), "does not match")
      assert.include(yield* refused(scorer.measure(edited, "dev")), "does not match")

      // the honest artifact: exactly the pure measurement, which is the independent model's
      const measured = yield* scorer.measure(honest, "held-out")
      assert.deepStrictEqual(measured, SimHeldOut.measure(honest, "held-out", SimHeldOut.DEFAULT_SHARDS))
      for (const key of ["value", "ciLower", "ciUpper"] as const) assert.isTrue(close(measured[key], honestFigure[key]), key)
      assert.strictEqual(measured.n, 16)
    }).pipe(Effect.provide(simulated)))

  it.effect("(b) an artifact without a receipt, with a receipt under another key, or a malformed receipt is ProvenanceInvalid", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer
      const honest = LocalSim.trainUnchecked(recipe, seed)
      // control: a receipt computed independently (node:crypto) under the operator's key is accepted
      const countersigned = { ...honest, receipt: receiptOf(testKey, honest) }
      assert.strictEqual(countersigned.receipt, signed(honest).receipt)
      const honestMeasured = yield* scorer.measure(countersigned, "held-out")
      assert.isTrue(close(honestMeasured.value, measureRef(recipe, seed, honest.trainLoss, "held-out", 16).value))

      // the exploit: a researcher writes the artifact by hand, with a loss of their choosing
      const forged: TrainedArtifact = { ...honest, trainLoss: BOASTED_LOSS }
      assert.isAbove(SimHeldOut.measure(forged, "held-out", 16).value, honestMeasured.value + 2)
      assert.include(yield* refused(scorer.measure(forged, "held-out")), "no receipt")
      // even an honest-looking artifact the market's clusters did not make is not measured
      assert.include(yield* refused(scorer.measure(honest, "held-out")), "no receipt")
      // signed, but under the researcher's own key
      const selfSigned = { ...forged, receipt: receiptOf(otherKey, forged) }
      assert.match(selfSigned.receipt, /^hmac-sha256:[0-9a-f]{64}$/)
      assert.include(yield* refused(scorer.measure(selfSigned, "held-out")), "does not match")
      // malformed receipts (of the right artifact, under the right key, but not the SPEC's form)
      const digest = receiptOf(testKey, honest).slice("hmac-sha256:".length)
      const malformed = [
        "",
        digest,
        `sha256:${digest}`,
        `hmac-sha256:${digest.toUpperCase()}`,
        `hmac-sha256:${digest.slice(1)}`,
        `hmac-sha256:${digest}0`,
        ` hmac-sha256:${digest}`,
        `hmac-sha256:${"z".repeat(64)}`
      ]
      for (const receipt of malformed) {
        assert.include(yield* refused(scorer.measure({ ...honest, receipt }, "held-out")), "not of the form", receipt)
      }
    }).pipe(Effect.provide(simulated)))

  it.effect("(c) a cluster double signing with the operator's key but a wrong local-sim loss is refused by the recomputation", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer
      const honest = LocalSim.trainUnchecked(recipe, seed)
      for (const trainLoss of [BOASTED_LOSS, honest.trainLoss - 0.01, nextUp(honest.trainLoss)]) {
        const lying = signed({ ...honest, trainLoss })
        assert.strictEqual(lying.receipt, receiptOf(testKey, lying))
        assert.include(yield* refused(scorer.measure(lying, "held-out")), "local-sim training loss")
      }
    }).pipe(Effect.provide(simulated)))

  it.effect("(c) in a one-shot competition the lying cluster's researcher is listed as failed; the honest ones are paid as the reference says", () =>
    Effect.gen(function*() {
      const cheater = referenceCompetition.researchers.find((r) => r.name === "bad-lr")
      if (cheater === undefined) return assert.fail("bad-lr is in the reference competition")
      const cheats = (r: Recipe, s: bigint) => s === cheater.seed && JSON.stringify(r) === JSON.stringify(cheater.recipe)
      // a double with the operator's key that trains like the simulator but claims a far lower loss for bad-lr
      const double = Layer.succeed(
        TrainingCluster,
        TrainingCluster.of({
          id: LocalSim.clusterId,
          isolation: "shared",
          attestation: Option.none(),
          train: (r, s) => {
            const artifact = LocalSim.trainUnchecked(r, s)
            return Effect.succeed(signed(cheats(r, s) ? { ...artifact, trainLoss: artifact.trainLoss - 1 } : artifact))
          }
        })
      )
      // believed, bad-lr's lift would beat every other researcher's
      const baseline = LocalSim.trainUnchecked(referenceCompetition.baseline.recipe, referenceCompetition.baseline.seed)
      const claimed = LocalSim.trainUnchecked(cheater.recipe, cheater.seed)
      const believedLift = SimHeldOut.measure({ ...claimed, trainLoss: claimed.trainLoss - 1 }, "held-out", 16).value -
        SimHeldOut.measure(baseline, "held-out", 16).value
      assert.isAbove(believedLift, Math.max(...vectors.oneShot.candidates.map((c) => c.lift.delta)))

      const outcome = yield* runOneShot(referenceCompetition).pipe(
        Effect.provide(Layer.merge(double, SimHeldOut.layer.pipe(Layer.provide(TestKey))))
      )
      const failed = outcome.candidates.find((c) => c.researcher === "bad-lr")
      assert.strictEqual(failed?._tag, "Failed")
      if (failed?._tag === "Failed") assert.strictEqual(failed.failure._tag, "ProvenanceInvalid")
      assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), vectors.oneShot.ranked)
      assert.deepStrictEqual(
        outcome.payouts.map((p) => ({ researcher: p.researcher, wei: p.wei.toString() })),
        vectors.oneShot.payouts
      )
      assert.isFalse(outcome.winners.includes("bad-lr"))
      assert.isTrue(trained(outcome.candidates.find((c) => c.researcher === "comm-efficient")).clears)
    }))
})

describe("the re-score panel (SPEC §9, §15.1)", () => {
  it.effect("(e) the panel refuses an unsigned or edited artifact that would otherwise carry an inflated claim", () =>
    Effect.gen(function*() {
      const honest = yield* Effect.flatMap(TrainingCluster, (cluster) => cluster.train(recipe, seed))
      const panel = yield* Panel.majority(5, 13)
      const honestClaim = measureRef(recipe, seed, trainLossRef(recipe, seed), "held-out", 16).value
      const control = yield* Panel.judge(panel, honest, honestClaim)
      assert.isTrue(control.accepted)

      // the exploit: lower the loss, then claim the value that loss would measure
      const edited: TrainedArtifact = { ...honest, trainLoss: BOASTED_LOSS }
      const inflatedClaim = measureRef(recipe, seed, BOASTED_LOSS, "held-out", 16).value
      // every referee that measured the edited artifact as it stands would accept the inflated claim
      for (const shards of [13, 14, 15, 16, 17]) {
        const m = SimHeldOut.measure(edited, "held-out", shards)
        assert.isTrue(m.ciLower <= inflatedClaim && inflatedClaim <= m.ciUpper, `${shards} shards`)
      }
      assert.include(yield* refused(Panel.judge(panel, edited, inflatedClaim)), "does not match")
      assert.include(yield* refused(Panel.agree(panel, edited)), "does not match")
      const { receipt: _receipt, ...unsigned } = edited
      assert.include(yield* refused(Panel.judge(panel, unsigned, inflatedClaim)), "no receipt")
      // signed under the right key by a cluster that lied about a local-sim loss
      assert.include(yield* refused(Panel.judge(panel, signed(edited), inflatedClaim)), "local-sim training loss")
    }).pipe(Effect.provide(simulated), Effect.provide(TestKey)))
})

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("the checkpoint referee (SPEC §15.1)", (it) => {
  it.effect("(d) checkpoint bytes changed after signing, or the checkpoint path swapped to better weights, are ProvenanceInvalid and nothing is measured", () =>
    Effect.gen(function*() {
      const dir = tempDir("integrity-ckpt")
      const scorer = yield* Effect.provide(Scorer, CheckpointScorer.layerWith({ shards: 8, tokensPerShard: 256 }))
      // better weights: a real run of the market's cpu-diloco cluster (hashed and signed by it)
      const better = yield* Effect.flatMap(TrainingCluster, (cluster) =>
        cluster.train({ islands: 2, innerSteps: 8, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, 5n)).pipe(
          Effect.provide(CpuDiloco.layerWith(smallCpuDiloco(path.join(dir, "runs"))))
        )
      const betterCheckpoint = better.checkpoint ?? assert.fail("a cpu-diloco artifact names its checkpoint")
      assert.strictEqual(better.checkpointSha256, checkpointDigest(betterCheckpoint))
      assert.strictEqual(better.receipt, receiptOf(testKey, better))
      // worse weights: an all-zero model, as a cluster of this market would have returned it
      const zeroFile = writeModel(path.join(dir, "zero.safetensors"))
      const worse = signedCheckpoint({
        recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 },
        trainSeed: 1n,
        trainLoss: 2.08,
        clusterId: CpuDiloco.clusterId,
        checkpoint: zeroFile
      })
      const worseMeasured = yield* scorer.measure(worse, "held-out")
      assert.closeTo(worseMeasured.value, -Math.log(8), 1e-12)
      const betterMeasured = yield* scorer.measure(better, "held-out")
      assert.isAbove(betterMeasured.ciLower, worseMeasured.ciUpper, "what swapping the weights would be paid for")

      // exploit 1: replace the signed checkpoint's bytes with the better weights
      const original = fs.readFileSync(zeroFile)
      fs.copyFileSync(betterCheckpoint, zeroFile)
      const changed = yield* refused(scorer.measure(worse, "held-out"))
      assert.include(changed, "changed after training")
      assert.include(changed, sha256Hex(fs.readFileSync(betterCheckpoint)))
      // bytes no evaluator could read: still ProvenanceInvalid (not CheckpointMalformed), so nothing was read first
      fs.writeFileSync(zeroFile, "not a checkpoint at all")
      assert.include(yield* refused(scorer.measure(worse, "dev")), "changed after training")
      // the original bytes back: measured as before
      fs.writeFileSync(zeroFile, original)
      assert.deepStrictEqual(yield* scorer.measure(worse, "held-out"), worseMeasured)

      // exploit 2: keep the signed artifact (its recipe, its receipt) but point it at the better weights
      const swapped = { ...worse, checkpoint: betterCheckpoint, checkpointSha256: checkpointDigest(betterCheckpoint) }
      assert.include(yield* refused(scorer.measure(swapped, "held-out")), "does not match")
      const swappedPathOnly = { ...worse, checkpoint: betterCheckpoint }
      yield* refused(scorer.measure(swappedPathOnly, "held-out"))
      // a checkpoint without its hash (a cluster that did not hash it) is not measured either
      const { checkpointSha256: _hash, ...unhashed } = worse
      assert.include(yield* refused(scorer.measure(signed(unhashed), "held-out")), "no checkpointSha256")
    }))

  it.effect("(d) a directory checkpoint: a file added, changed or renamed after signing is ProvenanceInvalid", () =>
    Effect.gen(function*() {
      const dir = path.join(tempDir("integrity-dir"), "step_8")
      fs.mkdirSync(path.join(dir, "shards"), { recursive: true })
      fs.writeFileSync(path.join(dir, "config.json"), "{\"step\":8}")
      fs.writeFileSync(path.join(dir, "shards", "rank0.bin"), Uint8Array.from([1, 2, 3, 4]))
      const artifact = signedCheckpoint({
        recipe,
        trainSeed: seed,
        trainLoss: 2.5,
        clusterId: "prime",
        checkpoint: dir
      })
      // SPEC §15.1's manifest, written out by hand
      const manifest = `config.json ${sha256Hex("{\"step\":8}")}\nshards/rank0.bin ${sha256Hex(Uint8Array.from([1, 2, 3, 4]))}\n`
      assert.strictEqual(artifact.checkpointSha256, sha256Hex(manifest))
      yield* Receipt.check(testKey, artifact)
      const scorer = yield* Effect.provide(Scorer, CheckpointScorer.layerWith({ shards: 2, tokensPerShard: 16 }))

      fs.writeFileSync(path.join(dir, "shards", "rank1.bin"), Uint8Array.from([9]))
      assert.include(yield* refused(scorer.measure(artifact, "held-out")), "changed after training")
      fs.rmSync(path.join(dir, "shards", "rank1.bin"))
      yield* Receipt.check(testKey, artifact)

      fs.writeFileSync(path.join(dir, "shards", "rank0.bin"), Uint8Array.from([1, 2, 3, 5]))
      assert.include(yield* refused(scorer.measure(artifact, "held-out")), "changed after training")
      fs.writeFileSync(path.join(dir, "shards", "rank0.bin"), Uint8Array.from([1, 2, 3, 4]))

      fs.renameSync(path.join(dir, "config.json"), path.join(dir, "config.old"))
      assert.include(yield* refused(Receipt.check(testKey, artifact)), "changed after training")
    }))
})

/** The `{"error":{"_tag"}}` of a failed `--json` command. */
const errorTag = (result: CliResult): string => {
  assert.notStrictEqual(result.code, 0, result.stdout)
  return (jsonOf(result) as { error: { _tag: string } }).error._tag
}

/** A successful command's JSON document. */
const document = (result: CliResult): { readonly [key: string]: Json } => {
  assert.strictEqual(result.code, 0, result.stderr)
  return jsonOf(result) as { readonly [key: string]: Json }
}

const recipeArg = JSON.stringify(recipe)

describe("(f) the same exploits through the CLI (in-process)", () => {
  it("train --json, edit the loss, score --artifact: ProvenanceInvalid; the unedited artifact scores as the model says", async () => {
    const keyFile = writeKeyFile(tempDir("integrity-cli"))
    const printed = document(
      await runInProcess(["train", "--recipe", recipeArg, "--seed", String(seed), "--key-file", keyFile, "--json"])
    )
    assert.strictEqual(printed["receipt"], expectedReceipt(testKey, printed))
    const score = (artifact: { readonly [key: string]: Json }, key = keyFile) =>
      runInProcess(["score", "--artifact", JSON.stringify(artifact), "--key-file", key, "--json"])

    const honest = document(await score(printed))
    const expected = measureRef(recipe, seed, trainLossRef(recipe, seed), "held-out", 16)
    assert.isTrue(close(Number(honest["value"]), expected.value))
    assert.isTrue(close(Number(honest["ciLower"]), expected.ciLower))
    assert.strictEqual(honest["n"], 16)

    // the exploit: the printed artifact with a lower loss (its ref is over recipe and seed: still valid)
    const edited = { ...printed, trainLoss: BOASTED_LOSS, ref: refOf(recipe, seed) }
    assert.isAbove(measureRef(recipe, seed, BOASTED_LOSS, "held-out", 16).value, expected.value + 2)
    assert.strictEqual(errorTag(await score(edited)), "ProvenanceInvalid")
    const { receipt: _receipt, ...unsigned } = printed
    assert.strictEqual(errorTag(await score(unsigned)), "ProvenanceInvalid")
    // re-signed by the researcher under their own key
    const otherKeyFile = writeKeyFile(tempDir("integrity-cli-other"), otherKey)
    assert.strictEqual(errorTag(await score({ ...edited, receipt: expectedReceipt(otherKey, edited) })), "ProvenanceInvalid")
    // the panel refuses the edited artifact too
    const judged = await runInProcess([
      "panel",
      "judge",
      "--artifact",
      JSON.stringify(edited),
      "--claim",
      String(measureRef(recipe, seed, BOASTED_LOSS, "held-out", 16).value),
      "--majority",
      "5",
      "--base-shards",
      "13",
      "--key-file",
      keyFile,
      "--json"
    ])
    assert.strictEqual(errorTag(judged), "ProvenanceInvalid")
    // and the honest artifact scored under another operator's key is not this market's
    assert.strictEqual(errorTag(await score(printed, otherKeyFile)), "ProvenanceInvalid")
  })

  it("score with another --key-file than the one that trained: ProvenanceInvalid", async () => {
    const dir = tempDir("integrity-cli-keys")
    const trainedUnder = writeKeyFile(dir, testKey, "a.key")
    const scoredUnder = writeKeyFile(dir, otherKey, "b.key")
    const printed = document(
      await runInProcess(["train", "--recipe", recipeArg, "--seed", "7", "--key-file", trainedUnder, "--json"])
    )
    const score = (key: string) => runInProcess(["score", "--artifact", JSON.stringify(printed), "--key-file", key, "--json"])
    assert.strictEqual(errorTag(await score(scoredUnder)), "ProvenanceInvalid")
    assert.strictEqual(document(await score(trainedUnder))["n"], 16)
  })

  it("without --key-file the key is created under $XDG_DATA_HOME (mode 0600) and reused; TRAINMARKET_KEY_FILE overrides it", async () => {
    const data = process.env.XDG_DATA_HOME ?? assert.fail("test/support/isolate.ts sets XDG_DATA_HOME")
    const keyPath = path.join(data, "trainmarket", "secret")
    const printed = document(await runInProcess(["train", "--recipe", recipeArg, "--seed", "9", "--json"]))
    assert.isTrue(fs.existsSync(keyPath))
    assert.strictEqual(fs.statSync(keyPath).mode & 0o777, 0o600)
    const key = Uint8Array.from(fs.readFileSync(keyPath))
    assert.strictEqual(key.length, 32)
    assert.strictEqual(printed["receipt"], expectedReceipt(key, printed))
    const again = document(await runInProcess(["score", "--artifact", JSON.stringify(printed), "--json"]))
    assert.strictEqual(again["n"], 16)

    const envKey = writeKeyFile(tempDir("integrity-env"), otherKey)
    process.env.TRAINMARKET_KEY_FILE = envKey
    try {
      const underEnv = await runInProcess(["score", "--artifact", JSON.stringify(printed), "--json"])
      assert.strictEqual(errorTag(underEnv), "ProvenanceInvalid")
      const signedUnderEnv = document(await runInProcess(["train", "--recipe", recipeArg, "--seed", "9", "--json"]))
      assert.strictEqual(signedUnderEnv["receipt"], expectedReceipt(otherKey, signedUnderEnv))
    } finally {
      delete process.env.TRAINMARKET_KEY_FILE
    }
    assert.deepStrictEqual(Uint8Array.from(fs.readFileSync(keyPath)), key, "the default key is left as it was")
  })

  it("two processes share the default key: the first creates it, the second scores with it and refuses an edit", async () => {
    const printed = document(await runCli(["train", "--recipe", recipeArg, "--seed", "11", "--json"]))
    const scored = document(await runCli(["score", "--artifact", JSON.stringify(printed), "--json"]))
    assert.isTrue(close(Number(scored["value"]), measureRef(recipe, 11n, trainLossRef(recipe, 11n), "held-out", 16).value))
    const edited = { ...printed, trainLoss: BOASTED_LOSS }
    assert.strictEqual(errorTag(await runCli(["score", "--artifact", JSON.stringify(edited), "--json"])), "ProvenanceInvalid")
  })
})

describe("(g) receipts, as a property", () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
  const artifacts: fc.Arbitrary<TrainedArtifact> = fc.record(
    {
      recipe: fc.record({
        islands: fc.integer({ min: 1, max: 4294967295 }),
        innerSteps: fc.integer({ min: 1, max: 4294967295 }),
        innerLr: fc.double({ min: 1e-9, max: 10, noNaN: true }),
        outerLr: fc.double({ min: 1e-9, max: 10, noNaN: true }),
        keepFraction: fc.double({ min: 1e-9, max: 1, noNaN: true })
      }),
      trainSeed: u64,
      trainLoss: fc.double({ min: 1e-6, max: 100, noNaN: true }),
      clusterId: fc.string({ minLength: 1, maxLength: 24 }),
      checkpoint: fc.string({ minLength: 1, maxLength: 24 })
    },
    { requiredKeys: ["recipe", "trainSeed", "trainLoss", "clusterId"] }
  )

  const withoutCheckpoint = ({ checkpoint: _checkpoint, ...rest }: TrainedArtifact): TrainedArtifact => rest

  /** Every single-field change an attacker could make to a signed artifact (its receipt kept). */
  const flips = (a: TrainedArtifact): ReadonlyArray<readonly [string, TrainedArtifact]> => [
    ["islands", { ...a, recipe: { ...a.recipe, islands: a.recipe.islands === 1 ? 2 : a.recipe.islands - 1 } }],
    ["innerSteps", { ...a, recipe: { ...a.recipe, innerSteps: a.recipe.innerSteps === 1 ? 2 : a.recipe.innerSteps - 1 } }],
    ["innerLr", { ...a, recipe: { ...a.recipe, innerLr: nextUp(a.recipe.innerLr) } }],
    ["outerLr", { ...a, recipe: { ...a.recipe, outerLr: a.recipe.outerLr * 2 } }],
    ["keepFraction", { ...a, recipe: { ...a.recipe, keepFraction: a.recipe.keepFraction / 2 } }],
    ["trainSeed", { ...a, trainSeed: a.trainSeed ^ 1n }],
    ["trainLoss", { ...a, trainLoss: nextUp(a.trainLoss) }],
    ["clusterId", { ...a, clusterId: `${a.clusterId}x` }],
    ["checkpoint", a.checkpoint === undefined ? { ...a, checkpoint: "/elsewhere" } : withoutCheckpoint(a)]
  ]

  it("signing then verifying succeeds, and flipping any single field (recipe knob, seed, loss, clusterId, checkpoint) fails", () => {
    fc.assert(
      fc.property(artifacts, (artifact) => {
        const receipted = Receipt.sign(testKey, artifact)
        // the receipt is the independent HMAC-SHA256 of the canonical JSON
        assert.strictEqual(receipted.receipt, receiptOf(testKey, artifact))
        assert.isTrue(Either.isRight(Effect.runSync(Effect.either(Receipt.verify(testKey, receipted)))))
        assert.isTrue(Either.isLeft(Effect.runSync(Effect.either(Receipt.verify(otherKey, receipted)))))
        for (const [field, flipped] of flips(receipted)) {
          assert.notStrictEqual(receiptOf(testKey, flipped), receipted.receipt, field)
          const verdict = Effect.runSync(Effect.either(Receipt.verify(testKey, flipped)))
          assert.isTrue(Either.isLeft(verdict) && verdict.left._tag === "ProvenanceInvalid", field)
        }
        return true
      }),
      { numRuns: 300 }
    )
  })
})
