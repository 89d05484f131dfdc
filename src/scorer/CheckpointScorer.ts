/**
 * The checkpoint scorer (SPEC §13, §14): the referee of real training. It loads the
 * weights an artifact's checkpoint holds and measures their cross-entropy on N shards
 * of a data source it owns — the held-out stream for `held-out` (a scorer setting that
 * no trainer ever reads), the dev stream for `dev` — and reports minus the mean loss
 * per shard with the interval of SPEC §4 (higher is better). It never reads the loss a
 * cluster reported: only the weights count. An artifact without a checkpoint is
 * refused (simulated training has no weights to evaluate), so is one trained on another
 * data source than the scorer holds out, and a checkpoint that is missing or malformed
 * is `CheckpointMalformed`. The held-out shards are chosen under the referee's secret
 * (SPEC §15.6), so a trainer that knows the data seed cannot generate them.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Either, Layer, Option, Schema } from "effect"
import type { TrainedArtifact } from "../domain/Artifact.js"
import { intIn } from "../domain/Checks.js"
import { CheckpointMalformed, ScorerInvalid, ScorerRefused } from "../domain/Errors.js"
import { type Measurement, type Split, Z_95 } from "../domain/Measurement.js"
import { decodeCheckpoint } from "../trainer/Checkpoint.js"
import {
  DataOption,
  type DataSpec,
  decodeDataSpec,
  encodeDataSpec,
  MAX_CONTEXT,
  MIN_SECRET_BYTES,
  openDataSource,
  type Shard
} from "../trainer/DataSource.js"
import { DataInvalid } from "../trainer/Errors.js"
import { evaluatedTokens, evaluateLoaded, heldOutShards, sameSource } from "../trainer/Evaluate.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import { Scorer } from "./Scorer.js"

/** Default number of evaluation shards (a competition file's `evalShards` overrides it). */
export const DEFAULT_SHARDS = 16

/** Default targets per shard: 16 × 1024 tokens score a default checkpoint in well under a second. */
export const DEFAULT_TOKENS_PER_SHARD = 1024

/** Most shards one scorer evaluates (the shards are held in memory). */
export const MAX_SHARDS = 4096
/** Most targets per shard. */
export const MAX_TOKENS_PER_SHARD = 1_000_000


/**
 * The scorer spec `{"kind":"checkpoint","shards":16,"tokensPerShard":1024,"data":{…}}`:
 * `shards` defaults to the file's `evalShards`, `data` to the trainer's default source.
 * It must be the source the checkpoints were trained on (a checkpoint records it): an
 * artifact trained on another source is refused.
 */
export const CheckpointSpec = Schema.Struct({
  kind: Schema.Literal("checkpoint"),
  shards: Schema.optional(intIn(1, MAX_SHARDS)),
  tokensPerShard: Schema.optional(intIn(1, MAX_TOKENS_PER_SHARD)),
  data: Schema.optional(DataOption)
}).annotations({ identifier: "CheckpointSpec", parseOptions: { onExcessProperty: "error" } })
export type CheckpointSpec = typeof CheckpointSpec.Type

/** How a checkpoint scorer is configured: the secret, and optional settings. */
export interface CheckpointScorerOptions {
  /**
   * The referee's key (at least 32 bytes; default: the operator's key): the held-out
   * shards are derived from it and the data source, and stay the same for the same key.
   */
  readonly secret?: Uint8Array | undefined
  readonly shards?: number | undefined
  readonly tokensPerShard?: number | undefined
  /** The data source in its JSON form (seed as a decimal string); relative text paths resolve against the working directory. */
  readonly data?: DataOption | undefined
}

/** The scorer's id for a configuration. */
export const scorerId = (shards: number, tokensPerShard: number): string => `checkpoint:${shards}x${tokensPerShard}`

/**
 * SPEC §4's summary of per-shard samples (higher is better): the mean, variance over
 * N - 1 (0 when N = 1), se = sqrt(var / N), interval mean ∓ 1.96·se, n = N.
 */
