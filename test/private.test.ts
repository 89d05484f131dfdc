import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Ref } from "effect"
import * as Attestation from "../src/attestation/Attestation.js"
import type { AttestationReport } from "../src/attestation/AttestationReport.js"
import * as Hierarchical from "../src/cluster/HierarchicalCluster.js"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as Sealed from "../src/cluster/SealedCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import { BackendFailed } from "../src/domain/Errors.js"
import type { OperatorKey } from "../src/integrity/OperatorKey.js"
import type { OneShotSpec } from "../src/market/OneShot.js"
import { type PrivacySpec, type PrivateOutcome, runPrivate } from "../src/market/PrivateMarket.js"
import { referenceCompetition } from "../src/market/Reference.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { keccakHex, localRefereeHash, TAG } from "./support/attestation.js"
import { TestKey } from "./support/keys.js"
import { close, vectors } from "./support/vectors.js"

/** A cluster layer of this market: it signs under the operator key, which `run` provides. */
type ClusterLayer = Layer.Layer<TrainingCluster, never, OperatorKey>

/** A cluster layer that counts training calls, so a test can show a guard ran before any training. */
const counted = (calls: Ref.Ref<number>, inner: ClusterLayer) =>
  Layer.effect(
    TrainingCluster,
    Effect.map(TrainingCluster, (cluster) =>
      TrainingCluster.of({
        ...cluster,
        train: (recipe, seed) => Effect.zipRight(Ref.update(calls, (n) => n + 1), cluster.train(recipe, seed))
      }))
  ).pipe(Layer.provide(inner))

const unsealed = LocalSim.layer
const sealed = Sealed.layer(LocalSim.layer)
const oneUnsealedInner = Hierarchical.layer({
  crossSyncInterval: 4,
  inner: [Sealed.layer(LocalSim.layer), LocalSim.layer, Sealed.layer(LocalSim.layer)]
}).pipe(Layer.orDie)
const allSealedInner = Hierarchical.layer({
  crossSyncInterval: 4,
  inner: [Sealed.layer(LocalSim.layer), Sealed.layer(LocalSim.layer)]
}).pipe(Layer.orDie)

const run = (
  spec: OneShotSpec,
  privacy: PrivacySpec,
  cluster: ClusterLayer,
  attestation: Layer.Layer<Attestation.Attestation, never, never> | undefined = undefined
) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const base = Layer.merge(counted(calls, cluster), SimHeldOut.layer)
    const layers = attestation === undefined
      ? Layer.provideMerge(Attestation.layer, base)
      : Layer.merge(attestation, base)
    const result = yield* Effect.either(Effect.provide(runPrivate(spec, privacy), layers))
    return { result, trained: yield* Ref.get(calls) }
  }).pipe(Effect.provide(TestKey))

const deny = { allowlist: [], defaultDeny: true }

/** Run and expect a guard to stop the competition with `tag` before any training. */
const expectGuard = (
  tag: string,
  spec: OneShotSpec,
  privacy: PrivacySpec,
  cluster: ClusterLayer
) =>
  Effect.gen(function*() {
    const { result, trained } = yield* run(spec, privacy, cluster)
    assert.isTrue(Either.isLeft(result), `expected ${tag}`)
    if (Either.isLeft(result)) assert.strictEqual(result.left._tag, tag, result.left.message)
    assert.strictEqual(trained, 0, "no training before the guards pass")
    return Either.isLeft(result) ? result.left.message : ""
  })

