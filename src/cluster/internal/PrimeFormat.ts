/**
 * What prime reads and prints (Prime Intellect's DiLoCo trainer, formerly ZeroBand):
 * its TOML config, the launch line of one island, its step arithmetic and its log
 * lines. `PrimeCluster.ts` decides what goes into them; this module only knows the
 * framework.
 *
 * Facts used (from the framework's sources): the config fields and validators of
 * `src/zeroband/config.py` (`[diloco]` only has `compression = "no" | "uint8"`; `[ckpt]`
 * `path` and `interval` are set together, the interval a multiple of `inner_steps`);
 * the training loop of `train.py` (it breaks only after an outer step once
 * `step >= total_steps`, checkpoints after an outer step when `step % interval == 0`,
 * and seeds torch with a hard-coded 42); the log format `HH:MM:SS [INFO] [Rank 0] …` of
 * `utils/logger.py` on stderr; `Saved checkpoint to <ckpt.path>/step_<n> in <s> seconds`
 * from `checkpoint.py`; the launch layout of `scripts/simulate_multi_node_diloco.sh`.
 */
import { Schema } from "effect"
import * as Toml from "smol-toml"
import type { Recipe } from "../../domain/Recipe.js"

/** The training script, relative to the prime checkout. */
export const TRAIN_SCRIPT = "src/zeroband/train.py"

/** Model size presets prime knows (`name_model`). */
export const ModelPreset = Schema.Literal("debugmodel", "70M", "150M", "271M", "1B", "7B", "10B", "13B", "26B", "70B")
  .annotations({ message: () => ({ message: "must be one of debugmodel, 70M, 150M, 271M, 1B, 7B, 10B, 13B, 26B, 70B", override: true }) })
export type ModelPreset = typeof ModelPreset.Type

/** Model families prime knows (`type_model`). */
export const ModelType = Schema.Literal("llama2", "llama3").annotations({ message: () => ({ message: "must be llama2 or llama3", override: true }) })
export type ModelType = typeof ModelType.Type

/** The TOML document prime reads; integers are `bigint` so they serialise as TOML integers. */
export interface PrimeDocument {
  readonly name_model: ModelPreset
  readonly type_model: ModelType
  readonly project: string
  readonly run_name: string
  readonly metric_logger_type: "dummy"
  readonly diloco: { readonly inner_steps: bigint; readonly outer_lr: number; readonly compression: "no" | "uint8" }
  readonly optim: {
    readonly batch_size: bigint
    readonly warmup_steps: bigint
    readonly total_steps: bigint
    readonly optim: { readonly lr: number }
  }
  readonly train: { readonly micro_bs: bigint }
  readonly data: { readonly dataset_name_or_paths: string; readonly seq_length: bigint; readonly fake: boolean }
  readonly ckpt: { readonly path: string; readonly interval: bigint }
}

/** The run-wide settings a document takes from the backend's options. */
export interface DocumentOptions {
  readonly model: ModelPreset
  readonly modelType: ModelType
  readonly batchSize: number
  readonly microBatch: number
  readonly seqLength: number
  readonly dataset: string
  readonly fakeData: boolean
}

/**
 * Inner steps actually trained: prime stops only after an outer step, so the
 * requested count is rounded up to a multiple of `innerSteps` (at least one outer step).
 */
export const roundedTotalSteps = (totalSteps: number, innerSteps: number): number =>
  Math.ceil(totalSteps / innerSteps) * innerSteps

/** LR warmup: prime's default of 1000 steps, but at most a tenth of the run so the recipe's lr is reached. */
export const warmupSteps = (totalSteps: number): number => Math.min(1000, Math.floor(totalSteps / 10))

/**
 * The config of a run of `totalSteps` (already a multiple of `innerSteps`) checkpointing
 * into `checkpointPath` once, at the last step. Knobs: `innerSteps` -> `[diloco]
 * inner_steps`, `outerLr` -> `[diloco] outer_lr`, `innerLr` -> `[optim.optim] lr`;
 * compression is always `"no"`.
 */
