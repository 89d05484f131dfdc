/**
 * What the registry of cluster kinds (`ClusterSpec.ts`) knows about one kind: its spec
 * schema, how a spec becomes a cluster layer (a composite builds its inner specs
 * recursively), what `backends check` checks for it, and the training data it names
 * (read by `ScorerSpec.alongside`). A backend module exports its entry as `kind`.
 */
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import type { Effect, Layer, Schema } from "effect"
import type { ClusterInvalid } from "../domain/Errors.js"
import type { OperatorKey } from "../integrity/OperatorKey.js"
import * as Registry from "../domain/Registry.js"
import type { DataOption } from "../trainer/DataSource.js"
import type { ClusterSpec } from "./ClusterSpec.js"
import type { TrainingCluster } from "./TrainingCluster.js"

/** What building a cluster from a spec needs (real backends run subprocesses and touch files). */
export type BuildContext = CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path | OperatorKey

/** A cluster layer built from a spec. */
export type ClusterLayer = Layer.Layer<TrainingCluster, ClusterInvalid, BuildContext>

/** Something a backend needs installed before it can train (what `backends check` looks for). */
export type Requirement =
  | {
    readonly kind: "executable"
    readonly what: string
    /** A name looked up on `PATH`, or a path. */
    readonly command: string
    /** Arguments that make it print its version. */
    readonly versionArgs: ReadonlyArray<string>
    /** Where to run the version query. */
    readonly cwd?: string | undefined
  }
  | {
    readonly kind: "path"
    readonly what: string
    readonly path: string
    /** What to do when it is missing (said in the `BackendUnavailable` of a run). */
    readonly hint?: string | undefined
  }

/** An inner spec of a composite, with the segment it adds to a path (`root/1`); a wrapper adds none. */
export interface Inner {
  readonly segment?: string | undefined
  readonly spec: ClusterSpec
}

/** What a spec of a kind can do, once the registry has found its kind. */
export interface ClusterOps {
  /** The cluster the spec describes; `build` turns an inner spec into its layer. */
  readonly layer: (build: (spec: ClusterSpec) => ClusterLayer) => ClusterLayer
  /** A composite's inner specs (`undefined` for a leaf). */
  readonly inner: ReadonlyArray<Inner> | undefined
  /** A real backend's requirements, its options resolved (contradictory options are `ClusterInvalid`). */
  readonly requirements:
    | Effect.Effect<ReadonlyArray<Requirement>, ClusterInvalid, FileSystem.FileSystem | Path.Path>
    | undefined
  /** Why a leaf without requirements needs nothing installed. */
  readonly note: string | undefined
  /** The training data the cluster names (`undefined` in the list: its default source). */
  readonly trainingData: ReadonlyArray<DataOption | undefined>
}

/** One kind of cluster spec in the registry. */
export type ClusterKind<S extends Registry.Tagged> = Registry.Entry<S, ClusterOps>

/** A leaf kind: a cluster of its own (the simulator, a real backend). */
export const leaf = <S extends Registry.Tagged>(
  kind: S["kind"],
  schema: Schema.Schema<S>,
  parts: {
    readonly layer: (spec: S) => ClusterLayer
    readonly requirements?: (spec: S) => Effect.Effect<ReadonlyArray<Requirement>, ClusterInvalid, FileSystem.FileSystem | Path.Path>
    readonly note?: string
    readonly trainingData?: (spec: S) => DataOption | undefined
  }
): ClusterKind<S> =>
  Registry.entry(kind, schema, (spec) => ({
    layer: () => parts.layer(spec),
    inner: undefined,
    requirements: parts.requirements?.(spec),
    note: parts.note,
    trainingData: parts.trainingData === undefined ? [] : [parts.trainingData(spec)]
  }))

/** A composite kind: a cluster made of the clusters its inner specs describe. */
export const composite = <S extends Registry.Tagged>(
  kind: S["kind"],
  schema: Schema.Schema<S>,
  parts: {
    readonly layer: (spec: S, build: (spec: ClusterSpec) => ClusterLayer) => ClusterLayer
    readonly inner: (spec: S) => ReadonlyArray<Inner>
  }
): ClusterKind<S> =>
  Registry.entry(kind, schema, (spec) => ({
    layer: (build) => parts.layer(spec, build),
    inner: parts.inner(spec),
    requirements: undefined,
    note: undefined,
    trainingData: []
  }))
