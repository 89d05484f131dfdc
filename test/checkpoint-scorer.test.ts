/**
 * The checkpoint scorer: it evaluates the weights in an artifact's checkpoint on its
 * own held-out (or dev) shards and summarises them as SPEC §4 says. Expected values
 * are derived by hand: a model with all-zero weights predicts the uniform distribution
 * (exactly ln V nats per token); a model with only an output bias predicts a fixed
 * distribution q, so its loss is the mean of -ln q over the shard's targets, whatever
 * the context; and a checkpoint trained for real closes most of the gap between the
 * uniform guess and the source's entropy floor.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Schema } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Prime from "../src/cluster/PrimeCluster.js"
import * as Psyche from "../src/cluster/PsycheCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import type { TrainedArtifact } from "../src/domain/Artifact.js"
import type { Split } from "../src/domain/Measurement.js"
import * as CheckpointScorer from "../src/scorer/CheckpointScorer.js"
import { Scorer } from "../src/scorer/Scorer.js"
import * as ScorerSpec from "../src/scorer/ScorerSpec.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { entropyRate, heldOutShards, markovChain, openDataSource } from "../src/trainer/DataSource.js"
import { tempDir } from "./fixtures/standins.js"
import { markov, model, writeModel } from "./support/checkpoints.js"
import { sha256Hex, signed, signedCheckpoint, TestKey, testKey } from "./support/keys.js"

const HISTORY = 64

/** A cpu-diloco artifact naming `checkpoint` (unsigned: what a researcher could write by hand). */
const unsignedArtifact = (checkpoint: string | undefined, trainLoss = 1): TrainedArtifact => ({
  recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 },
  trainSeed: 0n,
  trainLoss,
  clusterId: "cpu-diloco",
  ...(checkpoint === undefined ? {} : { checkpoint })
})

/** The same artifact as the cluster returns it: the checkpoint's hash and a receipt under the operator key (SPEC §15.1). */
const artifact = (checkpoint: string | undefined, trainLoss = 1): TrainedArtifact =>
  signedCheckpoint(unsignedArtifact(checkpoint, trainLoss))

/** The referee's key in these tests (not the all-zero placeholder, so a scorer that ignored it would show). */
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i)

/** A scorer's settings; the secret is `SECRET` unless given. */
type Settings = Omit<CheckpointScorer.CheckpointScorerOptions, "secret"> & { readonly secret?: Uint8Array }

const measureWith = (options: Settings, a: TrainedArtifact, split: Split = "held-out") =>
  Effect.flatMap(Scorer, (scorer) => scorer.measure(a, split)).pipe(
    Effect.provide(CheckpointScorer.layerWith({ secret: SECRET, ...options })),
    Effect.provide(TestKey),
    Effect.provide(NodeContext.layer)
  )

/** SPEC §4 from per-shard losses, written out independently of the scorer. */
const expectedFromLosses = (losses: ReadonlyArray<number>) => {
  const n = losses.length
  const samples = losses.map((l) => -l)
  let sum = 0
  for (const s of samples) sum += s
  const mean = sum / n
  let sq = 0
  for (const s of samples) sq += (s - mean) ** 2
  const se = n > 1 ? Math.sqrt(sq / (n - 1) / n) : 0
  return { value: mean, ciLower: mean - 1.96 * se, ciUpper: mean + 1.96 * se, n }
}

/** Mean of -ln q[target] over a shard's targets, for a context-free model with logits `bias`. */
const biasLoss = (bias: ReadonlyArray<number>, tokens: Int32Array, history: number): number => {
  const logits = bias.map((b) => Math.fround(b))
  const max = Math.max(...logits)
  const lse = max + Math.log(logits.reduce((s, b) => s + Math.exp(b - max), 0))
  let total = 0
  for (let i = history; i < tokens.length; i++) total += lse - (logits[tokens[i] ?? 0] ?? 0)
  return total / (tokens.length - history)
}

/** A peaked, fixed next-symbol distribution as logits. */
const BIAS = [2, -1, 0.5, 1.25, -0.75, 0, 3, -2]

