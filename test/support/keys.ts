/** The operator key tests sign and check artifacts with (SPEC §15.1), and helpers around it. */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { NodeContext } from "@effect/platform-node"
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

/** The Node platform and `TestKey`: what a test that builds real cluster or checkpoint-scorer layers provides. */
export const NodeWithKey: Layer.Layer<NodeContext.NodeContext | OperatorKey> = Layer.merge(NodeContext.layer, TestKey)

/** Write `key` (default `testKey`, 32 raw bytes) to `<dir>/<name>` and return the path (a `--key-file`). */
export const writeKeyFile = (dir: string, key: Uint8Array = testKey, name = "operator.key"): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, key, { mode: 0o600 })
  return file
}

/** An artifact with its receipt under `testKey`, as a cluster layer of this market would return it. */
export const signed = (artifact: TrainedArtifact): TrainedArtifact => Receipt.sign(testKey, artifact)

/** sha256 (lower-case hex) of bytes, with node:crypto (independent of the code under test). */
export const sha256Hex = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex")

/**
 * SPEC §15.1's checkpoint hash, computed here with node:crypto: a file's sha256, or for
 * a directory the sha256 of the sorted lines `<relative path> <sha256 of file>\n`.
 */
export const checkpointDigest = (checkpoint: string): string => {
  if (!fs.statSync(checkpoint).isDirectory()) return sha256Hex(fs.readFileSync(checkpoint))
  const files: Array<string> = []
  const walk = (relative: string): void => {
    for (const entry of fs.readdirSync(path.join(checkpoint, relative), { withFileTypes: true })) {
      const name = relative === "" ? entry.name : `${relative}/${entry.name}`
      if (entry.isDirectory()) walk(name)
      else if (entry.isFile()) files.push(name)
    }
  }
  walk("")
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return sha256Hex(files.map((file) => `${file} ${sha256Hex(fs.readFileSync(path.join(checkpoint, file)))}\n`).join(""))
}

/**
 * A real-backend artifact as its cluster layer would return it: the checkpoint's hash
 * as the bytes on disk are now (when it names one), then the receipt under `testKey`.
 */
export const signedCheckpoint = (artifact: TrainedArtifact): TrainedArtifact =>
  signed(artifact.checkpoint === undefined ? artifact : { ...artifact, checkpointSha256: checkpointDigest(artifact.checkpoint) })

/** A one-shot candidate that trained (a test failure when it is missing or failed). */
export const trained = (candidate: Candidate | undefined, what = "candidate"): TrainedCandidate => {
  if (candidate === undefined) return assert.fail(`${what} is missing`)
  if (candidate._tag !== "Trained") return assert.fail(`${what} failed: ${candidate.failure._tag}: ${candidate.failure.message}`)
  return candidate
}
