/** Checkpoints for referees to measure: written by hand (zero weights, or only an output bias), or trained small. */
import { Either } from "effect"
import * as fs from "node:fs"
import type { CpuDilocoOptions } from "../../src/cluster/CpuDilocoCluster.js"
import { encodeCheckpoint } from "../../src/trainer/Checkpoint.js"
import type { DataSpec } from "../../src/trainer/DataSource.js"
import { type ModelConfig, paramSpecs } from "../../src/trainer/Mlp.js"

/** The default data source of the trainer and the checkpoint scorer: an order-2 chain over 8 symbols. */
export const markov: DataSpec = { kind: "markov", order: 2, alphabet: 8, seed: 0n }

/** A tiny model over the 8 symbols. */
export const model: ModelConfig = { context: 4, embed: 4, hidden: 8, vocab: 8 }

/** Write a checkpoint whose weights are zero except the output bias (`bias`, or zero); returns `file`. */
export const writeModel = (
  file: string,
  options: {
    readonly bias?: ReadonlyArray<number>
    readonly config?: ModelConfig
    readonly vocabulary?: ReadonlyArray<string>
    /** The data source the checkpoint says it was trained on (default: the Markov source). */
    readonly data?: DataSpec
  } = {}
): string => {
  const config = options.config ?? model
  const weights = paramSpecs(config).map((p) =>
    p.name === "output.bias" && options.bias !== undefined ? Float32Array.from(options.bias) : new Float32Array(p.size)
  )
  const data: DataSpec = options.data ?? markov
  fs.writeFileSync(
    file,
    Either.getOrThrowWith(
      encodeCheckpoint({ model: config, data, vocabulary: options.vocabulary, weights, training: { seed: "0" } }),
      (error) => error
    )
  )
  return file
}

/** A small cpu-diloco run (a second or two): context 4, embed 8, hidden 32 over the 8-symbol default source. */
export const smallCpuDiloco = (checkpointDir: string): CpuDilocoOptions => ({
  checkpointDir,
  budget: 32,
  batchSize: 16,
  context: 4,
  embed: 8,
  hidden: 32,
  deadlineSeconds: 60
})
