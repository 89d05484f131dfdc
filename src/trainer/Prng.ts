/**
 * Seeded randomness for the trainer. Every random choice (weight init, Markov
 * transition rows, data streams) comes from here, derived from the run's u64 seeds,
 * so the same config always yields the same checkpoint bytes. `Math.random` is never
 * used.
 */

const MASK64 = (1n << 64n) - 1n
const GOLDEN = 0x9e3779b97f4a7c15n

/** The splitmix64 finaliser: a bijective u64 mixer (wrapping arithmetic). */
export const mix64 = (x: bigint): bigint => {
  let z = (x + GOLDEN) & MASK64
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
  return z ^ (z >> 31n)
}

/** FNV-1a 64 of a label's UTF-8 bytes, so string labels can name sub-seeds. */
const labelWord = (label: string): bigint => {
  let h = 0xcbf29ce484222325n
  for (const byte of new TextEncoder().encode(label)) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64
  }
  return h
}

/**
 * A sub-seed derived from a base seed and a path of labels or integers
 * (e.g. `deriveSeed(dataSeed, "train", runSeed, island)`): distinct paths give
 * independent streams, and adding a stream never shifts another one.
 */
export const deriveSeed = (seed: bigint, ...path: ReadonlyArray<string | number | bigint>): bigint => {
  let h = mix64(seed & MASK64)
  for (const part of path) {
    const word = typeof part === "string" ? labelWord(part) : BigInt(part) & MASK64
    h = mix64(h ^ mix64(word ^ 0x5851f42d4c957f2dn))
  }
  return h
}

/** A fast deterministic generator of uniform numbers. */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  readonly nextU32: () => number
  /** A uniform float in [0, 1) with 53 random bits. */
  readonly nextFloat: () => number
  /** A uniform integer in [0, n), n >= 1. */
  readonly nextInt: (n: number) => number
}

/**
 * xoshiro128** seeded from a u64 through splitmix64: 32-bit integer arithmetic only,
 * so the stream is identical on every engine.
 */
export const makeRng = (seed: bigint): Rng => {
  const a = mix64(seed & MASK64)
  const b = mix64(a)
  const s = new Uint32Array([Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n)])
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1
  const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))
  const nextU32 = (): number => {
    const s0 = s[0]!
    const s1 = s[1]!
    const s2 = s[2]!
    const s3 = s[3]!
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    const n2 = s2 ^ s0
    const n3 = s3 ^ s1
    s[0] = s0 ^ n3
    s[1] = s1 ^ n2
    s[2] = n2 ^ t
    s[3] = rotl(n3, 11)
    return result
  }
  const nextFloat = (): number => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992
  const nextInt = (n: number): number => {
    if (n <= 1) return 0
    if (n <= 0x100000000) {
      // Rejection sampling keeps the result exactly uniform.
      const limit = 0x100000000 - (0x100000000 % n)
      for (;;) {
        const x = nextU32()
        if (x < limit) return x % n
      }
    }
    return Math.floor(nextFloat() * n)
  }
  return { nextU32, nextFloat, nextInt }
}
