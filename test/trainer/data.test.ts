import { createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import {
  decodeDataSpec,
  entropyRate,
  heldOutSeed,
  heldOutShards,
  type MarkovChain,
  markovChain,
  type MarkovSpec,
  markovWalk,
  openDataSource,
  stationaryDistribution
} from "../../src/trainer/DataSource.js"
import { DataInvalid } from "../../src/trainer/Errors.js"
import { deriveSeed, makeRng } from "../../src/trainer/Prng.js"

/** The referee's key for held-out shards in these tests. */
const SECRET = new Uint8Array(32).fill(7)

/** The success of an `Either`; a failure fails the test with the error itself. */
const right = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (error) => error)

const h = (ps: ReadonlyArray<number>): number => -ps.reduce((total, p) => total + (p > 0 ? p * Math.log(p) : 0), 0)

const markov = (order: number, alphabet: number, seed: bigint): MarkovSpec => ({ kind: "markov", order, alphabet, seed })

describe("entropy floor of Markov chains", () => {
  it("a two-state chain: stationary (5/6, 1/6), rate 5/6*H(0.9) + 1/6*ln 2", () => {
    // P(0|0) = 0.9, P(1|0) = 0.1, P(0|1) = P(1|1) = 0.5; balance 0.1*pi0 = 0.5*pi1
    const chain: MarkovChain = { order: 1, alphabet: 2, rows: Float64Array.of(0.9, 0.1, 0.5, 0.5) }
    const pi = stationaryDistribution(chain)
    assert.closeTo(pi[0] ?? NaN, 5 / 6, 1e-12)
    assert.closeTo(pi[1] ?? NaN, 1 / 6, 1e-12)
    const byHand = (5 / 6) * -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1)) + (1 / 6) * Math.log(2)
    assert.closeTo(entropyRate(chain), byHand, 1e-12)
  })

  it("a periodic chain (0 -> 1 -> 0) still converges: rate 0", () => {
    const chain: MarkovChain = { order: 1, alphabet: 2, rows: Float64Array.of(0, 1, 1, 0) }
    const pi = stationaryDistribution(chain)
    assert.closeTo(pi[0] ?? NaN, 0.5, 1e-12)
    assert.closeTo(entropyRate(chain), 0, 1e-12)
  })

  it("an order-2 chain whose next symbol is a XOR b with probability 0.8: every row has entropy H(0.8)", () => {
    // states (a, b) encode as 2a + b; row = [P(0), P(1)]
    const rows = new Float64Array(8)
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const x = a ^ b
        rows[(2 * a + b) * 2 + x] = 0.8
        rows[(2 * a + b) * 2 + (1 - x)] = 0.2
      }
    }
    assert.closeTo(entropyRate({ order: 2, alphabet: 2, rows }), h([0.8, 0.2]), 1e-12)
  })

  it("seeded chains: rows are distributions, the floor lies strictly between 0 and ln(alphabet)", () => {
    const chain = markovChain(markov(2, 8, 0n))
    for (let s = 0; s < 64; s++) {
      const row = chain.rows.subarray(s * 8, s * 8 + 8)
      assert.closeTo(row.reduce((a, b) => a + b, 0), 1, 1e-12)
      assert.isTrue(row.every((p) => p > 0))
    }
    const floor = entropyRate(chain)
    assert.isTrue(floor > 0.3 && floor < Math.log(8) - 0.5, `floor ${floor}`)
    assert.deepStrictEqual(markovChain(markov(2, 8, 0n)).rows, chain.rows)
    assert.notDeepEqual(markovChain(markov(2, 8, 1n)).rows, chain.rows)
  })

  it("empirical frequencies of a long held-out walk match the chain (the streams sample the chain)", () => {
    const spec = markov(1, 3, 5n)
    const chain = markovChain(spec)
    const [shard] = right(heldOutShards(spec, SECRET, 1, 200_000, 1))
    assert.isDefined(shard)
    const counts = new Float64Array(9)
    const tokens = shard?.tokens ?? new Int32Array(0)
    for (let t = 1; t < tokens.length; t++) counts[(tokens[t - 1] ?? 0) * 3 + (tokens[t] ?? 0)]! += 1
    for (let s = 0; s < 3; s++) {
      const total = counts[s * 3]! + counts[s * 3 + 1]! + counts[s * 3 + 2]!
      for (let c = 0; c < 3; c++) assert.closeTo(counts[s * 3 + c]! / total, chain.rows[s * 3 + c]!, 0.02)
    }
  })
})

