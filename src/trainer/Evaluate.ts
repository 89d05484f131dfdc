/**
 * The referee's side of real training: generate held-out shards from a data spec and
 * score a checkpoint's weights on them. It loads only the weights and model config
 * from the checkpoint, never any loss the trainer reported, and it runs in plain
 * JavaScript (no tensor backend), so a scorer can import it in-process.
 */
import * as Either from "effect/Either"
import { type Checkpoint, readCheckpoint } from "./Checkpoint.js"
import { type DataSpec, heldOutShards, MAX_CONTEXT, openDataSource, type Shard } from "./DataSource.js"
import { CheckpointInvalid, type DataInvalid, type TensorMismatch } from "./Errors.js"
import { crossEntropy } from "./Mlp.js"

/** Re-exported so a scorer finds shard generation and evaluation in one module. */
export { heldOutShards, MAX_CONTEXT, type Shard }

/** Vocabulary of a data spec: size, plus the characters for a text source. */
const vocabularyOf = (
  spec: DataSpec
): Either.Either<{ readonly size: number; readonly chars: ReadonlyArray<string> | undefined }, DataInvalid> =>
  spec.kind === "markov"
    ? Either.right({ size: spec.alphabet, chars: undefined })
    : Either.map(openDataSource(spec), (source) => ({ size: source.vocabSize, chars: source.vocabulary }))

/**
 * Refuse a checkpoint whose vocabulary does not match the data it is scored on (a
 * model over other symbols would be scored on meaningless ids).
 */
const checkCompatible = (checkpoint: Checkpoint, spec: DataSpec): Either.Either<void, CheckpointInvalid | DataInvalid> =>
  Either.flatMap(vocabularyOf(spec), (vocab) => {
    if (checkpoint.model.vocab !== vocab.size) {
      return Either.left(
        new CheckpointInvalid({
          message: `checkpoint vocabulary has ${checkpoint.model.vocab} symbols, the ${spec.kind} data has ${vocab.size}`
        })
      )
    }
    if (vocab.chars !== undefined) {
      const theirs = checkpoint.vocabulary
      if (theirs === undefined || theirs.some((c, i) => c !== vocab.chars?.[i])) {
        return Either.left(
          new CheckpointInvalid({ message: "checkpoint was trained on a different character vocabulary than the text file" })
        )
      }
    }
    return Either.right(undefined)
  })

/**
 * Mean cross-entropy (nats per token) of a loaded checkpoint on each shard, in order.
 * `CheckpointInvalid` when a shard does not fit the model (too little history, no
 * targets, a token outside its vocabulary); `TensorMismatch` when the checkpoint's
 * weight list does not hold the model's tensors (a hand-built checkpoint).
 */
export const evaluateWeights = (
  checkpoint: Checkpoint,
  shards: ReadonlyArray<Shard>
): Either.Either<ReadonlyArray<number>, CheckpointInvalid | TensorMismatch> =>
  Either.all(
    shards.map((shard, i): Either.Either<number, CheckpointInvalid | TensorMismatch> => {
      if (shard.history < checkpoint.model.context) {
        return Either.left(
          new CheckpointInvalid({
            message: `shard ${i} carries ${shard.history} tokens of history, the model's context is ${checkpoint.model.context}`
          })
        )
      }
      if (shard.tokens.length <= shard.history) {
        return Either.left(new CheckpointInvalid({ message: `shard ${i} has no targets` }))
      }
      for (const token of shard.tokens) {
        if (!Number.isInteger(token) || token < 0 || token >= checkpoint.model.vocab) {
          return Either.left(new CheckpointInvalid({ message: `shard ${i} holds token ${token}, outside the model's vocabulary` }))
        }
      }
      return crossEntropy(checkpoint.model, checkpoint.weights, shard.tokens, shard.history)
    })
  )

/**
 * Score the checkpoint at `checkpointPath` on held-out `shards` of `dataSpec` (from
 * `heldOutShards`): per-shard mean cross-entropy in nats, lower is better.
 * `CheckpointInvalid` for a missing, malformed or incompatible checkpoint and
 * `DataInvalid` for an unreadable text source.
 */
export const evaluateCheckpoint = (
  checkpointPath: string,
  dataSpec: DataSpec,
  shards: ReadonlyArray<Shard>
): Either.Either<ReadonlyArray<number>, CheckpointInvalid | DataInvalid | TensorMismatch> =>
  Either.flatMap(readCheckpoint(checkpointPath), (checkpoint) => evaluateLoaded(checkpoint, dataSpec, shards))

/** Score an already loaded checkpoint (see `evaluateCheckpoint`). */
export const evaluateLoaded = (
  checkpoint: Checkpoint,
  dataSpec: DataSpec,
  shards: ReadonlyArray<Shard>
): Either.Either<ReadonlyArray<number>, CheckpointInvalid | DataInvalid | TensorMismatch> =>
  Either.flatMap(checkCompatible(checkpoint, dataSpec), () => evaluateWeights(checkpoint, shards))

/**
 * Whether two data specs name the same source: the same Markov chain (order, alphabet,
 * seed), or the same text file. Held-out data of another source would measure another
 * task: a model that learned the wrong chain can then beat one that learned the right one.
 */
export const sameSource = (a: DataSpec, b: DataSpec): boolean =>
  a.kind === "markov"
    ? b.kind === "markov" && a.order === b.order && a.alphabet === b.alphabet && a.seed === b.seed
    : b.kind === "text" && a.path === b.path

/** Tokens an evaluation scores (the targets of all shards): a natural cost figure for a scorer. */
export const evaluatedTokens = (shards: ReadonlyArray<Shard>): number =>
  shards.reduce((total, shard) => total + Math.max(0, shard.tokens.length - shard.history), 0)
