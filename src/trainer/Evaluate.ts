/**
 * The referee's side of real training: generate held-out shards from a data spec and
 * score a checkpoint's weights on them. It loads only the weights and model config
 * from the checkpoint, never any loss the trainer reported, and it runs in plain
 * JavaScript (no tensor backend), so a scorer can import it in-process.
 */
import { type Checkpoint, readCheckpoint } from "./Checkpoint.js"
import { type DataSpec, heldOutShards, MAX_CONTEXT, openDataSource, type Shard } from "./DataSource.js"
import { CheckpointInvalid } from "./Errors.js"
import { crossEntropy } from "./Mlp.js"

/** Re-exported so a scorer finds shard generation and evaluation in one module. */
export { heldOutShards, MAX_CONTEXT, type Shard }

/** Vocabulary of a data spec: size, plus the characters for a text source. */
const vocabularyOf = (spec: DataSpec): { readonly size: number; readonly chars: ReadonlyArray<string> | undefined } => {
  if (spec.kind === "markov") return { size: spec.alphabet, chars: undefined }
  const source = openDataSource(spec)
  return { size: source.vocabSize, chars: source.vocabulary }
}

/**
 * Refuse a checkpoint whose vocabulary does not match the data it is scored on (a
 * model over other symbols would be scored on meaningless ids).
 */
const checkCompatible = (checkpoint: Checkpoint, spec: DataSpec): void => {
  const vocab = vocabularyOf(spec)
  if (checkpoint.model.vocab !== vocab.size) {
    throw new CheckpointInvalid({
      message: `checkpoint vocabulary has ${checkpoint.model.vocab} symbols, the ${spec.kind} data has ${vocab.size}`
    })
  }
  if (vocab.chars !== undefined) {
    const theirs = checkpoint.vocabulary
    if (theirs === undefined || theirs.some((c, i) => c !== vocab.chars?.[i])) {
      throw new CheckpointInvalid({ message: "checkpoint was trained on a different character vocabulary than the text file" })
    }
  }
}

/** Mean cross-entropy (nats per token) of a loaded checkpoint on each shard, in order. */
export const evaluateWeights = (checkpoint: Checkpoint, shards: ReadonlyArray<Shard>): ReadonlyArray<number> =>
  shards.map((shard, i) => {
    if (shard.history < checkpoint.model.context) {
      throw new CheckpointInvalid({
        message: `shard ${i} carries ${shard.history} tokens of history, the model's context is ${checkpoint.model.context}`
      })
    }
    if (shard.tokens.length <= shard.history) throw new CheckpointInvalid({ message: `shard ${i} has no targets` })
    for (const token of shard.tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= checkpoint.model.vocab) {
        throw new CheckpointInvalid({ message: `shard ${i} holds token ${token}, outside the model's vocabulary` })
      }
    }
    return crossEntropy(checkpoint.model, checkpoint.weights, shard.tokens, shard.history)
  })

/**
 * Score the checkpoint at `checkpointPath` on held-out `shards` of `dataSpec` (from
 * `heldOutShards`): per-shard mean cross-entropy in nats, lower is better. Throws
 * `CheckpointInvalid` for a missing, malformed or incompatible checkpoint and
 * `DataInvalid` for an unreadable text source.
 */
export const evaluateCheckpoint = (
  checkpointPath: string,
  dataSpec: DataSpec,
  shards: ReadonlyArray<Shard>
): ReadonlyArray<number> => evaluateLoaded(readCheckpoint(checkpointPath), dataSpec, shards)

/** Score an already loaded checkpoint (see `evaluateCheckpoint`). */
export const evaluateLoaded = (
  checkpoint: Checkpoint,
  dataSpec: DataSpec,
  shards: ReadonlyArray<Shard>
): ReadonlyArray<number> => {
  checkCompatible(checkpoint, dataSpec)
  return evaluateWeights(checkpoint, shards)
}

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
