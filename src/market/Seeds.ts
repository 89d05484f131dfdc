/**
 * Market-owned seeds (SPEC §15.3). Researchers never choose the seeds their recipes
 * are trained with. Without a record test, submission i trains with seed i and the
 * baseline with the market's baseline seed (the reference form, §8). With a record test
 * of k seeds, submission i trains with `seed(i, j)` = the first 8 bytes, big-endian, of
 * HMAC-SHA256(seed key, "seed:" + i + ":" + j), j in 0..k-1, and the baseline with
 * "baseline:" + j: nobody without the key can tell which seeds a submission will get.
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"

/** The first 8 bytes, big-endian, of HMAC-SHA256(key, label). */
export const derive = (key: Uint8Array, label: string): bigint => {
  const mac = hmac(sha256, key, utf8ToBytes(label))
  let seed = 0n
  for (let i = 0; i < 8; i++) seed = (seed << 8n) | BigInt(mac[i] ?? 0)
  return seed
}

/** Seed j of submission `index` under a record test. */
export const submissionSeed = (key: Uint8Array, index: number, j: number): bigint => derive(key, `seed:${index}:${j}`)

/** Seed j of the baseline under a record test. */
export const baselineSeed = (key: Uint8Array, j: number): bigint => derive(key, `baseline:${j}`)

/** How a market draws seeds: one per submission (its index), or k from a key. */
export type SeedPlan =
  | { readonly kind: "index"; readonly baseline: bigint }
  | { readonly kind: "keyed"; readonly key: Uint8Array; readonly seeds: number }

/** The seeds submission `index` trains with. */
export const forSubmission = (plan: SeedPlan, index: number): ReadonlyArray<bigint> =>
  plan.kind === "index"
    ? [BigInt(index)]
    : Array.from({ length: plan.seeds }, (_, j) => submissionSeed(plan.key, index, j))

/** The seeds the baseline trains with. */
export const forBaseline = (plan: SeedPlan): ReadonlyArray<bigint> =>
  plan.kind === "index" ? [plan.baseline] : Array.from({ length: plan.seeds }, (_, j) => baselineSeed(plan.key, j))
