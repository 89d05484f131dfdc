/**
 * Trained checkpoints: `model.safetensors` (float32 weights, with the model config in
 * `__metadata__` so the file alone is loadable) and `model.json` beside it (the same
 * config, readable). Deterministic bytes: nothing time- or machine-dependent goes in.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Either from "effect/Either"
import { type DataSpec, decodeDataSpec, encodeDataSpec } from "./DataSource.js"
import { CheckpointInvalid, CheckpointUnwritable, TensorMismatch } from "./Errors.js"
import { type ModelConfig, paramSpecs, type Weights, weightsMismatch } from "./Mlp.js"
import { decodeSafetensors, encodeSafetensors } from "./Safetensors.js"

/** Format tag written to every checkpoint. */
export const CHECKPOINT_FORMAT = "trainmarket-char-mlp-lm/1"

/** File names inside a run's output directory. */
export const CHECKPOINT_FILE = "model.safetensors"
export const CONFIG_FILE = "model.json"

/** What a checkpoint holds. */
export interface Checkpoint {
  readonly model: ModelConfig
  readonly data: DataSpec
  /** A text source's characters by token id (absent for the Markov source). */
  readonly vocabulary: ReadonlyArray<string> | undefined
  readonly weights: Weights
  /** How it was trained (recipe, seed, budget, …) as strings; provenance only. */
  readonly training: Readonly<Record<string, string>>
}

const modelKeys = ["context", "embed", "hidden", "vocab"] as const

/** The `__metadata__` map of a checkpoint. */
export const checkpointMetadata = (checkpoint: Omit<Checkpoint, "weights">): Record<string, string> => {
  const metadata: Record<string, string> = { ...checkpoint.training }
  metadata["format"] = CHECKPOINT_FORMAT
  for (const key of modelKeys) metadata[key] = String(checkpoint.model[key])
  metadata["data"] = JSON.stringify(encodeDataSpec(checkpoint.data))
  if (checkpoint.vocabulary !== undefined) metadata["vocabulary"] = JSON.stringify(checkpoint.vocabulary)
  return metadata
}

/** The safetensors bytes of a checkpoint; `TensorMismatch` when the weights do not fit its model config. */
export const encodeCheckpoint = (checkpoint: Checkpoint): Either.Either<Uint8Array, TensorMismatch> => {
  const mismatch = weightsMismatch(checkpoint.model, checkpoint.weights)
  if (mismatch !== undefined) return Either.left(new TensorMismatch({ message: `encodeCheckpoint: ${mismatch}` }))
  const tensors = paramSpecs(checkpoint.model).map((p, i) => ({
    name: p.name,
    shape: p.shape,
    data: checkpoint.weights[i] ?? new Float32Array(p.size)
  }))
  return encodeSafetensors(tensors, checkpointMetadata(checkpoint))
}

/** A file-system call whose failure becomes `CheckpointUnwritable` with the system's message. */
const writing = <A>(write: () => A): Either.Either<A, CheckpointUnwritable> => {
  try {
    return Either.right(write())
  } catch (error) {
    return Either.left(new CheckpointUnwritable({ message: error instanceof Error ? error.message : String(error) }))
  }
}

/**
 * Write `model.safetensors` and `model.json` into `outDir` (created if needed); returns
 * their absolute paths, or `CheckpointUnwritable` when the file system refuses.
 */
