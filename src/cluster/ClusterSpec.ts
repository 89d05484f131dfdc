/**
 * Cluster specs (SPEC §14): the JSON description of a cluster, decoded with Schema
 * and turned into a `TrainingCluster` layer, recursively, so any composition can be
 * named in a file or on the command line.
 */
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import { Layer, Schema } from "effect"
import { ClusterInvalid } from "../domain/Errors.js"
import * as CpuDiloco from "./CpuDilocoCluster.js"
import * as Hierarchical from "./HierarchicalCluster.js"
import * as LocalSim from "./LocalSimCluster.js"
import * as Prime from "./PrimeCluster.js"
import * as Psyche from "./PsycheCluster.js"
import * as Sealed from "./SealedCluster.js"
import type { TrainingCluster } from "./TrainingCluster.js"

/** The built-in deterministic simulator. */
export const LocalSimSpec = Schema.Struct({ kind: Schema.Literal("local-sim") })
export type LocalSimSpec = typeof LocalSimSpec.Type

/** A hierarchy of inner clusters (SPEC §10). */
export interface HierarchicalSpec {
  readonly kind: "hierarchical"
  readonly crossSyncInterval: number
  readonly concurrency?: number | undefined
  readonly inner: ReadonlyArray<ClusterSpec>
}
/** A sealed (TEE stand-in) wrapper around any cluster (SPEC §11). */
export interface SealedSpec {
  readonly kind: "sealed"
  readonly inner: ClusterSpec
}

/** Any cluster spec. */
export type ClusterSpec =
  | LocalSimSpec
  | HierarchicalSpec
  | SealedSpec
  | Prime.PrimeSpec
  | Psyche.PsycheSpec
  | CpuDiloco.CpuDilocoSpec

const HierarchicalSpecSchema: Schema.Schema<HierarchicalSpec> = Schema.Struct({
  kind: Schema.Literal("hierarchical"),
  crossSyncInterval: Schema.Number,
  concurrency: Schema.optional(Schema.Number),
  inner: Schema.Array(Schema.suspend((): Schema.Schema<ClusterSpec> => ClusterSpec))
})
const SealedSpecSchema: Schema.Schema<SealedSpec> = Schema.Struct({
  kind: Schema.Literal("sealed"),
  inner: Schema.suspend((): Schema.Schema<ClusterSpec> => ClusterSpec)
})

/** The schema of every cluster spec. */
export const ClusterSpec: Schema.Schema<ClusterSpec> = Schema.Union(
  LocalSimSpec,
  HierarchicalSpecSchema,
  SealedSpecSchema,
  Prime.PrimeSpec,
  Psyche.PsycheSpec,
  CpuDiloco.CpuDilocoSpec
).annotations({ identifier: "ClusterSpec" })

/** What building a cluster from a spec can fail with. */
export type BuildError = ClusterInvalid

/** What building a cluster from a spec needs (real backends run subprocesses and touch files). */
export type BuildContext = CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path

/** Turn a decoded spec into a cluster layer. */
export const toLayer = (spec: ClusterSpec): Layer.Layer<TrainingCluster, BuildError, BuildContext> => {
  switch (spec.kind) {
    case "local-sim":
      return LocalSim.layer
    case "hierarchical":
      return Hierarchical.layer({
        crossSyncInterval: spec.crossSyncInterval,
        concurrency: spec.concurrency,
        inner: spec.inner.map(toLayer)
      })
    case "sealed":
      return Sealed.layer(toLayer(spec.inner))
    case "prime":
      return Prime.layer(spec)
    case "psyche":
      return Psyche.layer(spec)
    case "cpu-diloco":
      return CpuDiloco.layerWith(spec)
  }
}