export const document = (
  recipe: Recipe,
  options: DocumentOptions,
  run: { readonly name: string; readonly totalSteps: number; readonly checkpointPath: string }
): PrimeDocument => ({
  name_model: options.model,
  type_model: options.modelType,
  project: "trainmarket",
  run_name: run.name,
  metric_logger_type: "dummy",
  diloco: { inner_steps: BigInt(recipe.innerSteps), outer_lr: recipe.outerLr, compression: "no" },
  optim: {
    batch_size: BigInt(options.batchSize),
    warmup_steps: BigInt(warmupSteps(run.totalSteps)),
    total_steps: BigInt(run.totalSteps),
    optim: { lr: recipe.innerLr }
  },
  train: { micro_bs: BigInt(options.microBatch) },
  data: { dataset_name_or_paths: options.dataset, seq_length: BigInt(options.seqLength), fake: options.fakeData },
  ckpt: { path: run.checkpointPath, interval: BigInt(run.totalSteps) }
})

/** The TOML text of a document (learning rates stay floats even when integer-valued). */
export const toml = (doc: PrimeDocument): string => Toml.stringify(doc, { numbersAsFloat: true })

/** The devices of island `island`: `gpus` consecutive GPU indices, as the framework's launch script assigns them. */
const cudaDevices = (island: number, gpus: number): string =>
  Array.from({ length: gpus }, (_, k) => island * gpus + k).join(",")

/**
 * The launch line of island `island` of `islands`: `torchrun` (after the launcher's own
 * prefix) with the island's workers and rendezvous port, the training script and its
 * config, data rank and world size; and the `GLOBAL_*` environment DiLoCo uses to find
 * its peers (the global store on `basePort`), with the island's GPUs.
 */
export const islandLine = (
  launcher: readonly [string, ...Array<string>],
  gpusPerIsland: number,
  basePort: number,
  island: number,
  islands: number,
  configPath: string
) => {
  const [command, ...prefix] = launcher
  const rendezvousPort = basePort + gpusPerIsland + island
  return {
    command,
    args: [
      ...prefix,
      "--nproc_per_node",
      String(gpusPerIsland),
      "--rdzv-endpoint",
      `localhost:${rendezvousPort}`,
      TRAIN_SCRIPT,
      `@${configPath}`,
      "--data.data_rank",
      String(island),
      "--data.data_world_size",
      String(islands)
    ],
    env: {
      GLOBAL_ADDR: "localhost",
      GLOBAL_PORT: String(basePort),
      GLOBAL_WORLD_SIZE: String(islands),
      GLOBAL_RANK: String(island),
      GLOBAL_UNIQUE_ID: String(island),
      CUDA_VISIBLE_DEVICES: cudaDevices(island, gpusPerIsland),
      GLOO_SOCKET_IFNAME: "lo"
    },
    rendezvousPort
  }
}

/** A parsed `step: n, loss: x` line of an island's rank 0. */
export interface StepLine {
  readonly step: number
  readonly loss: number
}

const STEP_LINE = /\[Rank 0\] step: (\d+), loss: ([^,\s]+)/
const CHECKPOINT_LINE = /Saved checkpoint to (.+?)(?: in \S+ seconds)?$/

/** Parse prime's per-step log line (`HH:MM:SS [INFO] [Rank 0] step: 12, loss: 2.3456, …`). */
export const parseStepLine = (line: string): StepLine | undefined => {
  const match = STEP_LINE.exec(line)
  if (match === null) return undefined
  const loss = Number(match[2])
  return Number.isNaN(loss) && match[2]?.toLowerCase() !== "nan" ? undefined : { step: Number(match[1]), loss }
}

/** Parse prime's checkpoint log line (`… Saved checkpoint to <path> in <s> seconds`). */
export const parseCheckpointLine = (line: string): string | undefined => CHECKPOINT_LINE.exec(line)?.[1]?.trim()
