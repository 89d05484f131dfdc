/**
 * Training and evaluation data for the CPU trainer, with disjoint splits.
 *
 * The default source is a seeded order-k Markov chain over a small alphabet: its
 * entropy rate is computed exactly, so the best achievable held-out loss (the
 * entropy floor) is known and reported beside every result. A UTF-8 text file is the
 * other source. Train streams (one per island), the dev stream and the held-out
 * shards never overlap: for the chain they are independent seeded walks derived from
 * (data seed, split, index); for text they are disjoint regions of the file. The
 * held-out split is reached only through `heldOutShards`, which the trainer never
 * calls: it belongs to the referee, and it is keyed (SPEC §15.6). Its walks (Markov)
 * and window offsets (text) are seeded by HMAC-SHA256 under the referee's secret, so
 * knowing the data seed is not enough to generate the held-out text.
 */
import * as fs from "node:fs"
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { intIn } from "../domain/Checks.js"
import { U64_MAX } from "../domain/Money.js"
import { DataInvalid } from "./Errors.js"
import { deriveSeed, makeRng, type Rng } from "./Prng.js"


/** An unsigned 64-bit integer written as a decimal string in JSON (it exceeds 2^53). */
export const U64 = Schema.transformOrFail(Schema.String, Schema.BigIntFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    /^(0|[1-9][0-9]{0,19})$/.test(text) && BigInt(text) <= U64_MAX
      ? ParseResult.succeed(BigInt(text))
      : ParseResult.fail(new ParseResult.Type(ast, text, "must be an unsigned 64-bit integer as a decimal string")),
  encode: (value, _, ast) =>
    value >= 0n && value <= U64_MAX
      ? ParseResult.succeed(value.toString())
      : ParseResult.fail(new ParseResult.Type(ast, value, "must be an unsigned 64-bit integer"))
}).annotations({ identifier: "U64" })


/** Largest transition table (alphabet^(order+1) entries) a Markov source may have. */
export const MAX_MARKOV_TABLE = 65536

/** The synthetic source: an order-k Markov chain over `alphabet` symbols with seeded transition rows. */
export const MarkovSpec = Schema.Struct({
  kind: Schema.Literal("markov"),
  order: Schema.optionalWith(intIn(1, 8, "order"), { default: () => 2 }),
  alphabet: Schema.optionalWith(intIn(2, 256, "alphabet"), { default: () => 8 }),
  seed: Schema.optionalWith(U64, { default: () => 0n })
}).pipe(
  Schema.filter(
    (spec) =>
      spec.alphabet ** (spec.order + 1) <= MAX_MARKOV_TABLE ||
      `alphabet^(order+1) must be at most ${MAX_MARKOV_TABLE} (the transition table is held in memory)`
  )
)
export type MarkovSpec = typeof MarkovSpec.Type

/** A UTF-8 text file: characters (code points) are the vocabulary; 80/10/10 train/dev/held-out regions. */
export const TextSpec = Schema.Struct({
  kind: Schema.Literal("text"),
  path: Schema.String.pipe(Schema.minLength(1, { message: () => "path must be a non-empty string" }))
})
export type TextSpec = typeof TextSpec.Type

/** Where the trainer's and the referee's tokens come from. */
export const DataSpec = Schema.Union(MarkovSpec, TextSpec).annotations({ identifier: "DataSpec" })
export type DataSpec = typeof DataSpec.Type
/** The JSON form of a data spec (seed as a decimal string). */
export type DataSpecJson = typeof DataSpec.Encoded

/** The data spec used when a run config names none. */
export const defaultDataSpec: DataSpec = { kind: "markov", order: 2, alphabet: 8, seed: 0n }

/** Validate a data spec from JSON (unknown fields rejected). */
export const decodeDataSpec = (input: unknown): Either.Either<DataSpec, DataInvalid> =>
  Schema.decodeUnknownEither(DataSpec, { onExcessProperty: "error", errors: "all" })(input).pipe(
    Either.mapLeft((error) => new DataInvalid({ message: `invalid data spec: ${formatParseError(error)}` }))
  )

