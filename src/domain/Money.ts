/**
 * Integer money and score units. Payouts are decided in `bigint` only: wei are
 * unsigned 128-bit and saturate at 2^128-1, micros (1e-6 of a score point) are
 * signed 64-bit and saturate at the i64 bounds (SPEC §2).
 */
import { ParseResult, Schema } from "effect"

/** Largest wei amount (2^128 - 1). */
export const WEI_MAX: bigint = (1n << 128n) - 1n
/** Largest micros value (2^63 - 1). */
export const MICROS_MAX: bigint = (1n << 63n) - 1n
/** Smallest micros value (-2^63). */
export const MICROS_MIN: bigint = -(1n << 63n)
/** Largest u64 (seeds). */
export const U64_MAX: bigint = (1n << 64n) - 1n
/** Largest u32 (recipe counts: islands, inner steps). */
export const U32_MAX = 4294967295

/** Wrap an integer to u64 (mod 2^64), as seeds are. */
export const wrapU64 = (x: bigint): bigint => x & U64_MAX

/** Clamp to the wei range [0, 2^128-1]. */
export const clampWei = (x: bigint): bigint => (x < 0n ? 0n : x > WEI_MAX ? WEI_MAX : x)
/** Saturating wei addition. */
export const addWei = (a: bigint, b: bigint): bigint => clampWei(a + b)
/** Saturating wei subtraction (floors at zero). */
export const subWei = (a: bigint, b: bigint): bigint => clampWei(a - b)
/** Saturating wei multiplication. */
export const mulWei = (a: bigint, b: bigint): bigint => clampWei(a * b)

/** Clamp to the i64 micros range. */
export const clampMicros = (x: bigint): bigint => (x > MICROS_MAX ? MICROS_MAX : x < MICROS_MIN ? MICROS_MIN : x)
/** Saturating micros subtraction. */
export const subMicros = (a: bigint, b: bigint): bigint => clampMicros(a - b)

const TWO_63 = 9223372036854775808

/**
 * A score delta in micros: `round(delta * 1e6)` (half away from zero), saturating at
 * the i64 bounds; a non-finite delta is 0 so it can never buy anything.
 */
export const toMicros = (delta: number): bigint => {
  const scaled = delta * 1e6
  if (!Number.isFinite(scaled)) return 0n
  const rounded = Math.sign(scaled) * Math.round(Math.abs(scaled))
  if (rounded >= TWO_63) return MICROS_MAX
  if (rounded <= -TWO_63) return MICROS_MIN
  return BigInt(rounded)
}

const decimal = (what: string, min: bigint, max: bigint) =>
  Schema.BigInt.pipe(
    Schema.filter((x) => (x >= min && x <= max) || `${what} must be an integer in ${min}..${max}`)
  )

/** A u64 seed: `bigint` in code, a decimal string in JSON. */
export const Seed = decimal("a seed", 0n, U64_MAX).annotations({ identifier: "Seed" })
export type Seed = typeof Seed.Type

/**
 * A seed as written by a person (a JSON Lines input): a decimal string, or a JSON number
 * up to 2^53 (beyond that a JSON number has already lost digits, so it is refused with a
 * message saying to quote it).
 */
export const SeedInput = Schema.transformOrFail(Schema.Union(Schema.String, Schema.Number), Schema.BigIntFromSelf, {
  strict: true,
  decode: (input, _, ast) => {
    const parsed = typeof input === "string"
      ? parseSeed(input)
      : Number.isInteger(input) && input > Number.MAX_SAFE_INTEGER
      ? { problem: `${input} is above 2^53: write a seed that large as a decimal string (as a JSON number it has lost digits)` }
      : parseSeed(String(input))
    return "seed" in parsed ? ParseResult.succeed(parsed.seed) : ParseResult.fail(new ParseResult.Type(ast, input, parsed.problem))
  },
  encode: (seed) => ParseResult.succeed(seed.toString())
}).annotations({ identifier: "SeedInput" })

/** Read a seed typed on a command line: the seed, or what is wrong with the text. */
export const parseSeed = (text: string): { readonly seed: bigint } | { readonly problem: string } => {
  const trimmed = text.trim()
  if (!/^[+-]?\d+$/.test(trimmed)) return { problem: `'${text}' is not an integer` }
  const value = BigInt(trimmed)
  return value < 0n || value > U64_MAX
    ? { problem: `'${text}' is outside 0..${U64_MAX} (a seed is an unsigned 64-bit integer)` }
    : { seed: value }
}

/** Wei (u128): `bigint` in code, a decimal string in JSON. */
export const Wei = decimal("wei", 0n, WEI_MAX).annotations({ identifier: "Wei" })
export type Wei = typeof Wei.Type

/** Micros (i64): `bigint` in code, a decimal string in JSON. */
export const Micros = decimal("micros", MICROS_MIN, MICROS_MAX).annotations({ identifier: "Micros" })
export type Micros = typeof Micros.Type