describe("private competition guards, in SPEC order, before any training", () => {
  it.effect("knobs first: incoherent knobs beat a bad reward and a bad privacy block", () =>
    expectGuard(
      "KnobsIncoherent",
      {
        ...referenceCompetition,
        knobs: { structure: "collaborative", cadence: "continuous" },
        reward: { kind: "snapshot-top-k", weightsBps: [] }
      },
      { tier: "white-box-no-egress", requiredTee: "none" },
      unsealed
    ))

  it.effect("then the reward: malformed weights, and a continuous schedule", () =>
    Effect.gen(function*() {
      yield* expectGuard(
        "RewardInvalid",
        { ...referenceCompetition, reward: { kind: "snapshot-top-k", weightsBps: [9000, 2000] } },
        { tier: "white-box-no-egress", requiredTee: "none" },
        unsealed
      )
      yield* expectGuard(
        "UnsupportedReward",
        { ...referenceCompetition, reward: { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1n } },
        { tier: "white-box-no-egress", requiredTee: "none" },
        unsealed
      )
    }))

  it.effect("then the capabilities: all three at once is incoherent", () =>
    expectGuard(
      "CapabilitiesIncoherent",
      referenceCompetition,
      {
        tier: "white-box-no-egress",
        requiredTee: "none",
        capabilities: { arbitraryCode: true, rawDataAccess: true, freeEgress: true }
      },
      unsealed
    ))

  it.effect("then a tier that requires attestation with required tee none: AttestationRequired, even on a sealed cluster", () =>
    Effect.gen(function*() {
      for (const tier of ["white-box-no-egress", "attested-harness"] as const) {
        const message = yield* expectGuard("AttestationRequired", referenceCompetition, { tier, requiredTee: "none" }, sealed)
        assert.match(message, /tee is none/)
      }
    }))

  it.effect("then the tier-to-cluster binding: an unsealed cluster is AttestationRequired", () =>
    Effect.gen(function*() {
      const message = yield* expectGuard(
        "AttestationRequired",
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny },
        unsealed
      )
      assert.match(message, /not sealed/)
      yield* expectGuard(
        "AttestationRequired",
        referenceCompetition,
        { tier: "attested-harness", requiredTee: "aws-nitro" },
        unsealed
      )
    }))

  it.effect("a hierarchy with one unsealed inner cluster fails the binding", () =>
    Effect.gen(function*() {
      const message = yield* expectGuard(
        "AttestationRequired",
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny },
        oneUnsealedInner
      )
      assert.match(message, /hierarchical/)
    }))

  it.effect("then egress: a tier without free egress needs a deny-by-default policy", () =>
    Effect.gen(function*() {
      yield* expectGuard(
        "EgressDenied",
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx" },
        sealed
      )
      yield* expectGuard(
        "EgressDenied",
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: { allowlist: ["hub.example"], defaultDeny: false } },
        allSealedInner
      )
      // an operator's grant without free egress needs a policy too, whatever the tier
      yield* expectGuard(
        "EgressDenied",
        referenceCompetition,
        {
          tier: "black-box",
          requiredTee: "none",
          capabilities: { arbitraryCode: true, rawDataAccess: false, freeEgress: false }
        },
        unsealed
      )
    }))

  it.effect("then the referee: a sealed cluster clears the binding and fails at the local referee's report", () =>
    Effect.gen(function*() {
      const message = yield* expectGuard(
        "AttestationInvalid",
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny },
        sealed
      )
      assert.match(message, /referee/)
      yield* expectGuard(
        "AttestationInvalid",
        referenceCompetition,
        { tier: "attested-harness", requiredTee: "azure-snp" },
        allSealedInner
      )
      // a tier without attestation that still requires a tee is checked at the referee too
      yield* expectGuard("AttestationInvalid", referenceCompetition, { tier: "black-box", requiredTee: "aws-nitro" }, unsealed)
    }))
})

const candidateVector = (name: string) => {
  const found = vectors.oneShot.candidates.find((c) => c.researcher === name)
  assert.isDefined(found, name)
  return found
}

const assertReferenceOutcome = (outcome: PrivateOutcome) => {
  assert.deepStrictEqual(outcome.ranked.map((r) => r.researcher), vectors.oneShot.ranked)
  assert.deepStrictEqual(
    outcome.payouts.map((p) => ({ researcher: p.researcher, wei: p.wei.toString() })),
    vectors.oneShot.payouts
  )
}

