/**
 * What Psyche reads and prints (Nous Research's centralized server and DisTrO
 * clients): the coordinator state in `state.toml`, the server's and the clients'
 * command lines and identities, and the clients' log lines. `PsycheCluster.ts` decides
 * what goes into them; this module only knows the framework.
 *
 * Facts used (from the framework's sources): the `Coordinator` / `CoordinatorConfig`
 * fields and `check()` rules of `shared/coordinator` (`rounds_per_epoch >= 4`,
 * `witness_nodes <= min_clients`, at most 100 clients, u16 batch sizes); progress.step
 * starts at 1, grows after each round, and the run is `Finished` after the cooldown in
 * which `step >= total_steps`; the `ConstantLR` and `Distro` definitions of
 * `shared/core` (`compression_topk`/`compression_chunk` are u16); the `Http` data
 * location with `Shuffle::Seeded([u8; 32])`; the client's `train` arguments and
 * `RAW_IDENTITY_SECRET_KEY` (32 bytes as hex) in `shared/client/src/cli.rs`; the
 * `integration_test_log_marker = "loss"` JSON lines; cooldown's
 * `Saving to <checkpoint_dir>/<run_id>-step<step>` (written by the epoch's checkpointer).
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import * as NodePath from "node:path"
import * as Toml from "smol-toml"
import { wrapU64 } from "../../domain/Money.js"
import type { Recipe } from "../../domain/Recipe.js"
import { asRecord, jsonObject } from "./RealBackend.js"

/** Psyche's coordinator holds at most this many clients (`SOLANA_MAX_NUM_CLIENTS`). */
export const MAX_CLIENTS = 100

/** Psyche needs at least this many rounds per epoch (its overlapped pipeline). */
export const MIN_ROUNDS_PER_EPOCH = 4

/**
 * Settings no option exposes, fixed at the values of Psyche's example configs: the
 * coordinator's timings (seconds), one witness, no verification, and the public
 * fineweb-edu set tokenized for llama2 (matching the default model).
 */
export const fixed = {
  warmupTime: 30,
  cooldownTime: 30,
  maxRoundTrainTime: 30,
  roundWitnessTime: 1,
  witnessNodes: 1,
  compressionDecay: 0.999,
  clipGradNorm: 1.0,
  dataBucket: "nous-pretraining-public-us",
  dataDirectory: "fineweb-edu-tokenized-llama2"
} as const

/** The coordinator state Psyche's server reads; integers are `bigint` so they serialise as TOML integers. */
export interface PsycheState {
  readonly run_id: string
  readonly run_state: "WaitingForMembers"
  readonly config: {
    readonly warmup_time: bigint
    readonly cooldown_time: bigint
    readonly rounds_per_epoch: bigint
    readonly max_round_train_time: bigint
    readonly round_witness_time: bigint
    readonly min_clients: bigint
    readonly init_min_clients: bigint
    readonly verification_percent: bigint
    readonly witness_nodes: bigint
    readonly global_batch_size_start: bigint
    readonly global_batch_size_end: bigint
    readonly global_batch_size_warmup_tokens: bigint
    readonly total_steps: bigint
  }
  readonly model: {
    readonly LLM: {
      readonly architecture: "HfLlama"
      readonly data_type: "Pretraining"
      readonly max_seq_len: bigint
      readonly cold_start_warmup_steps: bigint
      readonly checkpoint: { readonly Hub: { readonly repo_id: string } }
      readonly data_location: {
        readonly Http: {
          readonly token_size_in_bytes: "TwoBytes"
          readonly shuffle: { readonly Seeded: ReadonlyArray<bigint> }
          readonly location: { readonly Gcp: { readonly bucket_name: string; readonly filter_directory: string } }
        }
      }
      readonly lr_schedule: {
        readonly Constant: { readonly base_lr: number; readonly warmup_steps: bigint; readonly warmup_init_lr: number }
      }
      readonly optimizer: {
        readonly Distro: {
          readonly clip_grad_norm: number
          readonly compression_decay: number
          readonly compression_chunk: bigint
          readonly compression_topk: bigint
          readonly quantize_1bit: boolean
        }
      }
    }
  }
}

/** The run-wide settings a coordinator state takes from the backend's options. */
export interface StateOptions {
  readonly modelRepo: string
  readonly batchSize: number
  readonly seqLength: number
  readonly chunk: number
}

/** DisTrO keeps `topk` values of every chunk × chunk tile: topk = max(1, round(keepFraction × chunk²)). */
export const compressionTopk = (keepFraction: number, chunk: number): number =>
  Math.max(1, Math.round(keepFraction * chunk * chunk))

/** LR warmup: at most 1000 steps and a tenth of the run, so the recipe's lr is reached. */
export const warmupSteps = (totalSteps: number): number => Math.min(1000, Math.floor(totalSteps / 10))

const u64le = (value: bigint): Uint8Array => {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, wrapU64(value), true)
  return bytes
}

/**
 * The data shuffle seed (`Shuffle::Seeded([u8; 32])`): the train seed as 8
 * little-endian bytes followed by 24 zero bytes, so the train seed decides the data order.
 */
export const shuffleSeed = (seed: bigint): ReadonlyArray<number> => [...u64le(seed), ...new Array<number>(24).fill(0)]

/**
 * Client `index`'s identity (`RAW_IDENTITY_SECRET_KEY`, 64 hex digits): SHA-256 of
 * `trainmarket.psyche.identity.v1`, the seed (u64 LE) and the index (u32 LE).
 * Deterministic per run and distinct per client.
 */