export const summarize = (samples: ReadonlyArray<number>, cost: number): Measurement => {
  const n = samples.length
  const mean = samples.reduce((sum, x) => sum + x, 0) / n
  const squares = samples.reduce((sum, x) => sum + (x - mean) * (x - mean), 0)
  const variance = n > 1 ? squares / (n - 1) : 0
  const half = Z_95 * Math.sqrt(variance / n)
  return { value: mean, ciLower: mean - half, ciUpper: mean + half, n, cost }
}

/**
 * The dev split's shards: one walk of the dev stream (or the dev region of a text
 * file), cut into `count` consecutive pieces of up to `tokensPerShard` targets, each
 * preceded by `history` tokens. Fails with `DataInvalid` when the dev region is too short.
 */
export const devShards = (
  spec: DataSpec,
  count: number,
  tokensPerShard: number,
  history: number
): Effect.Effect<ReadonlyArray<Shard>, DataInvalid> =>
  Either.flatMap(openDataSource(spec), (source) => source.devShard(count * tokensPerShard, history)).pipe(
    Effect.filterOrFail(
      (whole) => whole.tokens.length - whole.history >= count,
      (whole) =>
        new DataInvalid({
          message: `the dev split holds ${whole.tokens.length - whole.history} targets, fewer than ${count} shards`
        })
    ),
    Effect.map((whole) => {
      const targets = whole.tokens.length - whole.history
      return Array.from({ length: count }, (_, i) => {
        const from = Math.floor((i * targets) / count)
        const to = Math.floor(((i + 1) * targets) / count)
        return { tokens: whole.tokens.slice(from, history + to), history }
      })
    })
  )

/** The data spec in its JSON form, for messages. */
const describeData = (spec: DataSpec): string => JSON.stringify(encodeDataSpec(spec))

/**
 * Per-shard losses of a checkpoint. Of the evaluator's failures, an unusable checkpoint
 * is `CheckpointMalformed` (blamed on the cluster that made it); a checkpoint trained on
 * another data source than the scorer holds out, or unreadable scorer data, is a
 * `ScorerRefused` (a misconfigured referee, not a bad cluster); a `TensorMismatch` (a
 * bug) a defect.
 */
const evaluate = (
  clusterId: string,
  scorer: string,
  checkpointPath: string,
  bytes: Uint8Array,
  data: DataSpec,
  shards: ReadonlyArray<Shard>
): Effect.Effect<ReadonlyArray<number>, CheckpointMalformed | ScorerRefused> =>
  Effect.gen(function*() {
    const checkpoint = yield* decodeCheckpoint(bytes)
    if (!sameSource(checkpoint.data, data)) {
      return yield* new ScorerRefused({
        scorer,
        reason: `${checkpointPath} was trained on ${describeData(checkpoint.data)}, but this scorer holds out ` +
          `${describeData(data)}: give the scorer the data spec the cluster trains on`
      })
    }
    return yield* evaluateLoaded(checkpoint, data, shards)
  }).pipe(
    Effect.catchTags({
      CheckpointInvalid: (error) => Effect.fail(new CheckpointMalformed({ backend: clusterId, reason: error.message })),
      DataInvalid: (error) => Effect.fail(new ScorerRefused({ scorer, reason: `its data cannot be read: ${error.message}` })),
      TensorMismatch: (error) => Effect.die(error)
    })
  )

/**
 * Build a checkpoint scorer; impossible settings, a short secret or an unusable data
 * source are `ScorerInvalid`. The held-out shards are cut under `secret`, by default the
 * operator's key (SPEC §15.6); the operator's key also checks every artifact's receipt.
 */