describe("checkpoint scorer: known checkpoints (hand-derived values)", () => {
  it.effect("all-zero weights score exactly -ln 8 on every shard, with a zero-width interval", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-zero")
      const m = yield* measureWith({}, artifact(writeModel(path.join(dir, "zero.safetensors"))))
      assert.closeTo(m.value, -Math.log(8), 1e-12)
      assert.closeTo(m.ciLower, -Math.log(8), 1e-12)
      assert.closeTo(m.ciUpper, -Math.log(8), 1e-12)
      assert.strictEqual(m.n, 16)
      // cost: tokens evaluated, 16 shards x 1024 targets
      assert.strictEqual(m.cost, 16 * 1024)
    }))

  it.effect("a bias-only model: per-shard losses from its fixed distribution, summarised as SPEC §4", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-bias")
      const file = writeModel(path.join(dir, "bias.safetensors"), { bias: BIAS })
      const shards = yield* heldOutShards(markov, SECRET, 12, 256, HISTORY)
      const expected = expectedFromLosses(shards.map((s) => biasLoss(BIAS, s.tokens, s.history)))
      const m = yield* measureWith({ shards: 12, tokensPerShard: 256 }, artifact(file))
      assert.closeTo(m.value, expected.value, 1e-9)
      assert.closeTo(m.ciLower, expected.ciLower, 1e-9)
      assert.closeTo(m.ciUpper, expected.ciUpper, 1e-9)
      assert.isAbove(m.ciUpper - m.ciLower, 0)
      assert.strictEqual(m.n, 12)
      assert.strictEqual(m.cost, 12 * 256)
    }))

  it.effect("the dev split is scored on the dev stream, cut into consecutive shards", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-dev")
      const file = writeModel(path.join(dir, "bias.safetensors"), { bias: BIAS })
      const shardCount = 4
      const perShard = 200
      const walk = (yield* Either.flatMap(openDataSource(markov), (source) => source.devShard(shardCount * perShard, HISTORY))).tokens
      const losses = Array.from({ length: shardCount }, (_, i) =>
        biasLoss(BIAS, walk.slice(i * perShard, HISTORY + (i + 1) * perShard), HISTORY)
      )
      const expected = expectedFromLosses(losses)
      const dev = yield* measureWith({ shards: shardCount, tokensPerShard: perShard }, artifact(file), "dev")
      const heldOut = yield* measureWith({ shards: shardCount, tokensPerShard: perShard }, artifact(file), "held-out")
      assert.closeTo(dev.value, expected.value, 1e-9)
      assert.closeTo(dev.ciLower, expected.ciLower, 1e-9)
      assert.notStrictEqual(dev.value, heldOut.value)
    }))

  it.effect("the trainer's reported loss is never read: same checkpoint, different claims, same measurement", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-claim")
      const file = writeModel(path.join(dir, "bias.safetensors"), { bias: BIAS })
      const honest = yield* measureWith({ shards: 12, tokensPerShard: 128 }, artifact(file, 2.5))
      const boastful = yield* measureWith({ shards: 12, tokensPerShard: 128 }, artifact(file, 0.0001))
      assert.deepStrictEqual(honest, boastful)
    }))

  it.effect("held-out shards are the secret's (SPEC §15.6): the same secret measures the same, another secret other shards", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-secret")
      const file = writeModel(path.join(dir, "bias.safetensors"), { bias: BIAS })
      const settings = { shards: 12, tokensPerShard: 128 }
      const keyed = yield* measureWith(settings, artifact(file))
      const again = yield* measureWith({ ...settings, secret: Uint8Array.from(SECRET) }, artifact(file))
      assert.deepStrictEqual(again, keyed)
      const other = yield* measureWith({ ...settings, secret: testKey }, artifact(file))
      assert.notStrictEqual(other.value, keyed.value)
      const expected = expectedFromLosses(
        (yield* heldOutShards(markov, testKey, 12, 128, HISTORY)).map((s) => biasLoss(BIAS, s.tokens, s.history))
      )
      assert.closeTo(other.value, expected.value, 1e-9)
      const short = yield* Effect.flip(measureWith({ ...settings, secret: new Uint8Array(31) }, artifact(file)))
      assert.strictEqual(short._tag, "ScorerInvalid")
      assert.include(short.message, "32 bytes")
    }))

  it.effect("a text source: zero weights score -ln V over the file's V distinct characters", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-text")
      const corpus = path.join(dir, "corpus.txt")
      const line = "the quick brown fox jumps over the lazy dog\n"
      fs.writeFileSync(corpus, line.repeat(500))
      const vocabulary = [...new Set(Array.from(line))].sort()
      const file = writeModel(path.join(dir, "text.safetensors"), {
        config: { ...model, vocab: vocabulary.length },
        vocabulary,
        data: { kind: "text", path: corpus }
      })
      const m = yield* measureWith({ shards: 4, tokensPerShard: 32, data: { kind: "text", path: corpus } }, artifact(file))
      assert.closeTo(m.value, -Math.log(vocabulary.length), 1e-12)
      assert.strictEqual(m.n, 4)
      assert.strictEqual(m.cost, 4 * 32)
    }))

  it("the summary follows SPEC §4 for any samples", () =>
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (samples, cost) => {
          const m = CheckpointScorer.summarize(samples, cost)
          const expected = expectedFromLosses(samples.map((s) => -s))
          const scale = 1e-9 * (1 + Math.max(...samples.map(Math.abs)))
          assert.closeTo(m.value, expected.value, scale)
          assert.closeTo(m.ciLower, expected.ciLower, scale)
          assert.closeTo(m.ciUpper, expected.ciUpper, scale)
          assert.strictEqual(m.n, samples.length)
          assert.strictEqual(m.cost, cost)
        }
      )
    ))
})