describe("private competitions that run (required tee none)", () => {
  it.effect("redacted feedback: bands and buckets of the reference lifts, every candidate committing the referee hash", () =>
    Effect.gen(function*() {
      const { result, trained } = yield* run(referenceCompetition, { tier: "redacted-feedback", requiredTee: "none" }, unsealed)
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      const outcome = result.right
      assertReferenceOutcome(outcome)
      assert.strictEqual(trained, 6)
      // reference lifts: 0.277 and 0.187 (large, moderate), the three gated ones negative (none); n = 16 -> 12
      assert.deepStrictEqual(outcome.feedback, [
        { researcher: "scale-islands", clears: true, band: "large", nBucket: 12 },
        { researcher: "comm-efficient", clears: true, band: "moderate", nBucket: 12 },
        { researcher: "too-large-H", clears: false, band: "none", nBucket: 12 },
        { researcher: "over-compress", clears: false, band: "none", nBucket: 12 },
        { researcher: "bad-lr", clears: false, band: "none", nBucket: 12 }
      ])
      assert.deepStrictEqual(
        outcome.attestationHashes,
        referenceCompetition.researchers.map((r) => ({ researcher: r.name, hash: localRefereeHash }))
      )
      assert.strictEqual(outcome.attestationVerdict, "unverified")
    }))

  it.effect("black-box feedback holds only the gate verdict", () =>
    Effect.gen(function*() {
      const { result } = yield* run(referenceCompetition, { tier: "black-box", requiredTee: "none" }, unsealed)
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      assertReferenceOutcome(result.right)
      assert.deepStrictEqual(
        result.right.feedback,
        vectors.oneShot.candidates.map((c) => ({ researcher: c.researcher, clears: c.clears }))
      )
      for (const entry of result.right.feedback) assert.deepStrictEqual(Object.keys(entry).sort(), ["clears", "researcher"])
    }))

  it.effect("a black-box competition on a sealed hierarchy runs too (sealing is not required, only allowed)", () =>
    Effect.gen(function*() {
      const { result } = yield* run(referenceCompetition, { tier: "black-box", requiredTee: "none" }, allSealedInner)
      assert.isTrue(Either.isRight(result))
    }))

  it.effect("a researcher whose training fails learns only the failure's tag; the others are judged and paid (SPEC §15.8)", () =>
    Effect.gen(function*() {
      // the simulator, except that 8 islands (scale-islands) runs out of memory
      const failsOnEight: ClusterLayer = Layer.effect(
        TrainingCluster,
        Effect.map(TrainingCluster, (cluster) =>
          TrainingCluster.of({
            ...cluster,
            train: (recipe, seed) =>
              recipe.islands === 8
                ? Effect.fail(new BackendFailed({ backend: "sim", exitCode: 137, stderrTail: "killed: out of memory" }))
                : cluster.train(recipe, seed)
          }))
      ).pipe(Layer.provide(unsealed))
      const { result, trained } = yield* run(referenceCompetition, { tier: "black-box", requiredTee: "none" }, failsOnEight)
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      assert.strictEqual(trained, 6)
      assert.deepStrictEqual(result.right.feedback, [
        { researcher: "scale-islands", clears: false, failed: "BackendFailed" },
        ...vectors.oneShot.candidates.slice(1).map((c) => ({ researcher: c.researcher, clears: c.clears }))
      ])
      assert.deepStrictEqual(result.right.ranked.map((r) => r.researcher), ["comm-efficient"])
      assert.deepStrictEqual(result.right.payouts.map((p) => [p.researcher, p.wei]), [["comm-efficient", 500_000n]])
    }))

  it.effect("no researchers is CompetitionInvalid before any training", () =>
    Effect.gen(function*() {
      yield* expectGuard(
        "CompetitionInvalid",
        { ...referenceCompetition, researchers: [] },
        { tier: "black-box", requiredTee: "none" },
        unsealed
      )
    }))
})

describe("a referee that presents a matching report (the path a real TEE referee will take)", () => {
  const tdxReferee: AttestationReport = {
    teeType: "phala-tdx",
    evidence: Uint8Array.from([0x51, 0x55, 0x4f, 0x54, 0x45]),
    measurement: Uint8Array.from([0x6d, 0x72, 0x74, 0x64]),
    nonce: Uint8Array.from([7])
  }
  const tdxHash = keccakHex([
    ...TAG,
    0x01,
    5, 0, 0, 0, 0, 0, 0, 0,
    0x51, 0x55, 0x4f, 0x54, 0x45,
    4, 0, 0, 0, 0, 0, 0, 0,
    0x6d, 0x72, 0x74, 0x64,
    0x01,
    1, 0, 0, 0, 0, 0, 0, 0,
    7
  ])

  it.effect("white-box-no-egress completes as structurally-valid with full feedback", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        referenceCompetition,
        { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny },
        sealed,
        Attestation.layerWith({ refereeReport: tdxReferee })
      )
      assert.isTrue(Either.isRight(result))
      if (Either.isLeft(result)) return
      const outcome = result.right
      assertReferenceOutcome(outcome)
      assert.strictEqual(outcome.attestationVerdict, "structurally-valid")
      assert.isTrue(outcome.attestationHashes.every((h) => h.hash === tdxHash))
      for (const entry of outcome.feedback) {
        assert.isTrue("lift" in entry && "measurement" in entry)
        if (!("lift" in entry)) continue
        const expected = candidateVector(entry.researcher)
        assert.strictEqual(entry.clears, expected?.clears)
        assert.isTrue(close(entry.lift.delta, expected?.lift.delta ?? NaN))
        assert.isTrue(close(entry.lift.ciLower, expected?.lift.ciLower ?? NaN))
        assert.isTrue(close(entry.measurement.value, expected?.heldOut.value ?? NaN))
        assert.strictEqual(entry.measurement.n, 16)
      }
    }))
})