/** The JSON form of a data spec, as stored in checkpoint metadata. */
export const encodeDataSpec = (spec: DataSpec): DataSpecJson => Schema.encodeSync(DataSpec)(spec)

/** One line per schema issue, `path: message`, for error messages a user can act on. */
export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)"
      if (issue._tag === "Unexpected") return `${where}: unknown field`
      if (issue._tag === "Missing") return `${where}: is missing`
      return `${where}: ${issue.message}`
    })
    .join("; ")

// ---------------------------------------------------------------------------
// Markov chains

/** An order-k chain: `rows[s * alphabet + c]` = P(next = c | last k symbols encode to s in base alphabet). */
export interface MarkovChain {
  readonly order: number
  readonly alphabet: number
  readonly rows: Float64Array
}

/** Number of states (k-grams) of a chain. */
export const stateCount = (chain: MarkovChain): number => chain.alphabet ** chain.order

/** Share of each row spread uniformly, so every transition is possible and the chain is ergodic. */
const UNIFORM_MIX = 0.01

/**
 * The chain of a Markov spec. Row weights are u^8 for uniform u: a few symbols carry
 * most of each row's mass, so the chain is learnable and its entropy rate sits well
 * below ln(alphabet); powers by repeated squaring keep the table bit-identical on any
 * engine.
 */
export const markovChain = (spec: MarkovSpec): MarkovChain => {
  const a = spec.alphabet
  const states = a ** spec.order
  const rng = makeRng(deriveSeed(spec.seed, "markov-rows", spec.order, a))
  const rows = new Float64Array(states * a)
  for (let s = 0; s < states; s++) {
    let total = 0
    for (let c = 0; c < a; c++) {
      const u = rng.nextFloat()
      const u2 = u * u
      const u4 = u2 * u2
      const w = u4 * u4
      rows[s * a + c] = w
      total += w
    }
    for (let c = 0; c < a; c++) {
      const w = rows[s * a + c]!
      rows[s * a + c] = total > 0 ? (1 - UNIFORM_MIX) * (w / total) + UNIFORM_MIX / a : 1 / a
    }
  }
  return { order: spec.order, alphabet: a, rows }
}

/**
 * Stationary distribution over k-gram states, by power iteration on the lazy chain
 * (P + I)/2: same fixed point, and aperiodic, so the iteration converges.
 */
export const stationaryDistribution = (chain: MarkovChain): Float64Array => {
  const a = chain.alphabet
  const states = stateCount(chain)
  let pi = new Float64Array(states).fill(1 / states)
  let next = new Float64Array(states)
  for (let iteration = 0; iteration < 200_000; iteration++) {
    next.fill(0)
    for (let s = 0; s < states; s++) {
      const mass = pi[s]!
      if (mass === 0) continue
      const base = (s * a) % states
      for (let c = 0; c < a; c++) next[base + c] = next[base + c]! + mass * chain.rows[s * a + c]!
    }
    let total = 0
    let change = 0
    for (let s = 0; s < states; s++) {
      const v = 0.5 * (pi[s]! + next[s]!)
      change += Math.abs(v - pi[s]!)
      next[s] = v
      total += v
    }
    for (let s = 0; s < states; s++) next[s] = next[s]! / total
    const swap = pi
    pi = next
    next = swap
    if (change < 1e-15) break
  }
  return pi
}

/**
 * Entropy rate in nats per symbol: sum over states of stationary mass times the
 * entropy of that state's row. No predictor can beat it on average, so it is the
 * floor for held-out cross-entropy.
 */
export const entropyRate = (chain: MarkovChain): number => {
  const a = chain.alphabet
  const pi = stationaryDistribution(chain)
  let rate = 0
  for (let s = 0; s < pi.length; s++) {
    let h = 0
    for (let c = 0; c < a; c++) {
      const p = chain.rows[s * a + c]!
      if (p > 0) h -= p * Math.log(p)
    }
    rate += pi[s]! * h
  }
  return rate
}

/**
 * An endless walk of a chain driven by `rng`, started from its stationary
 * distribution: every split of the Markov source is one (the split decides the seed).
 */
