/**
 * The market's journal in PostgreSQL (SPEC §16 "Postgres"): `trainmarket market serve
 * --store postgres://user@host:port/db`. Several `serve` processes share one database:
 * any of them answers requests (the market reads the journal before every answer and
 * polls it for the others' events), and the database coordinates the rest:
 *
 * - **Writes** (`locked`): one transaction that first takes a transaction-scoped
 *   advisory lock (`pg_advisory_xact_lock`), so writers on every process are serialized,
 *   decide on the journal as it is, and commit in sequence order (a reader never sees
 *   a gap that fills later). The lock ends with the transaction.
 * - **Jobs** (`claim`): a row of `market_jobs` per accepted submission, claimed with
 *   `SELECT … FOR UPDATE SKIP LOCKED` in a transaction held open on a connection of
 *   its own for as long as the job runs; `done` marks the row and commits. A claim
 *   released without `done` rolls back, and a process that dies drops its connection:
 *   either way PostgreSQL releases the row lock and the job is claimable at once.
 * - **Settling** (`settlerRole`): a session advisory lock (`pg_try_advisory_lock`) on a
 *   connection of its own; one process holds it at a time, and it is released when
 *   that process stops or dies. Settlement itself is decided under the write lock on
 *   the journal as it is, so even two settlers (a settler cut off from the database
 *   while another takes the role) could not settle anything twice.
 *
 * Connections that hold something (a claim, the settler role) come from a pool of
 * their own, so however many jobs run, reads and writes always find a connection.
 * Advisory locks belong to one database: one market per database.
 */
import type { CommandExecutor, FileSystem, Path } from "@effect/platform"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import { Context, Duration, Effect, Either, ExecutionStrategy, Exit, Layer, Option, Redacted, Scope } from "effect"
import { StoreFailed } from "../domain/Errors.js"
import * as StoreSpec from "./StoreSpec.js"
import { type Claim, MarketStore } from "./MarketStore.js"
import * as SqlStore from "./SqlStore.js"

/**
 * The advisory lock keys (one market per database, so constants): the write lock, the
 * settler role and the migrations. Under 2^31, so `pg_locks` shows each as `objid`.
 */
export const locks = {
  write: 0x746d_0001,
  settler: 0x746d_0002,
  migrations: 0x746d_0003
} as const

/** How a `PgStore` connects. */
export interface Options {
  /** Connections for reads and writes (default 10). */
  readonly maxConnections?: number | undefined
  /** Connections that hold a claim or the settler role, one each while it lasts (default 32); more claims wait. */
  readonly maxHeld?: number | undefined
  /** How this process's connections are named in `pg_stat_activity` (default `trainmarket`). */
  readonly applicationName?: string | undefined
  /** How long connecting may take (default 5 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/** Does `store` (a `--store` argument) name a PostgreSQL database? */
export const isUrl = StoreSpec.isPostgresUrl

/** The store's name in messages: its URL without the password; a string that is not a `postgres://` URL is refused. */
export const nameOf = StoreSpec.postgresName

const CLAIM_NEXT = "SELECT submission_id FROM market_jobs WHERE NOT done ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED"

/**
 * A connection of `holder` reserved in a scope of its own (closed with the current
 * scope at the latest), so what holds nothing can give it back at once.
 */
const reserveHeld = (holder: PgClient.PgClient) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const conn = yield* Scope.extend(holder.reserve, scope)
    return { conn, release: Scope.close(scope, Exit.void), scope }
  })

/** Claim the first open job nobody holds, on a reserved connection, for as long as the current scope lives. */
const claimJob = (name: string, holder: PgClient.PgClient) =>
  Effect.gen(function*() {
    const { conn, release, scope } = yield* reserveHeld(holder)
    let committed = false
    // registered before BEGIN: however the claim ends without `done`, its transaction rolls back
    yield* Scope.addFinalizer(scope, Effect.suspend(() => (committed ? Effect.void : Effect.ignore(conn.executeRaw("ROLLBACK", [])))))
    const found = yield* Effect.zipRight(conn.executeRaw("BEGIN", []), conn.executeValues(CLAIM_NEXT, [])).pipe(
      Effect.map((rows) => rows[0]?.[0]),
      Effect.onError(() => release)
    )
    if (typeof found !== "string") {
      yield* release
      return Option.none<Claim>()
    }
    const done = Effect.suspend(() =>
      committed ? Effect.void : conn.executeRaw("UPDATE market_jobs SET done = TRUE WHERE submission_id = $1", [found]).pipe(
        Effect.zipRight(conn.executeRaw("COMMIT", [])),
        Effect.zipRight(Effect.sync(() => {
          committed = true
        })),
        Effect.mapError(SqlStore.failed(name, `job ${found} cannot be marked done`))
      )
    )
    return Option.some<Claim>({ submissionId: found, done })
  }).pipe(Effect.mapError(SqlStore.failed(name, "a job cannot be claimed")))