const same = (a: Int32Array, b: Int32Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

describe("splits", () => {
  it("markov: train streams per island, dev and held-out shards are distinct seeded streams; held-out is reproducible", () => {
    const spec = markov(2, 8, 3n)
    const source = right(openDataSource(spec))
    const streams = [0, 1].map((island) => right(source.trainStream(7n, island, 2, 4)).nextBatch(256).targets)
    const dev = right(source.devShard(256, 4)).tokens.subarray(4)
    const held = right(heldOutShards(spec, SECRET, 3, 256, 4)).map((s) => s.tokens.subarray(4))
    const all = [...streams, dev, ...held]
    for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) assert.isFalse(same(all[i]!, all[j]!), `${i} vs ${j}`)
    const again = right(heldOutShards(spec, SECRET, 3, 256, 4))
    held.forEach((tokens, i) => assert.isTrue(same(tokens, again[i]?.tokens.subarray(4) ?? new Int32Array(0))))
    // a different run seed changes the training stream, never the held-out split
    assert.isFalse(same(streams[0]!, right(source.trainStream(8n, 0, 2, 4)).nextBatch(256).targets))
  })

  it("markov: a batch's contexts are the symbols before each target", () => {
    const source = right(openDataSource(markov(2, 8, 1n)))
    const batch = right(source.trainStream(0n, 0, 1, 3)).nextBatch(50)
    for (let b = 1; b < 50; b++) {
      // consecutive windows of one walk: the window of b ends with target b-1
      assert.strictEqual(batch.contexts[b * 3 + 2], batch.targets[b - 1])
      assert.strictEqual(batch.contexts[b * 3 + 1], batch.contexts[(b - 1) * 3 + 2])
    }
  })

  it("text: vocabulary from the file, disjoint train/dev/held-out regions", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trainer-text-"))
    const file = path.join(dir, "corpus.txt")
    // 1000 characters: train 0..799 uses only 'a'/'b', dev 800..899 only 'c', held-out 900..999 only 'd'
    const text = "ab".repeat(400) + "c".repeat(100) + "d".repeat(100)
    fs.writeFileSync(file, text)
    const source = right(openDataSource({ kind: "text", path: file }))
    assert.deepStrictEqual(source.vocabulary, ["a", "b", "c", "d"])
    assert.isUndefined(source.entropyFloor)
    for (let island = 0; island < 2; island++) {
      const batch = right(source.trainStream(1n, island, 2, 5)).nextBatch(500)
      assert.isTrue(batch.targets.every((t) => t <= 1) && batch.contexts.every((t) => t <= 1))
    }
    const dev = right(source.devShard(1000, 5))
    assert.isTrue(dev.tokens.every((t) => t === 2))
    assert.strictEqual(dev.tokens.length, 100)
    const held = right(heldOutShards({ kind: "text", path: file }, SECRET, 4, 1000, 5))
    assert.strictEqual(held.length, 4)
    for (const shard of held) {
      assert.isTrue(shard.tokens.every((t) => t === 3))
      assert.strictEqual(shard.tokens.length, 25)
    }
    const short = heldOutShards({ kind: "text", path: file }, SECRET, 4, 10, 64)
    assert.isTrue(Either.isLeft(short), "a held-out region shorter than the history must be refused")
    if (Either.isLeft(short)) {
      assert.instanceOf(short.left, DataInvalid)
      assert.strictEqual(short.left._tag, "DataInvalid")
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("data specs: defaults filled in, unknown fields and oversized tables rejected", () => {
    const ok = decodeDataSpec({ kind: "markov" })
    assert.isTrue(Either.isRight(ok))
    if (Either.isRight(ok)) assert.deepStrictEqual(ok.right, { kind: "markov", order: 2, alphabet: 8, seed: 0n })
    const typo = decodeDataSpec({ kind: "markov", ordr: 3 })
    assert.isTrue(Either.isLeft(typo))
    if (Either.isLeft(typo)) assert.include(typo.left.message, "ordr")
    assert.isTrue(Either.isLeft(decodeDataSpec({ kind: "markov", order: 8, alphabet: 256 })))
    assert.isTrue(Either.isLeft(decodeDataSpec({ kind: "markov", seed: "-1" })))
    assert.isTrue(Either.isLeft(decodeDataSpec({ kind: "markov", seed: "18446744073709551616" })))
  })
})

describe("held-out secrecy (SPEC §15.6)", () => {
  const spec = markov(2, 8, 3n)
  const chain = markovChain(spec)
  const stationary = stationaryDistribution(chain)
  /** What anyone who knows the data spec can generate: a walk of the public chain from a seed. */
  const walkFrom = (seed: bigint, length: number): Int32Array => {
    const next = markovWalk(chain, stationary, makeRng(seed))
    return Int32Array.from({ length }, () => next())
  }
  /** Share of positions where two token runs agree. */
  const agreement = (a: Int32Array, b: Int32Array): number => a.filter((x, i) => x === b[i]).length / a.length

  it("a trainer that knows the data spec and seed regenerates the unkeyed held-out shards; the scorer's differ", () => {
    // The attacker's generator is faithful: seeded the public way it regenerates the dev split exactly.
    const dev = right(right(openDataSource(spec)).devShard(512, 4)).tokens
    assert.isTrue(same(walkFrom(deriveSeed(spec.seed, "dev", 0), dev.length), dev))
    const held = right(heldOutShards(spec, SECRET, 8, 512, 4))
    // Its guesses: what held-out shard j was before it was keyed, (data seed, "held-out", j), and the dev walk.
    const guesses = [...Array.from({ length: 8 }, (_, j) => deriveSeed(spec.seed, "held-out", j)), deriveSeed(spec.seed, "dev", 0)]
    held.forEach((shard, i) => {
      for (const seed of guesses) {
        const guessed = walkFrom(seed, shard.tokens.length)
        assert.isFalse(same(guessed, shard.tokens), `shard ${i}`)
        // not even close: independent walks of this chain agree on about a third of positions
        assert.isBelow(agreement(guessed, shard.tokens), 0.6, `shard ${i}`)
      }
    })
  })

  it("shard i is the walk seeded by HMAC-SHA256(secret, source and i), recomputed with node:crypto", () => {
    const identity = "markov order=2 alphabet=8 seed=3"
    const held = right(heldOutShards(spec, SECRET, 3, 100, 4))
    held.forEach((shard, i) => {
      const mac = createHmac("sha256", SECRET).update(`trainmarket held-out\n${identity}\n${i}`).digest()
      const seed = mac.readBigUInt64BE(0)
      assert.strictEqual(heldOutSeed(SECRET, identity, i), seed)
      assert.isTrue(same(walkFrom(seed, shard.tokens.length), shard.tokens), `shard ${i}`)
    })
  })

  it("the same secret gives the same shards; another secret (one bit apart) gives other shards", () => {
    const copy = Uint8Array.from(SECRET)
    const first = right(heldOutShards(spec, SECRET, 6, 256, 4))
    const again = right(heldOutShards(spec, copy, 6, 256, 4))
    first.forEach((shard, i) => assert.isTrue(same(shard.tokens, again[i]!.tokens), `shard ${i}`))
    const flipped = Uint8Array.from(SECRET)
    flipped[31] = flipped[31]! ^ 1
    const other = right(heldOutShards(spec, flipped, 6, 256, 4))
    first.forEach((shard, i) => assert.isBelow(agreement(shard.tokens, other[i]!.tokens), 0.6, `shard ${i}`))
  })

  it("a secret shorter than 32 bytes is refused", () => {
    const short = heldOutShards(spec, new Uint8Array(16), 1, 10, 4)
    assert.isTrue(Either.isLeft(short) && short.left._tag === "DataInvalid" && short.left.message.includes("32 bytes"))
  })

  it("text: keyed windows stay inside their own slice of the held-out region, never in train or dev text", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "trainer-text-"))
    const file = path.join(dir, "corpus.txt")
    // train 0..799 'a'/'b', dev 800..899 'c', held-out 900..999: 100 distinct characters, so a window shows where it lies
    const heldOutText = Array.from({ length: 100 }, (_, k) => String.fromCodePoint(0x100 + k)).join("")
    fs.writeFileSync(file, "ab".repeat(400) + "c".repeat(100) + heldOutText)
    const data = { kind: "text", path: file } as const
    const vocabulary = right(openDataSource(data)).vocabulary ?? []
    /** Where each shard's window starts inside the held-out region (its first character's index there). */
    const starts = (secret: Uint8Array): Array<number> =>
      right(heldOutShards(data, secret, 4, 10, 5)).map((shard, i) => {
        const chars = Array.from(shard.tokens, (t) => vocabulary[t] ?? "")
        assert.strictEqual(chars.length, 15)
        const start = heldOutText.indexOf(chars.join(""))
        assert.isAtLeast(start, 0, `shard ${i} is one contiguous window of the held-out region`)
        // shard i owns characters 25i..25i+24 of the held-out region
        assert.isTrue(start >= 25 * i && start + 15 <= 25 * (i + 1), `shard ${i} starts at ${start}`)
        return start
      })
    const keyed = starts(SECRET)
    assert.deepStrictEqual(starts(Uint8Array.from(SECRET)), keyed)
    const others = [1, 2, 3].map((b) => starts(new Uint8Array(32).fill(b)))
    assert.isTrue(others.some((s) => s.join() !== keyed.join()), "other secrets choose other windows")
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
