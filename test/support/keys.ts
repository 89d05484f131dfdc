/** The operator key tests sign and check artifacts with (SPEC §15.1), and helpers around it. */
import { assert } from "@effect/vitest"
import { Layer } from "effect"
import type { Candidate, TrainedCandidate } from "../../src/market/OneShot.js"
import type { TrainedArtifact } from "../../src/domain/Artifact.js"
import { OperatorKey } from "../../src/integrity/OperatorKey.js"
import * as Receipt from "../../src/integrity/Receipt.js"

/** A fixed 32-byte key. */
export const testKey = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff)

/** The operator key service holding `testKey`. */
export const TestKey: Layer.Layer<OperatorKey> = Layer.succeed(OperatorKey, { key: testKey, source: "test" })

/** An artifact with its receipt under `testKey`, as a cluster layer of this market would return it. */
export const signed = (artifact: TrainedArtifact): TrainedArtifact => Receipt.sign(testKey, artifact)

/** A one-shot candidate that trained (a test failure when it is missing or failed). */
export const trained = (candidate: Candidate | undefined, what = "candidate"): TrainedCandidate => {
  if (candidate === undefined) return assert.fail(`${what} is missing`)
  if (candidate._tag !== "Trained") return assert.fail(`${what} failed: ${candidate.failure._tag}: ${candidate.failure.message}`)
  return candidate
}
