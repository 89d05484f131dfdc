/**
 * The market's journal in one SQLite file (SPEC §16): the embedded default of
 * `trainmarket market serve` (`./market.sqlite`). WAL mode with `synchronous = FULL`:
 * an append is on disk (fsynced) when its transaction commits, which happens before the
 * request that caused it is answered, so a SIGKILL (or a power cut) loses nothing that
 * was answered. One process writes a SQLite store; several processes share a market
 * through `PgStore`. Back it up while it runs with `sqlite3 market.sqlite ".backup copy.sqlite"`.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import { SqlClient } from "@effect/sql/SqlClient"
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import { Effect, Layer } from "effect"
import type { StoreFailed } from "../domain/Errors.js"
import { MarketStore, localClaims } from "./MarketStore.js"
import * as SqlStore from "./SqlStore.js"
import * as StoreSpec from "./StoreSpec.js"

/** The default store file of `market serve`. */
export const DEFAULT_FILE = StoreSpec.DEFAULT_FILE

/** The store over an open SQLite client (migrated, WAL, fsync on commit). */
export const make = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* sql`PRAGMA synchronous = FULL`.pipe(Effect.mapError(SqlStore.failed(name, "cannot be configured")))
    const claim = yield* localClaims
    return MarketStore.of({
      name,
      shared: false,
      // one process, one connection: the transaction is the write lock
      ...SqlStore.journal(name, sql, Effect.void),
      claim,
      settlerRole: Effect.succeed(true)
    })
  })

/**
 * The journal in the SQLite file `filename` (created and migrated if new). Opening a
 * file that is not a database, or one that cannot be written, is `StoreFailed`.
 */
export const layer = (
  filename: string
): Layer.Layer<MarketStore, StoreFailed, FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor> => {
  const client = SqliteClient.layer({ filename })
  const migrated = SqliteMigrator.layer({ loader: SqlStore.migrations, table: SqlStore.MIGRATIONS_TABLE })
  return Layer.effect(MarketStore, make(filename)).pipe(
    Layer.provide(migrated),
    Layer.provide(client),
    // better-sqlite3 throws (a defect) on a file that is not a database: a typed refusal here
    Layer.catchAllCause((cause) => Layer.fail(SqlStore.openFailed(filename)(cause)))
  )
}