export const markovWalk = (chain: MarkovChain, stationary: Float64Array, rng: Rng): (() => number) => {
  const a = chain.alphabet
  const states = stationary.length
  const pending: Array<number> = []
  let u = rng.nextFloat()
  let state = states - 1
  for (let s = 0; s < states; s++) {
    u -= stationary[s]!
    if (u < 0) {
      state = s
      break
    }
  }
  for (let i = chain.order - 1, rest = state; i >= 0; i--, rest = Math.floor(rest / a)) pending[i] = rest % a
  return () => {
    const queued = pending.shift()
    if (queued !== undefined) return queued
    let v = rng.nextFloat()
    let c = a - 1
    const base = state * a
    for (let j = 0; j < a; j++) {
      v -= chain.rows[base + j]!
      if (v < 0) {
        c = j
        break
      }
    }
    state = (state * a + c) % states
    return c
  }
}

// ---------------------------------------------------------------------------
// Sources, batches, shards

/** A training batch: `contexts[b * context + j]` is the j-th of the `context` symbols before target b. */
export interface Batch {
  readonly size: number
  readonly context: number
  readonly contexts: Int32Array
  readonly targets: Int32Array
}

/** An island's endless training stream. */
export interface TrainStream {
  readonly nextBatch: (batchSize: number) => Batch
}

/**
 * A run of tokens for evaluation: every position from `history` on is a target, and
 * the `history` tokens before the first target give it a full context window. A
 * model with context C <= history predicts `tokens.length - history` targets.
 */
export interface Shard {
  readonly tokens: Int32Array
  readonly history: number
}

/** History carried by held-out shards by default: the largest context a run config allows. */
export const MAX_CONTEXT = 64

/** A data source opened from its spec. */
export interface DataSource {
  readonly spec: DataSpec
  readonly vocabSize: number
  /** The characters of a text source's vocabulary, by token id; absent for the Markov source. */
  readonly vocabulary: ReadonlyArray<string> | undefined
  /** Entropy rate in nats per symbol when it is known exactly (the Markov source). */
  readonly entropyFloor: number | undefined
  /**
   * Island `island` of `islands`: a stream no other island, the dev split or the
   * held-out split sees (`DataInvalid` when a text file is too short for it).
   */
  readonly trainStream: (
    runSeed: bigint,
    island: number,
    islands: number,
    context: number
  ) => Either.Either<TrainStream, DataInvalid>
  /** The dev split: up to `targets` targets with `context` tokens of history. */
  readonly devShard: (targets: number, context: number) => Either.Either<Shard, DataInvalid>
  /**
   * The held-out split (the referee's): `count` shards of up to `targets` targets each,
   * chosen under `secret` (see `heldOutSeed`).
   */
  readonly heldOutShards: (
    secret: Uint8Array,
    count: number,
    targets: number,
    history: number
  ) => Either.Either<ReadonlyArray<Shard>, DataInvalid>
}

/** Fewest bytes a held-out secret may have (the operator's key has 32). */
export const MIN_SECRET_BYTES = 32

/**
 * The seed of held-out shard `shard` of the source named `identity`: the first 8
 * bytes, big-endian, of HMAC-SHA256(secret, "trainmarket held-out\n" + identity +
 * "\n" + shard). Without the secret the seed cannot be computed, whatever is known
 * about the source.
 */
export const heldOutSeed = (secret: Uint8Array, identity: string, shard: number): bigint => {
  const mac = hmac(sha256, secret, new TextEncoder().encode(`trainmarket held-out\n${identity}\n${shard}`))
  let seed = 0n
  for (const byte of mac.subarray(0, 8)) seed = (seed << 8n) | BigInt(byte)
  return seed
}

const windowStream = (context: number, next: () => number): TrainStream => {
  const window: Array<number> = []
  for (let i = 0; i < context; i++) window.push(next())
  return {
    nextBatch: (batchSize) => {
      const contexts = new Int32Array(batchSize * context)
      const targets = new Int32Array(batchSize)
      for (let b = 0; b < batchSize; b++) {
        for (let j = 0; j < context; j++) contexts[b * context + j] = window[j]!
        const target = next()
        targets[b] = target
        window.push(target)
        window.shift()
      }
      return { size: batchSize, context, contexts, targets }
    }
  }
}