export const identityKey = (seed: bigint, index: number): string => {
  const tag = new TextEncoder().encode("trainmarket.psyche.identity.v1")
  const indexBytes = new Uint8Array(4)
  new DataView(indexBytes.buffer).setUint32(0, index, true)
  return bytesToHex(sha256(new Uint8Array([...tag, ...u64le(seed), ...indexBytes])))
}

/**
 * The coordinator state of run `runId` with `rounds` steps in one epoch. Knobs:
 * `islands` -> clients (`min_clients` = `init_min_clients`; the global batch is islands ×
 * `batchSize`), `innerLr` -> the constant schedule's `base_lr`, `keepFraction` ->
 * `compression_topk` of each chunk² tile; the train seed decides the data order.
 */
export const coordinatorState = (
  recipe: Recipe,
  seed: bigint,
  options: StateOptions,
  run: { readonly runId: string; readonly rounds: number }
): PsycheState =>
({
    run_id: run.runId,
    run_state: "WaitingForMembers",
    config: {
      warmup_time: BigInt(fixed.warmupTime),
      cooldown_time: BigInt(fixed.cooldownTime),
      rounds_per_epoch: BigInt(run.rounds),
      max_round_train_time: BigInt(fixed.maxRoundTrainTime),
      round_witness_time: BigInt(fixed.roundWitnessTime),
      min_clients: BigInt(recipe.islands),
      init_min_clients: BigInt(recipe.islands),
      verification_percent: 0n,
      witness_nodes: BigInt(Math.min(fixed.witnessNodes, recipe.islands)),
      global_batch_size_start: BigInt(recipe.islands * options.batchSize),
      global_batch_size_end: BigInt(recipe.islands * options.batchSize),
      global_batch_size_warmup_tokens: 0n,
      total_steps: BigInt(run.rounds)
    },
    model: {
      LLM: {
        architecture: "HfLlama",
        data_type: "Pretraining",
        max_seq_len: BigInt(options.seqLength),
        cold_start_warmup_steps: 0n,
        checkpoint: { Hub: { repo_id: options.modelRepo } },
        data_location: {
          Http: {
            token_size_in_bytes: "TwoBytes",
            shuffle: { Seeded: shuffleSeed(seed).map(BigInt) },
            location: { Gcp: { bucket_name: fixed.dataBucket, filter_directory: fixed.dataDirectory } }
          }
        },
        lr_schedule: {
          Constant: { base_lr: recipe.innerLr, warmup_steps: BigInt(warmupSteps(run.rounds)), warmup_init_lr: 0 }
        },
        optimizer: {
          Distro: {
            clip_grad_norm: fixed.clipGradNorm,
            compression_decay: fixed.compressionDecay,
            compression_chunk: BigInt(options.chunk),
            compression_topk: BigInt(compressionTopk(recipe.keepFraction, options.chunk)),
            quantize_1bit: false
          }
        }
      }
    }
  })

/** The TOML text of a coordinator state. */
export const toml = (state: PsycheState): string => Toml.stringify(state, { numbersAsFloat: true })

/** The server's arguments: run the state file's coordinator on `port`, without its terminal UI. */
export const serverArgs = (statePath: string, port: number): ReadonlyArray<string> =>
  ["run", "--state", statePath, "--server-port", String(port), "--tui", "false"]

/** A client's arguments: join run `runId` at the server, log JSON, save checkpoints in `checkpointDir`. */
export const clientArgs = (runId: string, serverAddress: string, checkpointDir: string): ReadonlyArray<string> =>
  ["train", "--run-id", runId, "--server-addr", serverAddress, "--logs", "json", "--checkpoint-dir", checkpointDir]

/** A parsed JSON loss line of a client. */
export interface LossLine {
  readonly step: number
  /** NaN when the client logged no loss for the round (`null` in JSON). */
  readonly loss: number
}

/** The fields of a JSON log line: tracing's flattened fields, or its nested `fields` object. */
const jsonFields = (line: string): Readonly<Record<string, unknown>> | undefined => {
  const top = jsonObject(line)
  const nested = asRecord(top?.fields)
  return nested === undefined ? top : { ...top, ...nested }
}

/** Parse a client's `"integration_test_log_marker":"loss"` JSON line. */
export const parseLossLine = (line: string): LossLine | undefined => {
  const fields = jsonFields(line)
  if (fields === undefined || fields.integration_test_log_marker !== "loss") return undefined
  const step = fields.step
  if (typeof step !== "number" || !Number.isInteger(step)) return undefined
  const loss = fields.loss
  return { step, loss: typeof loss === "number" ? loss : Number.NaN }
}

const SAVING = /^Saving to (.+)$/

/** Parse `Saving to <path>`, as a JSON log line's message or as plain text. */
export const parseSavingLine = (line: string): string | undefined => {
  const fields = jsonFields(line)
  const message = fields === undefined ? line.trim() : fields.message
  if (typeof message !== "string") return undefined
  const match = SAVING.exec(message.trim()) ?? (fields === undefined ? /Saving to (\S.*)$/.exec(line.trim()) : null)
  return match?.[1]?.trim()
}

/** The step of a checkpoint directory `<dir>/<runId>-step<N>`, if it is this run's. */
export const checkpointStep = (checkpoint: string, runId: string): number | undefined => {
  const match = /-step(\d+)$/.exec(NodePath.basename(checkpoint))
  return match !== null && NodePath.basename(checkpoint) === `${runId}-step${match[1]}` ? Number(match[1]) : undefined
}

