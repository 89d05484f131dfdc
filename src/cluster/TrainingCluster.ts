/**
 * The `TrainingCluster` service: trains a recipe under a seed and returns an
 * artifact. Implementations are layers (the simulator, real backends run as
 * subprocesses, hierarchies and sealed wrappers built from other cluster layers).
 */
import { Context, Effect, Option } from "effect"
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

/** One line of progress from a running training job. */
export interface ProgressEvent {
  readonly clusterId: string
  /** Island (or process) index the line came from, when known. */
  readonly island?: number
  readonly step?: number
  readonly loss?: number
  /** Bytes sent by outer syncs so far, when the backend reports them. */
  readonly bytesSent?: number
  /** The raw output line. */
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