describe("checkpoint scorer: refusals and bad checkpoints", () => {
  it.effect("an artifact without a checkpoint is refused (ScorerRefused)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(measureWith({}, artifact(undefined)))
      assert.strictEqual(error._tag, "ScorerRefused")
      assert.include(error.message, "no checkpoint")
    }))

  it.effect("the simulated scorer refuses an artifact that carries a checkpoint", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.flatMap(Scorer, (s) => s.measure(signed(unsignedArtifact("/tmp/model.safetensors")), "held-out")).pipe(
          Effect.provide(SimHeldOut.layer),
          Effect.provide(TestKey)
        )
      )
      assert.strictEqual(error._tag, "ScorerRefused")
    }))

  it.effect("the simulated scorer refuses a real backend's artifact even with its checkpoint field removed", () =>
    Effect.gen(function*() {
      const scorer = yield* Effect.provide(Scorer, SimHeldOut.layer).pipe(Effect.provide(TestKey))
      const real = [
        CpuDiloco.clusterId,
        Prime.clusterId,
        Psyche.clusterId,
        `sealed(${Prime.clusterId})`,
        `hierarchical[sync=4](local-sim,sealed(${CpuDiloco.clusterId}))`
      ]
      for (const clusterId of real) {
        const error = yield* Effect.flip(scorer.measure(signed({ ...unsignedArtifact(undefined), clusterId }), "held-out"))
        assert.strictEqual(error._tag, "ScorerRefused", clusterId)
      }
      // simulated compositions, and ids that merely contain a backend's name, are scored
      // (with the loss the simulator gives its recipe and seed: the referee recomputes a local-sim artifact's loss)
      const simulated = LocalSim.trainUnchecked(unsignedArtifact(undefined).recipe, 0n)
      for (const clusterId of ["local-sim", "hierarchical[sync=4](local-sim,sealed(local-sim))", "primed-double"]) {
        const measured = yield* scorer.measure(signed({ ...simulated, clusterId }), "held-out")
        assert.strictEqual(measured.n, SimHeldOut.DEFAULT_SHARDS, clusterId)
      }
    }))

  it.effect("a garbled or self-contradicting checkpoint is CheckpointMalformed; a vanished one is ProvenanceInvalid", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-bad")
      // a checkpoint gone since its cluster hashed it: its bytes changed (SPEC §15.1), nothing is measured
      const absent = path.join(dir, "absent.safetensors")
      const missing = yield* Effect.flip(
        measureWith({}, signed({ ...unsignedArtifact(absent), checkpointSha256: sha256Hex("") }))
      )
      assert.strictEqual(missing._tag, "ProvenanceInvalid")
      assert.include(missing.message, "cannot be read")
      const garbled = path.join(dir, "garbled.safetensors")
      fs.writeFileSync(garbled, "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
      const bad = yield* Effect.flip(measureWith({}, artifact(garbled)))
      assert.strictEqual(bad._tag, "CheckpointMalformed")
      // says it was trained on the scorer's 8-symbol chain, but its weights cover 5 symbols
      const five = writeModel(path.join(dir, "five.safetensors"), { config: { ...model, vocab: 5 } })
      const contradicting = yield* Effect.flip(measureWith({}, artifact(five)))
      assert.strictEqual(contradicting._tag, "CheckpointMalformed")
      assert.include(contradicting.message, "vocabulary")
    }))

  it.effect("a checkpoint trained on another data source than the scorer holds out is refused (ScorerRefused)", () =>
    Effect.gen(function*() {
      const dir = tempDir("ckpt-source")
      const eight = writeModel(path.join(dir, "eight.safetensors"))
      // the same alphabet (so the weights would load) but another chain: scoring it would measure another task
      for (const data of [
        { kind: "markov" as const, alphabet: 8, order: 2, seed: "99" },
        { kind: "markov" as const, alphabet: 8, order: 3, seed: "0" },
        { kind: "markov" as const, alphabet: 5, order: 2, seed: "0" }
      ]) {
        const refused = yield* Effect.flip(measureWith({ data }, artifact(eight)))
        assert.strictEqual(refused._tag, "ScorerRefused")
        assert.include(refused.message, "was trained on")
      }
      const corpus = path.join(dir, "corpus.txt")
      fs.writeFileSync(corpus, "abcdefgh".repeat(2000))
      const text = yield* Effect.flip(measureWith({ data: { kind: "text", path: corpus } }, artifact(eight)))
      assert.strictEqual(text._tag, "ScorerRefused")
    }))

  it.effect("impossible settings are ScorerInvalid; the spec's shards default to the file's evalShards", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(measureWith({ shards: 0 }, artifact(undefined)))
      assert.strictEqual(zero._tag, "ScorerInvalid")
      const tokens = yield* Effect.flip(measureWith({ tokensPerShard: 1.5 }, artifact(undefined)))
      assert.strictEqual(tokens._tag, "ScorerInvalid")
      // a text file whose held-out region (its last 10%: 30 characters) cannot hold 64 tokens of history
      const dir = tempDir("ckpt-short")
      fs.writeFileSync(path.join(dir, "short.txt"), "abc".repeat(100))
      const short = yield* Effect.flip(
        measureWith({ shards: 2, data: { kind: "text", path: path.join(dir, "short.txt") } }, artifact(undefined))
      )
      assert.strictEqual(short._tag, "ScorerInvalid")
      assert.include(short.message, "too short")
      const decode = Schema.decodeUnknownEither(ScorerSpec.ScorerSpec, { onExcessProperty: "error" })
      const spec = decode({ kind: "checkpoint", tokensPerShard: 64 })
      assert.isTrue(Either.isRight(spec))
      assert.isTrue(Either.isLeft(decode({ kind: "checkpoint", shard: 12 })))
      assert.isTrue(Either.isLeft(decode({ kind: "checkpoint", shards: 0 })))
      if (Either.isRight(spec)) {
        const scorer = yield* Effect.provide(Scorer, ScorerSpec.toLayer(spec.right, 12)).pipe(
          Effect.provide(TestKey),
          Effect.provide(NodeContext.layer)
        )
        assert.strictEqual(scorer.shards, 12)
        assert.strictEqual(scorer.id, "checkpoint:12x64")
      }
    }))
})

