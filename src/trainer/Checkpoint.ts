/**
 * Trained checkpoints: `model.safetensors` (float32 weights, with the model config in
 * `__metadata__` so the file alone is loadable) and `model.json` beside it (the same
 * config, readable). Deterministic bytes: nothing time- or machine-dependent goes in.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Either from "effect/Either"
import { type DataSpec, decodeDataSpec, encodeDataSpec } from "./DataSource.js"
import { CheckpointInvalid } from "./Errors.js"
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

/** The safetensors bytes of a checkpoint. */
export const encodeCheckpoint = (checkpoint: Checkpoint): Uint8Array => {
  const mismatch = weightsMismatch(checkpoint.model, checkpoint.weights)
  if (mismatch !== undefined) throw new RangeError(`encodeCheckpoint: ${mismatch}`)
  const tensors = paramSpecs(checkpoint.model).map((p, i) => ({
    name: p.name,
    shape: p.shape,
    data: checkpoint.weights[i] ?? new Float32Array(p.size)
  }))
  return encodeSafetensors(tensors, checkpointMetadata(checkpoint))
}

/** Write `model.safetensors` and `model.json` into `outDir` (created if needed); returns their absolute paths. */
export const writeCheckpoint = (
  outDir: string,
  checkpoint: Checkpoint
): { readonly checkpoint: string; readonly config: string } => {
  const dir = path.resolve(outDir)
  fs.mkdirSync(dir, { recursive: true })
  const checkpointPath = path.join(dir, CHECKPOINT_FILE)
  const configPath = path.join(dir, CONFIG_FILE)
  // Written beside and renamed into place, so a run killed mid-write leaves no partial checkpoint.
  const partial = `${checkpointPath}.partial-${process.pid}`
  fs.writeFileSync(partial, encodeCheckpoint(checkpoint))
  fs.renameSync(partial, checkpointPath)
  const config = {
    format: CHECKPOINT_FORMAT,
    checkpoint: CHECKPOINT_FILE,
    model: checkpoint.model,
    data: encodeDataSpec(checkpoint.data),
    ...(checkpoint.vocabulary === undefined ? {} : { vocabulary: checkpoint.vocabulary }),
    training: checkpoint.training,
    tensors: paramSpecs(checkpoint.model).map((p) => ({ name: p.name, dtype: "F32", shape: p.shape }))
  }
  fs.writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`)
  return { checkpoint: checkpointPath, config: configPath }
}

const positiveInt = (metadata: Readonly<Record<string, string>>, key: string): number => {
  const text = metadata[key]
  const value = text === undefined ? NaN : Number(text)
  if (!Number.isSafeInteger(value) || value < 1 || String(value) !== text) {
    throw new CheckpointInvalid({ message: `checkpoint metadata ${key} is missing or not a positive integer` })
  }
  return value
}

const parseJson = (text: string, key: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    throw new CheckpointInvalid({ message: `checkpoint metadata ${key} is not JSON` })
  }
}

/** Decode checkpoint bytes: the model config from metadata, then weights checked against it. */
export const decodeCheckpoint = (bytes: Uint8Array): Checkpoint => {
  const file = decodeSafetensors(bytes)
  const { metadata } = file
  if (metadata["format"] !== CHECKPOINT_FORMAT) {
    throw new CheckpointInvalid({ message: `checkpoint format is ${metadata["format"] ?? "missing"}, expected ${CHECKPOINT_FORMAT}` })
  }
  const model: ModelConfig = {
    context: positiveInt(metadata, "context"),
    embed: positiveInt(metadata, "embed"),
    hidden: positiveInt(metadata, "hidden"),
    vocab: positiveInt(metadata, "vocab")
  }
  const dataText = metadata["data"]
  if (dataText === undefined) throw new CheckpointInvalid({ message: "checkpoint metadata data is missing" })
  const data = decodeDataSpec(parseJson(dataText, "data")).pipe(
    Either.getOrThrowWith((error) => new CheckpointInvalid({ message: `checkpoint metadata data: ${error.message}` }))
  )
  const vocabText = metadata["vocabulary"]
  let vocabulary: ReadonlyArray<string> | undefined
  if (vocabText !== undefined) {
    const parsed = parseJson(vocabText, "vocabulary")
    if (!Array.isArray(parsed) || !parsed.every((c): c is string => typeof c === "string") || parsed.length !== model.vocab) {
      throw new CheckpointInvalid({ message: "checkpoint metadata vocabulary is not a list of vocab strings" })
    }
    vocabulary = parsed
  }
  const byName = new Map(file.tensors.map((t) => [t.name, t] as const))
  const specs = paramSpecs(model)
  if (file.tensors.length !== specs.length) {
    throw new CheckpointInvalid({ message: `checkpoint holds ${file.tensors.length} tensors, the model has ${specs.length}` })
  }
  const weights = specs.map((p) => {
    const t = byName.get(p.name)
    if (t === undefined) throw new CheckpointInvalid({ message: `checkpoint lacks tensor ${p.name}` })
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new CheckpointInvalid({
        message: `tensor ${p.name} has shape [${t.shape.join(", ")}], the config needs [${p.shape.join(", ")}]`
      })
    }
    return t.data
  })
  const reserved = new Set<string>(["format", "data", "vocabulary", ...modelKeys])
  const training = Object.fromEntries(Object.entries(metadata).filter(([k]) => !reserved.has(k)))
  return { model, data, vocabulary, weights, training }
}

/** Read and decode a checkpoint file; throws `CheckpointInvalid` when it is missing or malformed. */
export const readCheckpoint = (checkpointPath: string): Checkpoint => {
  let bytes: Uint8Array
  try {
    bytes = fs.readFileSync(checkpointPath)
  } catch (error) {
    throw new CheckpointInvalid({ message: `cannot read checkpoint ${checkpointPath}: ${String(error)}` })
  }
  return decodeCheckpoint(bytes)
}
