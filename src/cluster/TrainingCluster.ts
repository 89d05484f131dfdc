/**
 * The `TrainingCluster` service: trains a recipe under a seed and returns an
 * artifact. Implementations are layers (the simulator, real backends run as
 * subprocesses, hierarchies and sealed wrappers built from other cluster layers).
 */
import { Context, Effect, FiberRef, Option } from "effect"
import type { AttestationReport } from "../attestation/AttestationReport.js"
import type { TrainedArtifact } from "../domain/Artifact.js"
import type { ClusterError } from "../domain/Errors.js"
import type { Recipe } from "../domain/Recipe.js"

/** Whether the cluster runs in a sealed (TEE) environment. */
export type Isolation = "shared" | "sealed"

/** A training cluster. */
export class TrainingCluster extends Context.Tag("trainmarket/TrainingCluster")<
  TrainingCluster,
  {
    /** Stable identifier, recorded in every artifact's provenance. */
    readonly id: string
    readonly isolation: Isolation
    /** The cluster's attestation report, when it is sealed. */
    readonly attestation: Option.Option<AttestationReport>
    /** Train `recipe` under `seed`; the returned loss is the cluster's claim only. */
    readonly train: (recipe: Recipe, seed: bigint) => Effect.Effect<TrainedArtifact, ClusterError>
  }
>() {}

/**
 * Who a training job is for, as a progress display names it: set by whoever starts the
 * job (`withJob`; a one-shot market names the baseline or researcher k of n), and
 * carried by every progress event of the runs it starts, inner clusters' included.
 */
export interface JobLabel {
  readonly name: string
  /** 1-based position among `count` jobs of the same kind (researchers), when there is one. */
  readonly index?: number | undefined
  readonly count?: number | undefined
}

/** The job label of the current fiber (inherited by the fibers it forks): `undefined` when nobody named one. */
export const currentJob: FiberRef.FiberRef<JobLabel | undefined> = FiberRef.unsafeMake<JobLabel | undefined>(undefined)

/** Run `self` (and every training it starts) under a job label. */
export const withJob = (label: JobLabel) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(self, currentJob, label)

/**
 * What a job is doing besides training: `scoring` (the referee measures its artifact)
 * and `ended` (nothing more will be reported for it: a display drops its line).
 */
export type JobPhase = "scoring" | "ended"

/** One line of progress from a running training job. */
export interface ProgressEvent {
  readonly clusterId: string
  /** Who the job is for (see `withJob`). */
  readonly job?: JobLabel | undefined
  /** The run this event belongs to: its artifact ref (recipe and seed), when known. */
  readonly ref?: string | undefined
  /** Island (or process) index the line came from, when known. */
  readonly island?: number
  readonly step?: number
  /** The step the run ends at, when the backend knows it. */
  readonly total?: number | undefined
  /** The batch training loss the line reports (noisy: a display smooths it). */
  readonly loss?: number
  /** Bytes sent by outer syncs so far, when the backend reports them. */
  readonly bytesSent?: number
  /** The training data's entropy rate in nats per symbol (no model can go below it), when the trainer knows it. */
  readonly entropyFloor?: number | undefined
  /** Set on events that are not training lines. */
  readonly phase?: JobPhase | undefined
  /** The raw output line ("" for a phase event). */
  readonly line: string
}

/**
 * Where real backends report progress. Optional: a cluster layer picks it up when
 * it is built (`Effect.serviceOption`), so callers that do not care provide nothing.
 */
export class TrainingProgress extends Context.Tag("trainmarket/TrainingProgress")<
  TrainingProgress,
  { readonly publish: (event: ProgressEvent) => Effect.Effect<void> }
>() {}

/** The progress sink a cluster layer should use: the provided one, or a no-op. */
export const progressSink: Effect.Effect<(event: ProgressEvent) => Effect.Effect<void>> = Effect.map(
  Effect.serviceOption(TrainingProgress),
  Option.match({ onNone: () => () => Effect.void, onSome: (sink) => sink.publish })
)

/**
 * Report a job's phase to the provided progress sink, if any, for the current job label:
 * a market says `scoring` before its referee measures an artifact and `ended` after.
 */
export const publishPhase = (clusterId: string, phase: JobPhase, ref?: string): Effect.Effect<void> =>
  Effect.flatMap(Effect.all([progressSink, FiberRef.get(currentJob)]), ([publish, job]) =>
    publish({ clusterId, job, ref, phase, line: "" }))