/** Take the settler role (a session advisory lock) for as long as the current scope lives; false when another process has it. */
const takeSettlerRole = (holder: PgClient.PgClient) =>
  Effect.gen(function*() {
    const { conn, release, scope } = yield* reserveHeld(holder)
    const unlock = Effect.ignore(conn.executeRaw("SELECT pg_advisory_unlock($1)", [locks.settler]))
    const held = yield* conn.executeValues("SELECT pg_try_advisory_lock($1)", [locks.settler]).pipe(
      Effect.map((rows) => rows[0]?.[0] === true),
      Effect.tap((held) => (held ? Scope.addFinalizer(scope, unlock) : Effect.void)),
      Effect.uninterruptible,
      Effect.onError(() => release)
    )
    if (!held) yield* release
    return held
  })

/**
 * The store over an open PostgreSQL client (migrated): reads and writes on it, claims
 * and the settler role on connections of `held`. (Not exported: `layer` is the whole
 * public entry point, so the package's declarations need no types of the `pg` driver.)
 */
const make = (name: string, held: PgClient.PgClient) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const journal = SqlStore.journal(name, sql, sql`SELECT pg_advisory_xact_lock(${locks.write})`)
    return MarketStore.of({
      name,
      shared: true,
      ...journal,
      // in the same transaction as its events, each accepted submission gets the job row workers claim
      append: (events) =>
        Effect.tap(journal.append(events), () => {
          const jobs = events.flatMap((event) =>
            event._tag === "accepted" ? [{ submission_id: event.submissionId, idx: event.index }] : []
          )
          return Effect.forEach(SqlStore.chunks(jobs), (rows) => sql`INSERT INTO market_jobs ${sql.insert(rows)}`, { discard: true })
            .pipe(Effect.mapError(SqlStore.failed(name, "the journal cannot be written")))
        }),
      // the database's open jobs are the queue (with jobs another process has accepted but this one has not read yet)
      claim: (_queued) => claimJob(name, held),
      settlerRole: Effect.mapError(takeSettlerRole(held), SqlStore.failed(name, "the settler role cannot be taken"))
    })
  })

/** Run the journal's migrations, one process at a time (a session advisory lock around the migrator). */
const migrate = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const conn = yield* sql.reserve
  yield* conn.executeRaw("SELECT pg_advisory_lock($1)", [locks.migrations])
  yield* Effect.addFinalizer(() => Effect.ignore(conn.executeRaw("SELECT pg_advisory_unlock($1)", [locks.migrations])))
  yield* PgMigrator.run({ loader: SqlStore.migrations, table: SqlStore.MIGRATIONS_TABLE })
}).pipe(Effect.scoped)

/**
 * The journal in the PostgreSQL database at `url` (`postgres://user[:password]@host:port/database`),
 * its schema created or migrated on open. A bad URL, an unreachable database or a
 * refused login is `StoreFailed` here, as the layer is built.
 */
export const layer = (
  url: string,
  options: Options = {}
): Layer.Layer<MarketStore, StoreFailed, FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor> =>
  Either.match(nameOf(url), {
    onLeft: (refused) => Layer.fail(refused),
    onRight: (name) => {
      const client = (maxConnections: number) =>
        Layer.build(PgClient.layer({
          url: Redacted.make(url),
          applicationName: options.applicationName ?? "trainmarket",
          connectTimeout: options.connectTimeout ?? Duration.seconds(5),
          maxConnections
        }))
      return Layer.scoped(
        MarketStore,
        Effect.gen(function*() {
          const main = yield* client(options.maxConnections ?? 10)
          const held = yield* client(options.maxHeld ?? 32)
          yield* Effect.provide(migrate, main)
          return yield* Effect.provide(make(name, Context.get(held, PgClient.PgClient)), main)
        })
      ).pipe(Layer.catchAllCause((cause) => Layer.fail(SqlStore.openFailed(name)(cause))))
    }
  })
