/**
 * SPEC §15.1's receipt computed independently of the code under test: the artifact's
 * JSON form (as `train --json` prints it, with its SPEC §2 `ref`), written out
 * canonically here (keys sorted at every depth, no whitespace, numbers in JavaScript's
 * shortest form, seeds as decimal strings) and signed with node:crypto's HMAC-SHA256.
 */
import { createHmac } from "node:crypto"
import type { TrainedArtifact } from "../../src/domain/Artifact.js"

const M64 = (1n << 64n) - 1n

/** The bits of a double as a u64, little-endian. */
const bitsOf = (x: number): bigint => {
  const buffer = Buffer.alloc(8)
  buffer.writeDoubleLE(x)
  return buffer.readBigUInt64LE()
}

/** SPEC §2's ArtifactRef: FNV-1a 64 over the little-endian bytes of six u64 words. */
export const refOf = (recipe: TrainedArtifact["recipe"], trainSeed: bigint): string => {
  const words = [
    BigInt(recipe.islands),
    BigInt(recipe.innerSteps),
    bitsOf(recipe.innerLr),
    bitsOf(recipe.outerLr),
    bitsOf(recipe.keepFraction),
    trainSeed & M64
  ]
  let hash = 0xcbf29ce484222325n
  for (const word of words) {
    for (let i = 0n; i < 8n; i++) hash = ((hash ^ ((word >> (8n * i)) & 0xffn)) * 0x100000001b3n) & M64
  }
  return `training:${hash.toString(16).padStart(16, "0")}`
}

/** A JSON value (what `JSON.parse` gives). */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** Canonical JSON of a parsed JSON value. */
export const canonicalJson = (value: Json): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
}

/** An artifact's JSON form with its `ref`, as `train --json` prints it (receipt included when it has one). */
export const jsonForm = (artifact: TrainedArtifact): { readonly [key: string]: Json } => ({
  recipe: { ...artifact.recipe },
  trainSeed: artifact.trainSeed.toString(),
  trainLoss: artifact.trainLoss,
  clusterId: artifact.clusterId,
  ...(artifact.checkpoint === undefined ? {} : { checkpoint: artifact.checkpoint }),
  ...(artifact.checkpointSha256 === undefined ? {} : { checkpointSha256: artifact.checkpointSha256 }),
  ...(artifact.notApplied === undefined ? {} : { notApplied: [...artifact.notApplied] }),
  ...(artifact.receipt === undefined ? {} : { receipt: artifact.receipt }),
  ref: refOf(artifact.recipe, artifact.trainSeed)
})

/** The receipt under `key` of an artifact's JSON form (its own `receipt` left out). */
export const expectedReceipt = (key: Uint8Array, json: { readonly [key: string]: Json }): string => {
  const { receipt: _receipt, ...rest } = json
  return `hmac-sha256:${createHmac("sha256", key).update(canonicalJson(rest)).digest("hex")}`
}

/** The receipt under `key` of an artifact. */
export const receiptOf = (key: Uint8Array, artifact: TrainedArtifact): string => expectedReceipt(key, jsonForm(artifact))
