/**
 * DiLoCo training of the character MLP on the CPU.
 *
 * `islands` replicas start from the same global weights, each with its own data
 * stream and its own AdamW state, and run `innerSteps` AdamW steps at `innerLr`. At
 * each outer sync every island's pseudo-gradient (global minus island weights) plus
 * the residual it carried is compressed to the top `keepFraction` entries per tensor
 * (the rest carried to the next sync: error feedback), the sent parts are averaged,
 * and the global weights take an SGD step with Nesterov momentum at `outerLr`. The
 * islands then restart from the new global weights, keeping their AdamW moments (as in
 * DiLoCo, where each worker keeps its inner optimiser). The budget is inner steps per
 * island, so rounds = ceil(budget / innerSteps) and the last round runs the remainder.
 * Islands run one after another in this process; their steps are interleaved so the
 * progress of a round can be reported step by step.
 */
import * as tf from "@tensorflow/tfjs-core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { adamWDefaults, adamWDispose, adamWInit, type AdamWOptions, type AdamWState, adamWStep } from "./AdamW.js"
import { type BackendName, initBackend } from "./Backend.js"
import { writeCheckpoint } from "./Checkpoint.js"
import { type DataSource, type DataSpecJson, encodeDataSpec, openDataSource, type TrainStream } from "./DataSource.js"
import {
  averageSent,
  type Compressed,
  compressPseudoGradient,
  islandDenseBytes,
  islandSyncBytes,
  keptCount,
  nesterovStep
} from "./Diloco.js"
import {
  type TensorBackendUnavailable,
  type CheckpointUnwritable,
  type DataInvalid,
  type TensorMismatch,
  TrainingDiverged
} from "./Errors.js"
import {
  crossEntropy,
  decayMask,
  flatten,
  initWeights,
  type ModelConfig,
  paramSpecs,
  parameterCount,
  splitFlat,
  type Weights
} from "./Mlp.js"
import { fromTensor, lossAndGrad, toTensor } from "./MlpTensors.js"
import { encodeRunConfig, type RunConfig } from "./RunConfig.js"

/** Emitted once, before training. */
export interface StartEvent {
  readonly event: "start"
  readonly backend: BackendName
  readonly islands: number
  readonly innerSteps: number
  readonly rounds: number
  readonly budget: number
  readonly batchSize: number
  readonly parameters: number
  readonly vocab: number
  readonly data: DataSpecJson
  /** Entropy rate of the source in nats per symbol (null for text: unknown). */
  readonly entropyFloor: number | null
  /** Loss of a uniform guess, ln(vocab). */
  readonly uniformLoss: number
  readonly bytesDensePerSync: number
  readonly bytesSentPerSync: number
}

/** Emitted after every inner step (all islands have taken it). */
export interface StepEvent {
  readonly event: "step"
  /** Round, from 1. */
  readonly round: number
  /** Inner step per island, from 1 to the budget. */
  readonly step: number
  /** Mean training loss of the islands' batches at this step (nats). */
  readonly loss: number
  /** Bytes sent by all islands in the syncs so far. */
  readonly bytesSent: number
  /** Training tokens each island has consumed so far. */
  readonly tokens: number
}

/** Emitted after every outer sync. */
export interface SyncEvent {
  readonly event: "sync"
  readonly round: number
  readonly step: number
  /** Bytes this sync would send uncompressed (all islands, dense float32). */
  readonly bytesDense: number
  /** Bytes this sync sends (all islands). */
  readonly bytesSent: number
  readonly bytesDenseTotal: number
  readonly bytesSentTotal: number
  /** Entries each island sends, all tensors together. */
  readonly keptPerIsland: number
}

