/**
 * Cluster specs (SPEC §14): the JSON description of a cluster, decoded with Schema
 * and turned into a `TrainingCluster` layer, recursively, so any composition can be
 * named in a file or on the command line.
 *
 * This module is the registry of cluster kinds: `kinds` lists one entry per kind
 * (`ClusterKind.ts`), and the spec schema, the spec type, `toLayer`, the leaves
 * `backends check` checks (`Backends.ts`) and the training data `ScorerSpec.alongside`
 * reads all come from it. A new backend is its module (exporting its entry as `kind`)
 * plus one line in `kinds`. The composite kinds (hierarchical, sealed) live here,
 * since they are what makes specs recursive.
 */
import { Layer, Schema } from "effect"
import { ClusterInvalid } from "../domain/Errors.js"
import * as Registry from "../domain/Registry.js"
import type { DataOption } from "../trainer/DataSource.js"
import { type ClusterKind, type ClusterLayer, type ClusterOps, composite } from "./ClusterKind.js"
import * as CpuDiloco from "./CpuDilocoCluster.js"
import * as Hierarchical from "./HierarchicalCluster.js"
import * as LocalSim from "./LocalSimCluster.js"
import * as Prime from "./PrimeCluster.js"
import * as Psyche from "./PsycheCluster.js"
import * as Sealed from "./SealedCluster.js"

export type { BuildContext } from "./ClusterKind.js"
export { LocalSimSpec } from "./LocalSimCluster.js"

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

const innerSpec: Schema.Schema<ClusterSpec> = Schema.suspend((): Schema.Schema<ClusterSpec> => ClusterSpec)

const hierarchical: ClusterKind<HierarchicalSpec> = composite(
  "hierarchical",
  Schema.Struct({
    kind: Schema.Literal("hierarchical"),
    crossSyncInterval: Schema.Number,
    concurrency: Schema.optional(Schema.Number),
    inner: Schema.Array(innerSpec)
  }),
  {
    layer: (spec, build) =>
      Hierarchical.layer({ crossSyncInterval: spec.crossSyncInterval, concurrency: spec.concurrency, inner: spec.inner.map(build) }),
    inner: (spec) => spec.inner.map((inner, index) => ({ segment: String(index), spec: inner }))
  }
)

const sealed: ClusterKind<SealedSpec> = composite("sealed", Schema.Struct({ kind: Schema.Literal("sealed"), inner: innerSpec }), {
  layer: (spec, build) => Sealed.layer(build(spec.inner)),
  inner: (spec) => [{ spec: spec.inner }]
})

/** The registry: one entry per kind of cluster spec. */
export const kinds = [LocalSim.kind, hierarchical, sealed, Prime.kind, Psyche.kind, CpuDiloco.kind] as const

/** Any cluster spec. */
export type ClusterSpec = Registry.SpecOf<(typeof kinds)[number]>

/** The schema of every cluster spec. */
export const ClusterSpec: Schema.Schema<ClusterSpec> = Schema.Union(...kinds.map((k) => k.schema)).annotations({
  identifier: "ClusterSpec"
})

/** What building a cluster from a spec can fail with. */
export type BuildError = ClusterInvalid

/** A spec whose kind no entry has (only possible for a spec built in code, past the type checker). */
const unknownKind = (spec: Registry.Tagged): ClusterOps => ({
  layer: () => Layer.fail(new ClusterInvalid({ reason: `unknown cluster kind ${JSON.stringify(spec.kind)}` })),
  inner: undefined,
  requirements: undefined,
  note: undefined,
  trainingData: []
})

/** What a spec can do, from the entry of its kind. */
export const operations = (spec: ClusterSpec): ClusterOps => Registry.operations(kinds, spec, unknownKind)

/** Turn a decoded spec into a cluster layer. */
export const toLayer = (spec: ClusterSpec): ClusterLayer => operations(spec).layer(toLayer)

/** A leaf of a spec (a cluster that is not a composition), with its path (`root/1/0`). */
export interface Leaf {
  readonly path: string
  readonly spec: ClusterSpec
  readonly ops: ClusterOps
}

/** The leaves of a spec, in order; `at` names the spec itself. */
export const leaves = (spec: ClusterSpec, at = "root"): ReadonlyArray<Leaf> => {
  const ops = operations(spec)
  return ops.inner === undefined
    ? [{ path: at, spec, ops }]
    : ops.inner.flatMap((inner) => leaves(inner.spec, inner.segment === undefined ? at : `${at}/${inner.segment}`))
}

/** The training data every leaf of a spec names, in order (`undefined`: a leaf on its default source). */
export const trainingData = (spec: ClusterSpec): ReadonlyArray<DataOption | undefined> =>
  leaves(spec).flatMap((leaf) => leaf.ops.trainingData)
