/** What `trainmarket attest …` does (loaded when it runs). */
import { Effect, Layer, Option } from "effect"
import * as Attestation from "../../attestation/Attestation.js"
import * as ClusterSpec from "../../cluster/ClusterSpec.js"
import { TrainingCluster } from "../../cluster/TrainingCluster.js"
import { AttestationRequired } from "../../domain/Errors.js"
import * as Json from "../../files/Json.js"
import * as Layers from "../../Layers.js"
import type { HashOptions, ReportOptions, VerifyOptions } from "../Attest.js"
import * as Output from "../Output.js"

/** `attest report`: build the cluster a spec names (nothing is trained) and print its attestation report as a report file. */
export const report = (options: ReportOptions) =>
  Effect.gen(function*() {
    const spec = yield* Json.readArgument(ClusterSpec.ClusterSpec, options.cluster, "cluster.json")
    const cluster = yield* Effect.provide(
      TrainingCluster,
      Layers.cluster(spec).pipe(Layer.provide(Layers.operatorKey(options.keyFile)))
    )
    if (Option.isNone(cluster.attestation)) {
      return yield* new AttestationRequired({
        reason: `the cluster ${cluster.id} is not sealed, so it presents no report: wrap it ` +
          `({"kind":"sealed","inner":${Json.stringify(spec)}}) or give a real backend a "tee"`
      })
    }
    yield* Output.json(Attestation.toFile(cluster.attestation.value))
  })

/** `attest hash`: the report's commitment hash. */
export const hash = (options: HashOptions) =>
  Effect.gen(function*() {
    const decoded = yield* Json.readFile(Attestation.ReportFile, options.report)
    const digest = Attestation.hash(decoded)
    if (options.json) return yield* Output.json({ hash: digest })
    yield* Output.line(digest)
  })

/** `attest verify`: the report's structural verdict. */
export const verify = (options: VerifyOptions) =>
  Effect.gen(function*() {
    const decoded = yield* Json.readFile(Attestation.ReportFile, options.report)
    const verification = Attestation.verify(decoded, options.require)
    if (options.json) return yield* Output.json(verification)
    yield* Output.line(
      `verdict: ${verification.verdict}  structuralOk=${verification.structuralOk}  ` +
        `signatureVerified=${verification.signatureVerified}  measurementMatched=${verification.measurementMatched}`
    )
    yield* Output.line(
      "note: only the report's structure is checked; signature and measurement checks are not implemented, " +
        "so a report is never reported as verified"
    )
  })