layer(Layer.merge(NodeContext.layer, TestKey), { excludeTestServices: true, timeout: "60 seconds" })("checkpoint scorer on real training", (it) => {
  // (how long the bare spec takes is measured by `npm run bench`, never asserted here)
  it.effect("the bare {\"kind\":\"cpu-diloco\"} spec trains a checkpoint that closes most of the gap to the floor", () =>
    Effect.gen(function*() {
      const decoded = Schema.decodeUnknownSync(ClusterSpec.ClusterSpec)({ kind: "cpu-diloco" })
      const trained = yield* Effect.flatMap(TrainingCluster, (c) =>
        c.train({ islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, 1n)).pipe(
          Effect.provide(ClusterSpec.toLayer(decoded))
        )
      const measured = yield* Effect.flatMap(Scorer, (s) => s.measure(trained, "held-out")).pipe(
        Effect.provide(CheckpointScorer.layerWith({ secret: SECRET }))
      )
      // thresholds from the source: a uniform guess costs ln 8; no model beats the entropy rate
      const uniform = Math.log(8)
      const floor = entropyRate(markovChain({ kind: "markov", order: 2, alphabet: 8, seed: 0n }))
      assert.isTrue(floor > 0.5 && floor < uniform)
      const loss = -measured.value
      const halfWidth = (measured.ciUpper - measured.ciLower) / 2
      assert.isBelow(loss, uniform - 0.5 * (uniform - floor), "closes at least half the gap from ln 8 to the floor")
      assert.isAbove(loss, floor - halfWidth, "cannot beat the entropy floor beyond sampling noise")
      // and far better than the untrained (all-zero) model's ln 8
      assert.isAbove(measured.ciLower, -uniform + 0.3)
    }))
})