/** Emitted once, after the checkpoint is written. */
export interface DoneEvent {
  readonly event: "done"
  /** Mean training loss of the last round's inner steps across islands: the trainer's claim. */
  readonly trainLoss: number
  /** Loss of the final global weights on the dev split (null when devTokens is 0). */
  readonly devLoss: number | null
  readonly entropyFloor: number | null
  readonly uniformLoss: number
  /** Absolute path of the safetensors checkpoint. */
  readonly checkpoint: string
  /** Absolute path of the model config JSON beside it. */
  readonly config: string
  readonly backend: BackendName
  readonly rounds: number
  readonly steps: number
  readonly tokensPerIsland: number
  /** Training tokens of all islands per second of training wall time. */
  readonly tokensPerSecond: number
  /** Tokens per second of one island while it computes (as if islands ran on separate machines), averaged. */
  readonly tokensPerSecondPerIsland: number
  readonly bytesSentTotal: number
  readonly bytesDenseTotal: number
  /** Seconds spent training (inner steps and syncs). */
  readonly trainSeconds: number
  /** Seconds from the start of `train` (backend start-up included) to the end. */
  readonly wallSeconds: number
}

/** A progress event. */
export type TrainEvent = StartEvent | StepEvent | SyncEvent | DoneEvent

/** What one island contributed to one sync, for tests and diagnostics. */
export interface SyncObservation {
  readonly round: number
  readonly island: number
  /** Global weights before the outer step. */
  readonly global: Weights
  /** The island's weights after its inner steps. */
  readonly islandWeights: Weights
  /** The residual the island carried into this sync. */
  readonly carried: Weights
  /** Per tensor: what was sent and what is carried on. */
  readonly compressed: ReadonlyArray<Compressed>
  /** Bytes the island sent in this sync. */
  readonly bytes: number
}

/** Hooks for in-process callers. */
export interface TrainOptions {
  readonly observeSync?: (observation: SyncObservation) => void
}

/** The outcome of a run: the final event and the global weights it wrote. */
export interface TrainResult {
  readonly done: DoneEvent
  readonly model: ModelConfig
  readonly weights: Weights
}

interface Island {
  param: tf.Tensor
  state: AdamWState
  residual: Array<Float32Array>
  readonly stream: TrainStream
  seconds: number
}

/** Model sizes of a run config on a data source. */
export const modelConfigOf = (config: RunConfig, source: DataSource): ModelConfig => ({
  context: config.context,
  embed: config.embed,
  hidden: config.hidden,
  vocab: source.vocabSize
})

/** AdamW settings of a run config. */
export const adamWOptionsOf = (config: RunConfig): AdamWOptions => ({
  ...adamWDefaults,
  lr: config.recipe.innerLr,
  weightDecay: config.weightDecay
})

/** Rounds a budget takes: the last one runs the remainder when innerSteps does not divide it. */
export const roundsOf = (budget: number, innerSteps: number): number => Math.ceil(budget / innerSteps)

const trainingMetadata = (config: RunConfig, backend: BackendName): Record<string, string> => {
  const json = encodeRunConfig(config)
  return {
    recipe: JSON.stringify(json.recipe),
    seed: json.seed,
    budget: String(config.budget),
    batch_size: String(config.batchSize),
    outer_momentum: String(config.outerMomentum),
    weight_decay: String(config.weightDecay),
    backend
  }
}

/**
 * Why a run fails: no tensor backend, unusable data (the executable's exit code 2),
 * a diverged recipe, a checkpoint that cannot be written, or a bug (`TensorMismatch`).
 */
export type TrainError = TensorBackendUnavailable | DataInvalid | TrainingDiverged | CheckpointUnwritable | TensorMismatch

/** What the training rounds leave for the final event. */
interface RoundsOutcome {
  readonly lastRoundLoss: number
  readonly bytesSentTotal: number
  readonly bytesDenseTotal: number
}

/**
 * How long the rounds compute before letting the event loop run (timers, stdin, a
 * closed pipe): the executable's checks that its parent is alive run in those gaps.
 * When the gaps fall never changes what is computed.
 */
