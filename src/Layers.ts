/**
 * The composition root: every layer a command, the service or a library user needs
 * is built here from a spec or a file, so the market code never knows which backend
 * it talks to and no command assembles layers of its own.
 *
 * - `cluster(spec)` / `scorer(spec, shards, cluster)`: one service each, from its JSON spec.
 * - `forFile(file)`: the cluster and the referee a competition or market file names
 *   (the referee's data source follows the file's cluster, `ScorerSpec.alongside`).
 * - `simulated`: the built-in simulator and its held-out referee (the reference scenario).
 * - `operatorKey(keyFile)`: the key receipts, market seeds and the referee's held-out shards derive from.
 * - `store(spec)`: the live market's journal a `--store` names (a SQLite file, or a PostgreSQL URL).
 * - `platform`: the Node services (processes, files, paths, terminal) everything runs on.
 *
 * A progress sink (`TrainingProgress`) is optional: given one, real backends report
 * their training lines to it.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { Effect, Layer, Option } from "effect"
import * as ClusterSpec from "./cluster/ClusterSpec.js"
import * as LocalSimCluster from "./cluster/LocalSimCluster.js"
import type { TrainingCluster, TrainingProgress } from "./cluster/TrainingCluster.js"
import { type ClusterInvalid, type KeyInvalid, type ScorerInvalid, StoreFailed } from "./domain/Errors.js"
import * as OperatorKey from "./integrity/OperatorKey.js"
import * as HeldOutScorer from "./scorer/HeldOutScorer.js"
import type { Scorer } from "./scorer/Scorer.js"
import * as ScorerSpec from "./scorer/ScorerSpec.js"
import type { MarketStore } from "./store/MarketStore.js"
import * as StoreSpec from "./store/StoreSpec.js"

/** What building layers from specs needs: processes, files and paths (`platform` provides them). */
export type BuildContext = ClusterSpec.BuildContext | ScorerSpec.BuildContext

/** Optional extras when building layers. */
export interface BuildOptions<RP = never> {
  /** Where real backends report progress (a terminal status line, a log); none by default. */
  readonly progress?: Layer.Layer<TrainingProgress, never, RP> | undefined
}

/** The cluster a spec names. */
export const cluster = <RP = never>(
  spec: ClusterSpec.ClusterSpec,
  options: BuildOptions<RP> = {}
): Layer.Layer<TrainingCluster, ClusterInvalid, BuildContext | RP> => {
  const built = ClusterSpec.toLayer(spec)
  return options.progress === undefined ? built : Layer.provide(built, options.progress)
}

/**
 * The referee a spec names (default: the simulated held-out scorer), with `shards`
 * when the spec names none; a checkpoint scorer without data holds out from the
 * source `cluster` trains on.
 */
export const scorer = (
  spec: ScorerSpec.ScorerSpec | undefined,
  shards: number,
  cluster: ClusterSpec.ClusterSpec = { kind: "local-sim" }
): Layer.Layer<Scorer, ScorerInvalid, BuildContext> =>
  ScorerSpec.toLayer(ScorerSpec.alongside(spec ?? ScorerSpec.defaultSpec, cluster), shards)

/** The part of a competition or market file that names its cluster and referee. */
export interface FileServices {
  readonly cluster: ClusterSpec.ClusterSpec
  readonly evalShards: number
  readonly scorer?: ScorerSpec.ScorerSpec | undefined
}

/** The cluster and the referee a competition or market file names. */
export const forFile = <RP = never>(
  file: FileServices,
  options: BuildOptions<RP> = {}
): Layer.Layer<TrainingCluster | Scorer, ClusterInvalid | ScorerInvalid, BuildContext | RP> =>
  Layer.merge(cluster(file.cluster, options), scorer(file.scorer, file.evalShards, file.cluster))

/** The built-in simulator and its 16-shard held-out referee (both under the operator's key). */
export const simulated: Layer.Layer<TrainingCluster | Scorer, never, OperatorKey.OperatorKey> = Layer.merge(
  LocalSimCluster.layer,
  HeldOutScorer.layer
)

/**
 * The operator's key (SPEC §15.1): `keyFile` when given (`--key-file`), else
 * `TRAINMARKET_KEY_FILE`, else `$XDG_DATA_HOME/trainmarket/secret`, created on first use.
 */
export const operatorKey = (
  keyFile: Option.Option<string> = Option.none()
): Layer.Layer<OperatorKey.OperatorKey, KeyInvalid, NodeContext.NodeContext> => OperatorKey.layerFrom(keyFile)

/** The Node platform: processes, files, paths, the terminal. */
export const platform = NodeContext.layer

/** Is a `--store` a PostgreSQL URL (rather than a SQLite file path)? */
export const isPostgresUrl = StoreSpec.isPostgresUrl

/** A store spec fit for messages: a PostgreSQL URL without its password (in the authority or as `?password=`). */
export const storeName = StoreSpec.nameOf

/** What opening a store needs: files, paths (and the SQLite driver's process services). */
export type StoreContext = FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor

/** How a store is opened. */
export interface StoreOptions {
  /** Refuse a SQLite file that does not exist yet rather than create it (an audit reads, it never creates). */
  readonly mustExist?: boolean | undefined
}

/**
 * The live market's journal a `--store` names: a `postgres://` or `postgresql://` URL is a
 * PostgreSQL database shared by several `serve` processes; anything else is the path of
 * a SQLite file (default `./market.sqlite`), created on first use. The database driver
 * is loaded when the store is opened, so commands without a store never load one.
 */
export const store = (
  spec: string = StoreSpec.DEFAULT_FILE,
  options: StoreOptions = {}
): Layer.Layer<MarketStore, StoreFailed, StoreContext> => {
  if (isPostgresUrl(spec)) {
    return Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./store/PgStore.js")), (PgStore) => PgStore.layer(spec)))
  }
  const sqlite = Effect.map(Effect.promise(() => import("./store/SqliteStore.js")), (SqliteStore) => SqliteStore.layer(spec))
  if (options.mustExist !== true) return Layer.unwrapEffect(sqlite)
  return Layer.unwrapEffect(
    Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(spec)).pipe(
      Effect.orElseSucceed(() => false),
      Effect.flatMap((exists) =>
        exists
          ? sqlite
          : Effect.fail(new StoreFailed({ store: spec, reason: "no such file (a market store is created by market serve)" }))
      )
    )
  )
}
