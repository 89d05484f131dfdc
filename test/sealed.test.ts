import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import * as fc from "fast-check"
import * as Attestation from "../src/attestation/Attestation.js"
import * as Hierarchical from "../src/cluster/HierarchicalCluster.js"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as Sealed from "../src/cluster/SealedCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { TrainingTimeout } from "../src/domain/Errors.js"
import type { Recipe } from "../src/domain/Recipe.js"
import type { OperatorKey } from "../src/integrity/OperatorKey.js"
import { sha256Hex, signed, TestKey, testKey } from "./support/keys.js"
import { receiptOf } from "./support/receipts.js"
import { trainLossRef } from "./support/referenceModel.js"

const M64 = (1n << 64n) - 1n
const text = (bytes: Uint8Array | undefined): string => new TextDecoder().decode(bytes)

const recipes: fc.Arbitrary<Recipe> = fc.record({
  islands: fc.integer({ min: 1, max: 4096 }),
  innerSteps: fc.integer({ min: 1, max: 100000 }),
  innerLr: fc.double({ min: 1e-6, max: 1, noNaN: true }),
  outerLr: fc.double({ min: 1e-3, max: 2, noNaN: true }),
  keepFraction: fc.double({ min: 1e-4, max: 1, noNaN: true })
})

const serviceOf = <E>(layer: Layer.Layer<TrainingCluster, E, OperatorKey>) =>
  Effect.provide(TrainingCluster, layer).pipe(Effect.provide(TestKey))

/** A real-backend double: returns a checkpoint and ignored knobs (signed, as a cluster of this market). */
const realBackend = TrainingCluster.of({
  id: "prime(debugmodel)",
  isolation: "shared",
  attestation: Option.none(),
  train: (recipe, seed) =>
    Effect.succeed(signed({
      recipe,
      trainSeed: seed,
      trainLoss: 3.25,
      clusterId: "prime(debugmodel)",
      checkpoint: "/runs/7/step_32",
      checkpointSha256: sha256Hex("the checkpoint's bytes"),
      notApplied: ["keepFraction"]
    }))
})

describe("sealed cluster wrapper", () => {
  it.effect("reports sealed isolation and the stand-in report of SPEC §11", () =>
    Effect.gen(function*() {
      const sealed = yield* serviceOf(Sealed.layer(LocalSim.layer))
      assert.strictEqual(sealed.isolation, "sealed")
      assert.strictEqual(sealed.id, "sealed(local-sim)")
      const report = Option.getOrUndefined(sealed.attestation)
      assert.isDefined(report)
      assert.strictEqual(report?.teeType, "none")
      assert.strictEqual(text(report?.evidence), "tee-sim-cluster:local-sim")
      assert.strictEqual(text(report?.measurement), "local-stand-in:no-enclave")
      assert.isUndefined(report?.nonce)
    }))

  it.effect("a wrapper around a wrapper names the wrapped cluster in its evidence", () =>
    Effect.gen(function*() {
      const twice = yield* serviceOf(Sealed.layer(Sealed.layer(LocalSim.layer)))
      assert.strictEqual(twice.id, "sealed(sealed(local-sim))")
      assert.strictEqual(text(Option.getOrUndefined(twice.attestation)?.evidence), "tee-sim-cluster:sealed(local-sim)")
    }))

  it.effect("never changes training: loss, seed and recipe are the inner cluster's, for any recipe and seed", () =>
    Effect.gen(function*() {
      const inner = yield* serviceOf(LocalSim.layer)
      const sealed = yield* serviceOf(Sealed.layer(LocalSim.layer))
      for (const [recipe, seed] of fc.sample(fc.tuple(recipes, fc.bigInt({ min: 0n, max: M64 })), { numRuns: 300, seed: 3 })) {
        const plain = yield* inner.train(recipe, seed)
        const wrapped = yield* sealed.train(recipe, seed)
        assert.isTrue(Object.is(wrapped.trainLoss, plain.trainLoss))
        assert.isAtMost(Math.abs(wrapped.trainLoss - trainLossRef(recipe, seed)), 1e-12)
        // the artifact names the wrapper, so the wrapper signs it anew (SPEC §15.1): only those two fields differ
        assert.deepStrictEqual({ ...wrapped, clusterId: "", receipt: "" }, { ...plain, clusterId: "", receipt: "" })
        assert.strictEqual(wrapped.clusterId, "sealed(local-sim)")
        assert.strictEqual(wrapped.receipt, receiptOf(testKey, wrapped))
      }
    }))

  it.effect("keeps a real backend's checkpoint and ignored knobs", () =>
    Effect.gen(function*() {
      const sealed = yield* Sealed.make(realBackend)
      const recipe: Recipe = { islands: 2, innerSteps: 8, innerLr: 1e-3, outerLr: 0.7, keepFraction: 1 }
      const artifact = yield* sealed.train(recipe, 9n)
      assert.strictEqual(artifact.checkpoint, "/runs/7/step_32")
      assert.strictEqual(artifact.checkpointSha256, sha256Hex("the checkpoint's bytes"))
      assert.deepStrictEqual(artifact.notApplied, ["keepFraction"])
      assert.strictEqual(artifact.trainLoss, 3.25)
      assert.strictEqual(artifact.receipt, receiptOf(testKey, artifact))
      assert.strictEqual(text(Option.getOrUndefined(sealed.attestation)?.evidence), "tee-sim-cluster:prime(debugmodel)")
    }).pipe(Effect.provide(TestKey)))

  it.effect("passes the inner cluster's errors through unchanged", () =>
    Effect.gen(function*() {
      const timeout = new TrainingTimeout({ clusterId: "slow", deadlineMillis: 1000 })
      const sealed = yield* Sealed.make(TrainingCluster.of({ ...realBackend, train: () => Effect.fail(timeout) }))
      const recipe: Recipe = { islands: 1, innerSteps: 1, innerLr: 1e-3, outerLr: 0.7, keepFraction: 1 }
      const result = yield* Effect.either(sealed.train(recipe, 1n))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.strictEqual(result.left, timeout)
    }).pipe(Effect.provide(TestKey)))

  it.effect("its report is an interface claim: it fails verification against every real TEE type", () =>
    Effect.gen(function*() {
      const sealed = yield* serviceOf(Sealed.layer(LocalSim.layer))
      const report = Option.getOrUndefined(sealed.attestation)
      assert.isDefined(report)
      if (report === undefined) return
      for (const tee of ["phala-tdx", "aws-nitro", "gcp-confidential", "azure-snp"] as const) {
        assert.strictEqual(Attestation.verify(report, tee).verdict, "failed")
      }
      assert.strictEqual(Attestation.verify(report, "none").verdict, "structurally-valid")
    }))

  it.effect("a hierarchy of sealed clusters is sealed; sealing one inner cluster of two is not enough", () =>
    Effect.gen(function*() {
      const all = yield* serviceOf(
        Hierarchical.layer({ crossSyncInterval: 4, inner: [Sealed.layer(LocalSim.layer), Sealed.layer(LocalSim.layer)] })
      )
      const one = yield* serviceOf(
        Hierarchical.layer({ crossSyncInterval: 4, inner: [Sealed.layer(LocalSim.layer), LocalSim.layer] })
      )
      const wrappedMixed = yield* serviceOf(
        Sealed.layer(Hierarchical.layer({ crossSyncInterval: 4, inner: [Sealed.layer(LocalSim.layer), LocalSim.layer] }))
      )
      assert.strictEqual(all.isolation, "sealed")
      assert.strictEqual(one.isolation, "shared")
      assert.strictEqual(wrappedMixed.isolation, "sealed")
    }))
})