const YIELD_EVERY_MILLIS = 50

/** Let pending I/O callbacks and timers run, then continue. */
const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const pending = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(pending))
})

/** A rate that stays finite (and so JSON-encodable) even for an unmeasurably short run. */
const perSecond = (amount: number, seconds: number): number => (seconds > 0 ? amount / seconds : 0)

/**
 * Train a run config, report progress through `emit`, and write the checkpoint. The
 * rounds compute synchronously in slices of about `YIELD_EVERY_MILLIS`, letting the
 * event loop run between slices; interrupting the run stops it at the next gap and
 * releases its tensors.
 */
export const train = (
  config: RunConfig,
  emit: (event: TrainEvent) => void,
  options: TrainOptions = {}
): Effect.Effect<TrainResult, TrainError> =>
  Effect.gen(function*() {
    const wallStart = performance.now()
    const backend = yield* initBackend(config.backend)
    const source = yield* openDataSource(config.data)
    const model = modelConfigOf(config, source)
    const specs = paramSpecs(model)
    const sizes = specs.map((p) => p.size)
    const { recipe } = config
    const rounds = roundsOf(config.budget, recipe.innerSteps)
    const densePerIsland = islandDenseBytes(sizes)
    const sentPerIsland = islandSyncBytes(sizes, recipe.keepFraction)
    const keptPerIsland = sizes.reduce((total, size) => total + keptCount(size, recipe.keepFraction), 0)
    const uniformLoss = Math.log(model.vocab)
    const entropyFloor = source.entropyFloor ?? null
    const adam = adamWOptionsOf(config)

    emit({
      event: "start",
      backend,
      islands: recipe.islands,
      innerSteps: recipe.innerSteps,
      rounds,
      budget: config.budget,
      batchSize: config.batchSize,
      parameters: parameterCount(model),
      vocab: model.vocab,
      data: encodeDataSpec(config.data),
      entropyFloor,
      uniformLoss,
      bytesDensePerSync: densePerIsland * recipe.islands,
      bytesSentPerSync: sentPerIsland * recipe.islands
    })

    // Host copies of the global weights and outer momentum: flat, with per-tensor views.
    const globalFlat = flatten(initWeights(model, config.seed))
    const global = splitFlat(model, globalFlat)
    const momentum = splitFlat(model, new Float32Array(globalFlat.length))
    // Streams first: a text source too short for the islands fails before any tensor exists.
    const streams = yield* Either.all(
      Array.from({ length: recipe.islands }, (_, i) => source.trainStream(config.seed, i, recipe.islands, config.context))
    )
    const mask = toTensor(decayMask(model))
    const islands: Array<Island> = streams.map((stream) => {
      const param = toTensor(globalFlat)
      return { param, state: adamWInit(param), residual: sizes.map((size) => new Float32Array(size)), stream, seconds: 0 }
    })

    // The tensors are released however the rounds end (failure or interruption included).
    const release = Effect.sync(() => {
      for (const island of islands) {
        tf.dispose(island.param)
        adamWDispose(island.state)
      }
      tf.dispose(mask)
    })
    const runRounds: Effect.Effect<RoundsOutcome, TrainingDiverged | TensorMismatch> = Effect.gen(function*() {
      let step = 0
      let bytesSentTotal = 0
      let bytesDenseTotal = 0
      let lastRoundLoss = 0
      let lastYield = performance.now()
      for (let round = 1; round <= rounds; round++) {
        const steps = Math.min(recipe.innerSteps, config.budget - (round - 1) * recipe.innerSteps)
        let roundLoss = 0
        for (let s = 0; s < steps; s++) {
          step++
          let stepLoss = 0
          for (const island of islands) {
            const t0 = performance.now()
            const batch = island.stream.nextBatch(config.batchSize)
            const { grad, loss } = lossAndGrad(model, island.param, batch)
            const next = adamWStep(island.param, grad, island.state, adam, mask)
            island.param = next.param
            island.state = next.state
            island.seconds += performance.now() - t0
            if (!Number.isFinite(loss)) {
              return yield* new TrainingDiverged({ message: `training diverged: loss is ${loss} at round ${round}, step ${step}` })
            }
            stepLoss += loss
          }
          stepLoss /= islands.length
          roundLoss += stepLoss
          emit({
            event: "step",
            round,
            step,
            loss: stepLoss,
            bytesSent: bytesSentTotal,
            tokens: step * config.batchSize
          })
          if (performance.now() - lastYield >= YIELD_EVERY_MILLIS) {
            yield* yieldToEventLoop
            lastYield = performance.now()
          }
        }
        lastRoundLoss = roundLoss / steps

        const contributions: Array<ReadonlyArray<Compressed>> = []
        for (const [i, island] of islands.entries()) {
          const islandWeights = splitFlat(model, fromTensor(island.param))
          const carried = island.residual
          const compressed = yield* compressPseudoGradient(global, islandWeights, carried, recipe.keepFraction)
          island.residual = compressed.map((c) => c.residual)
          if (options.observeSync !== undefined) {
            // A copy: the outer step below updates the global weights in place.
            const before = global.map((w) => Float32Array.from(w))
            options.observeSync({
              round,
              island: i,
              global: before,
              islandWeights,
              carried,
              compressed,
              bytes: sentPerIsland
            })
          }
          contributions.push(compressed)
        }
        yield* Either.flatMap(
          averageSent(contributions, sizes),
          (average) => nesterovStep(global, momentum, average, recipe.outerLr, config.outerMomentum)
        )
        for (const island of islands) {
          tf.dispose(island.param)
          island.param = toTensor(globalFlat)
        }
        bytesSentTotal += sentPerIsland * islands.length
        bytesDenseTotal += densePerIsland * islands.length
        emit({
          event: "sync",
          round,
          step,
          bytesDense: densePerIsland * islands.length,
          bytesSent: sentPerIsland * islands.length,
          bytesDenseTotal,
          bytesSentTotal,
          keptPerIsland
        })
      }
      return { lastRoundLoss, bytesSentTotal, bytesDenseTotal }
    }).pipe(Effect.ensuring(release))

    const trainStart = performance.now()
    const outcome = yield* runRounds
    const trainSeconds = (performance.now() - trainStart) / 1000

    if (global.some((w) => w.some((x) => !Number.isFinite(x)))) {
      return yield* new TrainingDiverged({
        message: "training diverged: the global weights are not finite after the last sync"
      })
    }
    const devLoss = config.devTokens > 0
      ? yield* Either.flatMap(
        source.devShard(config.devTokens, config.context),
        (dev) => crossEntropy(model, global, dev.tokens, dev.history)
      )
      : null
    const written = yield* writeCheckpoint(config.outDir, {
      model,
      data: config.data,
      vocabulary: source.vocabulary,
      weights: global,
      training: trainingMetadata(config, backend)
    })
    const tokensPerIsland = config.budget * config.batchSize
    const done: DoneEvent = {
      event: "done",
      trainLoss: outcome.lastRoundLoss,
      devLoss,
      entropyFloor,
      uniformLoss,
      checkpoint: written.checkpoint,
      config: written.config,
      backend,
      rounds,
      steps: config.budget,
      tokensPerIsland,
      tokensPerSecond: perSecond(tokensPerIsland * islands.length, trainSeconds),
      tokensPerSecondPerIsland:
        islands.reduce((total, island) => total + perSecond(tokensPerIsland, island.seconds / 1000), 0) / islands.length,
      bytesSentTotal: outcome.bytesSentTotal,
      bytesDenseTotal: outcome.bytesDenseTotal,
      trainSeconds,
      wallSeconds: (performance.now() - wallStart) / 1000
    }
    emit(done)
    return { done, model, weights: global }
  })
