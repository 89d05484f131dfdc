/**
 * The sealed cluster wrapper (SPEC §11): any cluster, presented as running in a TEE.
 *
 * This is an interface claim, not a verified enclave. The wrapper trains exactly as
 * its inner cluster (same recipe, seed, loss, checkpoint) and reports `sealed`
 * isolation so private competitions can bind a privacy tier to it, but nothing here
 * runs inside an enclave: its attestation report says tee `none`, evidence
 * `tee-sim-cluster:<inner id>` and measurement `local-stand-in:no-enclave`, so any
 * verifier that requires a real TEE rejects it (`AttestationInvalid` in a private
 * competition). A real TEE backend replaces this layer, not the market.
 */
import { Effect, Layer, Option } from "effect"
import { STAND_IN_MEASUREMENT } from "../attestation/Attestation.js"
import { type AttestationReport, textReport } from "../attestation/AttestationReport.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import { TrainingCluster } from "./TrainingCluster.js"

/** The stand-in attestation report of a sealed wrapper around the cluster `innerId`. */
export const standInReport = (innerId: string): AttestationReport =>
  textReport("none", `tee-sim-cluster:${innerId}`, STAND_IN_MEASUREMENT)

/** The id of a sealed wrapper: names its inner cluster, so artifacts record the composition. */
export const sealedId = (innerId: string): string => `sealed(${innerId})`

/**
 * Wrap a built cluster: same training, `sealed` isolation, the stand-in report.
 * Artifacts keep everything the inner cluster returned except `clusterId`, which
 * names the wrapper.
 */
export const make = (inner: TrainingCluster["Type"]): Effect.Effect<TrainingCluster["Type"], never, OperatorKey> =>
  Effect.map(OperatorKey, ({ key }) => {
    const id = sealedId(inner.id)
    return TrainingCluster.of({
      id,
      isolation: "sealed",
      attestation: Option.some(standInReport(inner.id)),
      // the artifact names the wrapper, so it is the wrapper's: re-signed (SPEC §15.1)
      train: (recipe, seed) =>
        Effect.map(inner.train(recipe, seed), (artifact) => Receipt.sign(key, { ...artifact, clusterId: id }))
    })
  })

/** Turn a cluster layer into a sealed cluster layer (errors and requirements are the inner layer's). */
export const layer = <E, R>(
  inner: Layer.Layer<TrainingCluster, E, R>
): Layer.Layer<TrainingCluster, E, R | OperatorKey> =>
  Layer.effect(TrainingCluster, Effect.flatMap(TrainingCluster, make)).pipe(Layer.provide(inner))