export const make = (
  options: CheckpointScorerOptions = {}
): Effect.Effect<Scorer["Type"], ScorerInvalid, Path.Path | FileSystem.FileSystem | OperatorKey> =>
  Effect.gen(function*() {
    const shards = options.shards ?? DEFAULT_SHARDS
    const tokensPerShard = options.tokensPerShard ?? DEFAULT_TOKENS_PER_SHARD
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
      return yield* new ScorerInvalid({ reason: `shards must be an integer in 1..${MAX_SHARDS}, got ${shards}` })
    }
    if (!Number.isInteger(tokensPerShard) || tokensPerShard < 1 || tokensPerShard > MAX_TOKENS_PER_SHARD) {
      return yield* new ScorerInvalid({
        reason: `tokensPerShard must be an integer in 1..${MAX_TOKENS_PER_SHARD}, got ${tokensPerShard}`
      })
    }
    const { key } = yield* OperatorKey
    const secret = options.secret ?? key
    if (secret.length < MIN_SECRET_BYTES) {
      return yield* new ScorerInvalid({
        reason: `the held-out secret must have at least ${MIN_SECRET_BYTES} bytes, has ${secret.length}`
      })
    }
    const decoded = decodeDataSpec(options.data ?? { kind: "markov" })
    if (Either.isLeft(decoded)) return yield* new ScorerInvalid({ reason: `checkpoint scorer data: ${decoded.left.message}` })
    const path = yield* Path.Path
    const data: DataSpec = decoded.right.kind === "text" ? { kind: "text", path: path.resolve(decoded.right.path) } : decoded.right
    // Cut once: every artifact is scored on the same shards (history covers any model context).
    const invalidData = (error: DataInvalid) => new ScorerInvalid({ reason: `checkpoint scorer data: ${error.message}` })
    const heldOut = yield* Either.mapLeft(heldOutShards(data, secret, shards, tokensPerShard, MAX_CONTEXT), invalidData)
    const dev = yield* Effect.mapError(devShards(data, shards, tokensPerShard, MAX_CONTEXT), invalidData)
    const splits: Readonly<Record<Split, ReadonlyArray<Shard>>> = { "held-out": heldOut, "dev": dev }
    const id = scorerId(shards, tokensPerShard)

    const files = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const measure = (artifact: TrainedArtifact, split: Split) =>
      Effect.gen(function*() {
        // the receipt, then the checkpoint's bytes, before anything is measured (SPEC §15.1)
        yield* Receipt.verify(key, artifact)
        const checkpoint = artifact.checkpoint
        if (checkpoint === undefined) {
          return yield* new ScorerRefused({
            scorer: id,
            reason: `artifact from ${artifact.clusterId} carries no checkpoint: there are no trained weights to evaluate`
          })
        }
        // the bytes that are hashed are the bytes that are evaluated: nothing can be swapped in between
        const bytes = yield* Effect.provide(Receipt.checkpointBytes(artifact, checkpoint), files)
        if (Option.isNone(bytes)) {
          return yield* new CheckpointMalformed({
            backend: artifact.clusterId,
            reason: `the checkpoint ${checkpoint} is a directory; this scorer evaluates the trainer's one-file checkpoints`
          })
        }
        const losses = yield* evaluate(artifact.clusterId, id, checkpoint, bytes.value, data, splits[split])
        const bad = losses.findIndex((loss) => !Number.isFinite(loss))
        if (bad >= 0) {
          return yield* new CheckpointMalformed({
            backend: artifact.clusterId,
            reason: `the weights of ${checkpoint} give a loss of ${losses[bad]} on shard ${bad}`
          })
        }
        return summarize(losses.map((loss) => -loss), evaluatedTokens(splits[split]))
      })

    return Scorer.of({ id, shards, measure })
  })

/** The checkpoint scorer with a chosen configuration. */
export const layerWith = (
  options: CheckpointScorerOptions
): Layer.Layer<Scorer, ScorerInvalid, Path.Path | FileSystem.FileSystem | OperatorKey> =>
  Layer.effect(Scorer, make(options))

/** The checkpoint scorer with its defaults: 16 held-out shards of 1024 tokens of the default Markov source, cut under the operator's key. */
export const layer: Layer.Layer<Scorer, ScorerInvalid, Path.Path | FileSystem.FileSystem | OperatorKey> = layerWith({})