export const writeCheckpoint = (
  outDir: string,
  checkpoint: Checkpoint
): Either.Either<{ readonly checkpoint: string; readonly config: string }, CheckpointUnwritable | TensorMismatch> =>
  Either.gen(function*() {
    const bytes = yield* encodeCheckpoint(checkpoint)
    const dir = path.resolve(outDir)
    yield* writing(() => fs.mkdirSync(dir, { recursive: true }))
    const checkpointPath = path.join(dir, CHECKPOINT_FILE)
    const configPath = path.join(dir, CONFIG_FILE)
    // Written beside and renamed into place, so a run killed mid-write leaves no partial checkpoint.
    const partial = `${checkpointPath}.partial-${process.pid}`
    yield* writing(() => fs.writeFileSync(partial, bytes))
    yield* writing(() => fs.renameSync(partial, checkpointPath))
    const config = {
      format: CHECKPOINT_FORMAT,
      checkpoint: CHECKPOINT_FILE,
      model: checkpoint.model,
      data: encodeDataSpec(checkpoint.data),
      ...(checkpoint.vocabulary === undefined ? {} : { vocabulary: checkpoint.vocabulary }),
      training: checkpoint.training,
      tensors: paramSpecs(checkpoint.model).map((p) => ({ name: p.name, dtype: "F32", shape: p.shape }))
    }
    yield* writing(() => fs.writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`))
    return { checkpoint: checkpointPath, config: configPath }
  })

const invalid = (message: string): Either.Either<never, CheckpointInvalid> =>
  Either.left(new CheckpointInvalid({ message }))

const positiveInt = (metadata: Readonly<Record<string, string>>, key: string): Either.Either<number, CheckpointInvalid> => {
  const text = metadata[key]
  const value = text === undefined ? NaN : Number(text)
  if (!Number.isSafeInteger(value) || value < 1 || String(value) !== text) {
    return invalid(`checkpoint metadata ${key} is missing or not a positive integer`)
  }
  return Either.right(value)
}

const parseJson = (text: string, key: string): Either.Either<unknown, CheckpointInvalid> => {
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return invalid(`checkpoint metadata ${key} is not JSON`)
  }
}

const isStringList = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((c) => typeof c === "string")

/** Decode checkpoint bytes: the model config from metadata, then weights checked against it. */
export const decodeCheckpoint = (bytes: Uint8Array): Either.Either<Checkpoint, CheckpointInvalid> =>
  Either.gen(function*() {
    const file = yield* decodeSafetensors(bytes)
    const { metadata } = file
    if (metadata["format"] !== CHECKPOINT_FORMAT) {
      return yield* invalid(`checkpoint format is ${metadata["format"] ?? "missing"}, expected ${CHECKPOINT_FORMAT}`)
    }
    const model: ModelConfig = {
      context: yield* positiveInt(metadata, "context"),
      embed: yield* positiveInt(metadata, "embed"),
      hidden: yield* positiveInt(metadata, "hidden"),
      vocab: yield* positiveInt(metadata, "vocab")
    }
    const dataText = metadata["data"]
    if (dataText === undefined) return yield* invalid("checkpoint metadata data is missing")
    const data = yield* decodeDataSpec(yield* parseJson(dataText, "data")).pipe(
      Either.mapLeft((error) => new CheckpointInvalid({ message: `checkpoint metadata data: ${error.message}` }))
    )
    const vocabText = metadata["vocabulary"]
    let vocabulary: ReadonlyArray<string> | undefined
    if (vocabText !== undefined) {
      const parsed = yield* parseJson(vocabText, "vocabulary")
      if (!isStringList(parsed) || parsed.length !== model.vocab) {
        return yield* invalid("checkpoint metadata vocabulary is not a list of vocab strings")
      }
      vocabulary = parsed
    }
    const byName = new Map(file.tensors.map((t) => [t.name, t] as const))
    const specs = paramSpecs(model)
    if (file.tensors.length !== specs.length) {
      return yield* invalid(`checkpoint holds ${file.tensors.length} tensors, the model has ${specs.length}`)
    }
    const weights = yield* Either.all(
      specs.map((p) => {
        const t = byName.get(p.name)
        if (t === undefined) return invalid(`checkpoint lacks tensor ${p.name}`)
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          return invalid(`tensor ${p.name} has shape [${t.shape.join(", ")}], the config needs [${p.shape.join(", ")}]`)
        }
        return Either.right(t.data)
      })
    )
    const reserved = new Set<string>(["format", "data", "vocabulary", ...modelKeys])
    const training = Object.fromEntries(Object.entries(metadata).filter(([k]) => !reserved.has(k)))
    return { model, data, vocabulary, weights, training }
  })

/** Read and decode a checkpoint file; `CheckpointInvalid` when it is missing or malformed. */
export const readCheckpoint = (checkpointPath: string): Either.Either<Checkpoint, CheckpointInvalid> => {
  let bytes: Uint8Array
  try {
    bytes = fs.readFileSync(checkpointPath)
  } catch (error) {
    return invalid(`cannot read checkpoint ${checkpointPath}: ${String(error)}`)
  }
  return decodeCheckpoint(bytes)
}
