/**
 * An independent implementation of the SPEC §3/§4 model, written from the SPEC text
 * with plain bigint arithmetic (no code shared with src/), so tests can check the
 * library against it on recipes and seeds that appear nowhere else.
 */
const M64 = (1n << 64n) - 1n

export const jitterRef = (mix: bigint): number => {
  let z = (mix + 0x9e3779b97f4a7c15n) & M64
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64
  z = z ^ (z >> 31n)
  const u = Number(z >> 11n) / 2 ** 53
  return 2 * u - 1
}

export interface RefRecipe {
  islands: number
  innerSteps: number
  innerLr: number
  outerLr: number
  keepFraction: number
}

const pos = (x: number) => (x > 0 ? x : 0)

export const trainLossRef = (r: RefRecipe, seed: bigint): number =>
  2.5 - 0.15 * Math.log(r.islands) + 0.08 * (r.islands / 16) +
  0.02 * pos(Math.log(r.innerSteps) - Math.log(32)) ** 2 +
  0.05 * (Math.log(r.innerLr) - Math.log(3e-3)) ** 2 +
  0.03 * (Math.log(r.outerLr) - Math.log(0.7)) ** 2 +
  0.02 * pos(Math.log(0.1) - Math.log(r.keepFraction)) ** 2 +
  0.005 * jitterRef((seed ^ 0x5151515151515151n) & M64)

export const gapRef = (r: RefRecipe): number =>
  0.05 + 0.05 * pos(Math.log(r.innerSteps) - Math.log(32)) + 0.05 * pos(Math.log(0.1) - Math.log(r.keepFraction))

export interface RefMeasurement {
  value: number
  ciLower: number
  ciUpper: number
  n: number
  cost: number
}

export const measureRef = (
  r: RefRecipe,
  seed: bigint,
  trainLoss: number,
  split: "dev" | "held-out",
  shards: number
): RefMeasurement => {
  const loss = trainLoss + (split === "held-out" ? gapRef(r) : 0)
  const word = split === "dev" ? 0xd0d0n : 0x4e1dn
  const samples: Array<number> = []
  for (let i = 0; i < shards; i++) {
    const mix = ((seed * 0x100000001b3n) & M64) ^ word ^ ((BigInt(i) * 0x9e3779b1n) & M64)
    samples.push(-(loss + 0.01 * jitterRef(mix)))
  }
  const mean = samples.reduce((a, b) => a + b, 0) / shards
  const variance = shards > 1 ? samples.reduce((a, x) => a + (x - mean) ** 2, 0) / (shards - 1) : 0
  const half = 1.96 * Math.sqrt(variance / shards)
  return { value: mean, ciLower: mean - half, ciUpper: mean + half, n: shards, cost: shards }
}
