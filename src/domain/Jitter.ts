/**
 * Deterministic noise shared by the simulator and the held-out scorer (SPEC §3):
 * a splitmix64 finaliser mapped to [-1, 1). The hot path works on two u32 halves
 * with exact float arithmetic, so scoring a million submissions allocates no bigint.
 */

/** Low 64 bits of (ah:al) * (bh:bl), as [hi, lo] u32 halves. */
export const mul64 = (ah: number, al: number, bh: number, bl: number): readonly [number, number] => {
  const a0 = al & 0xffff
  const a1 = al >>> 16
  const b0 = bl & 0xffff
  const b1 = bl >>> 16
  const low = a0 * b0
  const mid = a1 * b0 + a0 * b1 + Math.floor(low / 65536)
  const carry = a1 * b1 + Math.floor(mid / 65536)
  const lo = Math.imul(al, bl) >>> 0
  const hi = (Math.imul(ah, bl) + Math.imul(al, bh) + carry) >>> 0
  return [hi, lo]
}

const TWO_POW_53 = 9007199254740992

/** jitter(mix) for mix given as u32 halves (hi, lo); a value in [-1, 1). */
export const jitterHalves = (mixHi: number, mixLo: number): number => {
  // z = mix + 0x9E3779B97F4A7C15
  let lo = (mixLo >>> 0) + 0x7f4a7c15
  let hi = ((mixHi >>> 0) + 0x9e3779b9 + (lo >= 0x100000000 ? 1 : 0)) >>> 0
  lo = lo >>> 0
  // z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
  let xl = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0
  let xh = (hi ^ (hi >>> 30)) >>> 0
  ;[hi, lo] = mul64(xh, xl, 0xbf58476d, 0x1ce4e5b9)
  // z = (z ^ (z >> 27)) * 0x94D049BB133111EB
  xl = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0
  xh = (hi ^ (hi >>> 27)) >>> 0
  ;[hi, lo] = mul64(xh, xl, 0x94d049bb, 0x133111eb)
  // z = z ^ (z >> 31)
  xl = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0
  xh = (hi ^ (hi >>> 31)) >>> 0
  // top 53 bits: z >> 11
  const top = xh * 2097152 + (xl >>> 11)
  return 2 * (top / TWO_POW_53) - 1
}

const MASK32 = 0xffffffffn

/** Split a u64 `bigint` into [hi, lo] u32 halves (wrapping mod 2^64). */
export const halves = (x: bigint): readonly [number, number] => [
  Number((x >> 32n) & MASK32),
  Number(x & MASK32)
]

/** jitter(mix) for a u64 mix (wrapped mod 2^64). */
export const jitter = (mix: bigint): number => {
  const [hi, lo] = halves(mix)
  return jitterHalves(hi, lo)
}
