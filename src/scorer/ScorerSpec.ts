/**
 * Scorer specs (SPEC §14): the JSON description of the referee in `score --scorer`,
 * competition and market files. Default: the simulated held-out scorer.
 *
 * This module is the registry of scorer kinds: `kinds` holds one entry per kind (its
 * schema, how a spec becomes a scorer layer, and how it reads the cluster spec beside
 * it), and the spec schema, its type, `toLayer` and `alongside` all come from it. A new
 * scorer is its module plus one entry here.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Layer, Schema } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { ScorerInvalid } from "../domain/Errors.js"
import * as Registry from "../domain/Registry.js"
import type { OperatorKey } from "../integrity/OperatorKey.js"
import type { DataOption } from "../trainer/DataSource.js"
import * as CheckpointScorer from "./CheckpointScorer.js"
import * as SimHeldOut from "./HeldOutScorer.js"
import type { Scorer } from "./Scorer.js"

/** What building a scorer from a spec needs (checkpoint scorers read files). */
export type BuildContext = FileSystem.FileSystem | Path.Path | OperatorKey

/** What a scorer spec can do, once the registry has found its kind. */
interface ScorerOps<S> {
  /** The scorer; `shards` is the shard count when the spec names none. */
  readonly layer: (shards: number) => Layer.Layer<Scorer, ScorerInvalid, BuildContext>
  /** The spec as meant next to a cluster spec that trains on `trainingData` (see `alongside`). */
  readonly alongside: (trainingData: ReadonlyArray<DataOption | undefined>) => S
}

/** The simulated held-out scorer (SPEC §4); `shards` overrides the file's `evalShards`. */
export const SimHeldOutSpec = Schema.Struct({
  kind: Schema.Literal("sim-held-out"),
  shards: Schema.optional(Schema.Number)
})

/** The registry: one entry per kind of scorer spec. */
export const kinds = [
  Registry.entry("sim-held-out", SimHeldOutSpec, (spec): ScorerOps<typeof SimHeldOutSpec.Type> => ({
    layer: (shards) => SimHeldOut.layerWith({ shards: spec.shards ?? shards }),
    alongside: () => spec
  })),
  Registry.entry("checkpoint", CheckpointScorer.CheckpointSpec, (spec): ScorerOps<CheckpointScorer.CheckpointSpec> => ({
    layer: (shards) => CheckpointScorer.layerWith({ ...spec, shards: spec.shards ?? shards }),
    // A checkpoint scorer that names no data holds out from the one source its clusters train on.
    alongside: (trainingData) => {
      const [only] = trainingData
      const sources = new Set(trainingData.map((data) => JSON.stringify(data ?? null)))
      return spec.data === undefined && sources.size === 1 && only !== undefined ? { ...spec, data: only } : spec
    }
  }))
] as const

/** Any scorer spec. */
export type ScorerSpec = Registry.SpecOf<(typeof kinds)[number]>

/** The schema of every scorer spec. */
export const ScorerSpec: Schema.Schema<ScorerSpec> = Schema.Union(...kinds.map((k) => k.schema)).annotations({
  identifier: "ScorerSpec"
})

/** The default scorer spec. */
export const defaultSpec: ScorerSpec = { kind: "sim-held-out" }

/** A spec whose kind no entry has (only possible for a spec built in code, past the type checker). */
const unknownKind = (spec: ScorerSpec): ScorerOps<ScorerSpec> => ({
  layer: () => Layer.fail(new ScorerInvalid({ reason: `unknown scorer kind ${JSON.stringify(spec.kind)}` })),
  alongside: () => spec
})

const operations = (spec: ScorerSpec): ScorerOps<ScorerSpec> =>
  Registry.operations<ScorerOps<ScorerSpec>>(kinds, spec, () => unknownKind(spec))

/** Turn a scorer spec into a layer; `shards` is the default shard count when the spec names none. */
export const toLayer = (spec: ScorerSpec, shards: number): Layer.Layer<Scorer, ScorerInvalid, BuildContext> =>
  operations(spec).layer(shards)

/**
 * The scorer spec a file means next to its cluster spec: a checkpoint scorer that names
 * no data holds out from the source the file's cpu-diloco cluster trains on (the
 * operator's setting in the same file, never a cluster's claim). When the clusters
 * name different sources, the spec is left as it is and the scorer refuses what it was
 * not set up to judge.
 */
export const alongside = (scorer: ScorerSpec, cluster: ClusterSpec.ClusterSpec): ScorerSpec =>
  operations(scorer).alongside(ClusterSpec.trainingData(cluster))
