/**
 * Receipts (SPEC §15.1): every artifact a cluster layer returns carries
 * `"receipt": "hmac-sha256:<64 hex>"`, the HMAC-SHA256 under the operator's key of the
 * artifact's canonical JSON without `receipt` (its JSON form as `train --json` prints
 * it, `ref` included). Every referee checks it before measuring anything: an artifact a
 * researcher built or edited, or one signed under another key, is `ProvenanceInvalid`.
 *
 * What a receipt proves: this market's own cluster layer made the artifact, and nothing
 * in it changed since. What it does not prove: that the cluster trained honestly (a
 * sealed cluster and the re-score panel are for that).
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { Effect, Option, Schema } from "effect"
import { checkpointSha256 } from "../domain/CheckpointHash.js"
import { ref, TrainedArtifact } from "../domain/Artifact.js"
import { ProvenanceInvalid } from "../domain/Errors.js"
import * as Canonical from "./Canonical.js"
import { OperatorKey } from "./OperatorKey.js"

/** The prefix of a receipt. */
export const PREFIX = "hmac-sha256:"

const encode = Schema.encodeSync(TrainedArtifact)

/** The canonical JSON a receipt is computed over: the artifact's JSON form with its `ref`, without `receipt`. */
export const canonical = (artifact: TrainedArtifact): string => {
  const { receipt: _receipt, ...rest } = artifact
  return Canonical.stringify({ ...encode(rest), ref: ref(rest) })
}

/** The receipt of an artifact under a key. */
export const receiptOf = (key: Uint8Array, artifact: TrainedArtifact): string =>
  `${PREFIX}${bytesToHex(hmac(sha256, key, utf8ToBytes(canonical(artifact))))}`

/** The artifact with its receipt under `key` (any earlier receipt replaced). */
export const sign = (key: Uint8Array, artifact: TrainedArtifact): TrainedArtifact => {
  const { receipt: _old, ...rest } = artifact
  return { ...rest, receipt: receiptOf(key, rest) }
}

/** Equal strings, compared in time that does not depend on where they differ. */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = utf8ToBytes(a)
  const y = utf8ToBytes(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

/** Check an artifact's receipt under `key`: missing, malformed or wrong is `ProvenanceInvalid` naming which. */
export const verify = (key: Uint8Array, artifact: TrainedArtifact): Effect.Effect<TrainedArtifact, ProvenanceInvalid> => {
  const stated = artifact.receipt
  if (stated === undefined) {
    return Effect.fail(
      new ProvenanceInvalid({ reason: "the artifact has no receipt: only artifacts this market's clusters made are scored" })
    )
  }
  if (!/^hmac-sha256:[0-9a-f]{64}$/.test(stated)) {
    return Effect.fail(new ProvenanceInvalid({ reason: `the receipt is not of the form ${PREFIX}<64 hex digits>` }))
  }
  return constantTimeEqual(stated, receiptOf(key, artifact))
    ? Effect.succeed(artifact)
    : Effect.fail(
      new ProvenanceInvalid({
        reason: "the receipt does not match the artifact: it was edited after training, or signed under another key"
      })
    )
}

/** `sign` with the provided operator key. */
export const signWithOperatorKey = (artifact: TrainedArtifact): Effect.Effect<TrainedArtifact, never, OperatorKey> =>
  Effect.map(OperatorKey, ({ key }) => sign(key, artifact))

/**
 * Check that an artifact's checkpoint is the one its cluster hashed right after
 * training: a real artifact without `checkpointSha256`, a checkpoint that cannot be
 * read, or one whose bytes changed is `ProvenanceInvalid`. Artifacts without a
 * checkpoint (simulated training) pass.
 */
export const verifyCheckpoint = (
  artifact: TrainedArtifact
): Effect.Effect<TrainedArtifact, ProvenanceInvalid, FileSystem.FileSystem | Path.Path> => {
  const checkpoint = artifact.checkpoint
  if (checkpoint === undefined) return Effect.succeed(artifact)
  const stated = artifact.checkpointSha256
  if (stated === undefined) {
    return Effect.fail(new ProvenanceInvalid({ reason: `the artifact names checkpoint ${checkpoint} but no checkpointSha256` }))
  }
  return checkpointSha256(checkpoint).pipe(
    Effect.mapError((error) => new ProvenanceInvalid({ reason: `the checkpoint ${checkpoint} cannot be read (${error.message})` })),
    Effect.flatMap((digest) =>
      constantTimeEqual(digest, stated)
        ? Effect.succeed(artifact)
        : Effect.fail(
          new ProvenanceInvalid({ reason: `the bytes of checkpoint ${checkpoint} changed after training (sha256 ${digest})` })
        )
    )
  )
}

/**
 * The bytes of a one-file checkpoint, checked against `checkpointSha256` as they are
 * read: a referee that evaluates these bytes evaluates exactly what was hashed. A
 * directory (prime, Psyche) is checked by its manifest hash and yields no bytes (`None`).
 */
export const checkpointBytes = (
  artifact: TrainedArtifact,
  checkpoint: string
): Effect.Effect<Option.Option<Uint8Array>, ProvenanceInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const stated = artifact.checkpointSha256
    if (stated === undefined) {
      return yield* new ProvenanceInvalid({ reason: `the artifact names checkpoint ${checkpoint} but no checkpointSha256` })
    }
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(checkpoint).pipe(
      Effect.mapError((error) => new ProvenanceInvalid({ reason: `the checkpoint ${checkpoint} cannot be read (${error.message})` }))
    )
    if (info.type !== "File") return yield* Effect.as(verifyCheckpoint(artifact), Option.none())
    const bytes = yield* fs.readFile(checkpoint).pipe(
      Effect.mapError((error) => new ProvenanceInvalid({ reason: `the checkpoint ${checkpoint} cannot be read (${error.message})` }))
    )
    const digest = bytesToHex(sha256(bytes))
    return constantTimeEqual(digest, stated)
      ? Option.some(bytes)
      : yield* new ProvenanceInvalid({ reason: `the bytes of checkpoint ${checkpoint} changed after training (sha256 ${digest})` })
  })

/** Everything a referee checks before measuring (SPEC §15.1): the receipt under `key`, then the checkpoint's bytes. */
export const check = (
  key: Uint8Array,
  artifact: TrainedArtifact
): Effect.Effect<TrainedArtifact, ProvenanceInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(verify(key, artifact), verifyCheckpoint)
