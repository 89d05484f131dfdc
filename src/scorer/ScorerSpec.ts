/**
 * Scorer specs (SPEC §14): the JSON description of the referee in `score --scorer`,
 * competition and market files. Default: the simulated held-out scorer.
 */
import type { FileSystem, Path } from "@effect/platform"
import { type Layer, Schema } from "effect"
import type { ClusterSpec } from "../cluster/ClusterSpec.js"
import type { ScorerInvalid } from "../domain/Errors.js"
import * as CheckpointScorer from "./CheckpointScorer.js"
import type { Scorer } from "./Scorer.js"
import * as SimHeldOut from "./HeldOutScorer.js"

/** The simulated held-out scorer (SPEC §4); `shards` overrides the file's `evalShards`. */
export const SimHeldOutSpec = Schema.Struct({
  kind: Schema.Literal("sim-held-out"),
  shards: Schema.optional(Schema.Number)
})

/** Any scorer spec. */
export const ScorerSpec = Schema.Union(SimHeldOutSpec, CheckpointScorer.CheckpointSpec).annotations({ identifier: "ScorerSpec" })
export type ScorerSpec = typeof ScorerSpec.Type

/** The default scorer spec. */
export const defaultSpec: ScorerSpec = { kind: "sim-held-out" }

/** What building a scorer from a spec needs (checkpoint scorers read files). */
export type BuildContext = FileSystem.FileSystem | Path.Path

/**
 * Turn a scorer spec into a layer; `shards` is the default shard count when the spec
 * names none. A checkpoint scorer cuts its held-out shards under
 * `CheckpointScorer.placeholderSecret` until the operator's key reaches it here.
 */
export const toLayer = (spec: ScorerSpec, shards: number): Layer.Layer<Scorer, ScorerInvalid, BuildContext> => {
  switch (spec.kind) {
    case "sim-held-out":
      return SimHeldOut.layerWith({ shards: spec.shards ?? shards })
    case "checkpoint":
      return CheckpointScorer.layerWith({
        ...spec,
        shards: spec.shards ?? shards,
        secret: CheckpointScorer.placeholderSecret
      })
  }
}

/** The data options of every cpu-diloco cluster in a cluster spec (`undefined` for one on its default source). */
const trainingData = (cluster: ClusterSpec): ReadonlyArray<CheckpointScorer.CheckpointSpec["data"]> => {
  switch (cluster.kind) {
    case "cpu-diloco":
      return [cluster.data]
    case "hierarchical":
      return cluster.inner.flatMap(trainingData)
    case "sealed":
      return trainingData(cluster.inner)
    default:
      return []
  }
}

/**
 * The scorer spec a file means next to its cluster spec: a checkpoint scorer that names
 * no data holds out from the source the file's cpu-diloco cluster trains on (the
 * operator's setting in the same file, never a cluster's claim). When the clusters
 * name different sources, the spec is left as it is and the scorer refuses what it was
 * not set up to judge.
 */
export const alongside = (scorer: ScorerSpec, cluster: ClusterSpec): ScorerSpec => {
  if (scorer.kind !== "checkpoint" || scorer.data !== undefined) return scorer
  const named = trainingData(cluster)
  const [only] = named
  const sources = new Set(named.map((data) => JSON.stringify(data ?? null)))
  return sources.size === 1 && only !== undefined ? { ...scorer, data: only } : scorer
}