const walkShard = (walk: () => number, history: number, targets: number): Shard => {
  const tokens = new Int32Array(history + targets)
  for (let i = 0; i < tokens.length; i++) tokens[i] = walk()
  return { tokens, history }
}

const openMarkov = (spec: MarkovSpec): DataSource => {
  const chain = markovChain(spec)
  const stationary = stationaryDistribution(chain)
  const floor = entropyRate(chain)
  const walkFor = (...path: ReadonlyArray<string | number | bigint>) =>
    markovWalk(chain, stationary, makeRng(deriveSeed(spec.seed, ...path)))
  return {
    spec,
    vocabSize: spec.alphabet,
    vocabulary: undefined,
    entropyFloor: floor,
    trainStream: (runSeed, island, _islands, context) =>
      Either.right(windowStream(context, walkFor("train", runSeed, island))),
    devShard: (targets, context) => Either.right(walkShard(walkFor("dev", 0), context, targets)),
    // The chain (the task) is public; which walks are held out is the secret's.
    heldOutShards: (secret, count, targets, history) => {
      const identity = `markov order=${spec.order} alphabet=${spec.alphabet} seed=${spec.seed}`
      return Either.right(
        Array.from({ length: count }, (_, i) =>
          walkShard(markovWalk(chain, stationary, makeRng(heldOutSeed(secret, identity, i))), history, targets)
        )
      )
    }
  }
}

interface TextRegions {
  readonly tokens: Int32Array
  readonly vocabulary: ReadonlyArray<string>
  readonly trainEnd: number
  readonly devEnd: number
}

const readTextFile = (path: string): Either.Either<string, DataInvalid> => {
  try {
    return Either.right(fs.readFileSync(path, "utf8"))
  } catch (error) {
    return Either.left(new DataInvalid({ message: `cannot read text file ${path}: ${String(error)}` }))
  }
}

const readText = (spec: TextSpec): Either.Either<TextRegions, DataInvalid> =>
  Either.flatMap(readTextFile(spec.path), (text) => {
    const chars = Array.from(text)
    const vocabulary = [...new Set(chars)].sort((x, y) => (x.codePointAt(0) ?? 0) - (y.codePointAt(0) ?? 0))
    if (vocabulary.length < 2) {
      return Either.left(new DataInvalid({ message: `text file ${spec.path} has fewer than 2 distinct characters` }))
    }
    const ids = new Map(vocabulary.map((ch, i) => [ch, i] as const))
    const tokens = Int32Array.from(chars, (ch) => ids.get(ch) ?? 0)
    return Either.right({
      tokens,
      vocabulary,
      trainEnd: Math.floor(tokens.length * 0.8),
      devEnd: Math.floor(tokens.length * 0.9)
    })
  })

/** A text's token ids as little-endian 32-bit integers: the same bytes on every machine. */
const tokenBytes = (tokens: Int32Array): Uint8Array => {
  const bytes = new Uint8Array(tokens.length * 4)
  const view = new DataView(bytes.buffer)
  tokens.forEach((token, i) => view.setInt32(i * 4, token, true))
  return bytes
}

const openText = (spec: TextSpec): Either.Either<DataSource, DataInvalid> =>
  Either.map(readText(spec), (regions) => textSource(spec, regions))

const textSource = (spec: TextSpec, { devEnd, tokens, trainEnd, vocabulary }: TextRegions): DataSource => {
  const region = (
    from: number,
    to: number,
    history: number,
    targets: number,
    what: string
  ): Either.Either<Shard, DataInvalid> => {
    const available = to - from - history
    if (available < 1) {
      return Either.left(
        new DataInvalid({
          message: `text file ${spec.path} is too short: the ${what} region holds ${to - from} characters, needs more than ${history}`
        })
      )
    }
    return Either.right({ tokens: tokens.slice(from, from + history + Math.min(targets, available)), history })
  }
  return {
    spec,
    vocabSize: vocabulary.length,
    vocabulary,
    entropyFloor: undefined,
    trainStream: (runSeed, island, islands, context) => {
      const lo = Math.floor((island * trainEnd) / islands)
      const hi = Math.floor(((island + 1) * trainEnd) / islands)
      if (hi - lo <= context) {
        return Either.left(
          new DataInvalid({
            message: `text file ${spec.path} is too short: ${islands} islands leave ${hi - lo} training characters each, context needs more than ${context}`
          })
        )
      }
      const rng = makeRng(deriveSeed(0n, "text-train", runSeed, island))
      return Either.right({
        nextBatch: (batchSize) => {
          const contexts = new Int32Array(batchSize * context)
          const targets = new Int32Array(batchSize)
          for (let b = 0; b < batchSize; b++) {
            const at = lo + context + rng.nextInt(hi - lo - context)
            contexts.set(tokens.subarray(at - context, at), b * context)
            targets[b] = tokens[at]!
          }
          return { size: batchSize, context, contexts, targets }
        }
      })
    },
    devShard: (targets, context) => region(trainEnd, devEnd, context, targets, "dev"),
    // One slice of the held-out region per shard; within it, a window at an offset
    // drawn under the secret (the whole slice when the shard asks for all of it).
    heldOutShards: (secret, count, targets, history) => {
      const length = tokens.length - devEnd
      const identity = `text sha256=${bytesToHex(sha256(tokenBytes(tokens)))}`
      return Either.all(
        Array.from({ length: count }, (_, i) => {
          const from = devEnd + Math.floor((i * length) / count)
          const to = devEnd + Math.floor(((i + 1) * length) / count)
          const spare = Math.max(0, to - from - history - targets)
          const offset = spare === 0 ? 0 : makeRng(heldOutSeed(secret, identity, i)).nextInt(spare + 1)
          return region(from + offset, to, history, targets, `held-out shard ${i}`)
        })
      )
    }
  }
}

/** Open a data source (reads a text file synchronously; `DataInvalid` when it cannot be read or used). */
export const openDataSource = (spec: DataSpec): Either.Either<DataSource, DataInvalid> =>
  spec.kind === "markov" ? Either.right(openMarkov(spec)) : openText(spec)

/**
 * The referee's held-out shards of a data spec, chosen under `secret` (the operator's
 * key, at least `MIN_SECRET_BYTES` bytes; SPEC §15.6): `shardCount` shards of
 * `tokensPerShard` targets (fewer when a text file's held-out region is short), each
 * preceded by `history` tokens of context (default `MAX_CONTEXT`; pass the model's
 * context to spend less text on it). The same secret always gives the same shards.
 * Markov: walks of the public chain seeded by `heldOutSeed`, so a trainer that knows
 * the data seed cannot regenerate them. Text: windows at keyed offsets inside the
 * file's last 10%, which is not secret from anyone who can read the file. `DataInvalid`
 * for a bad request, a short secret or unusable data.
 */
export const heldOutShards = (
  spec: DataSpec,
  secret: Uint8Array,
  shardCount: number,
  tokensPerShard: number,
  history: number = MAX_CONTEXT
): Either.Either<ReadonlyArray<Shard>, DataInvalid> => {
  if (secret.length < MIN_SECRET_BYTES) {
    return Either.left(new DataInvalid({ message: `the held-out secret must have at least ${MIN_SECRET_BYTES} bytes, has ${secret.length}` }))
  }
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    return Either.left(new DataInvalid({ message: "shardCount must be an integer >= 1" }))
  }
  if (!Number.isInteger(tokensPerShard) || tokensPerShard < 1) {
    return Either.left(new DataInvalid({ message: "tokensPerShard must be an integer >= 1" }))
  }
  if (!Number.isInteger(history) || history < 0) {
    return Either.left(new DataInvalid({ message: "history must be an integer >= 0" }))
  }
  return Either.flatMap(openDataSource(spec), (source) => source.heldOutShards(secret, shardCount, tokensPerShard, history))
}

/**
 * A training data spec in its JSON form (`{"kind":"markov","order":2,"alphabet":8,"seed":"0"}`
 * or `{"kind":"text","path":"corpus.txt"}`), checked in full by the trainer's own decoder.
 */
export const DataOption = Schema.encodedBoundSchema(DataSpec).pipe(
  Schema.filter((input) => Either.match(decodeDataSpec(input), { onLeft: (error) => error.message, onRight: () => true }))
)
export type DataOption = typeof DataOption.Type
