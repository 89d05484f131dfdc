/**
 * The market's journal in SQL (SPEC §16), through `@effect/sql`'s `SqlClient` only —
 * the driver is a layer chosen at the edge (`SqliteStore`, `PgStore`). One append-only
 * table holds the events (`seq`, `at_ms`, `kind`, the event as JSON); `market_jobs` holds
 * one row per accepted submission where several processes share the store (PgStore
 * writes and claims them with row locks; a SQLite store leaves the table empty). The schema is created by `@effect/sql`'s migrator, numbered and forward only.
 *
 * Appends happen only under the store's write lock (`locked`), so sequence numbers are
 * given out in order with no gap: `seq` is the previous maximum plus one, inside the
 * same transaction that inserts the row.
 */
import * as Migrator from "@effect/sql/Migrator"
import { SqlClient } from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Option, Schema } from "effect"
import { StoreFailed } from "../domain/Errors.js"
import * as Journal from "../market/Journal.js"

/** The migrations of the journal's schema (shared by every SQL store). */
export const migrations = Migrator.fromRecord({
  "1_journal": Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* sql.onDialectOrElse({
      pg: () =>
        sql`CREATE TABLE market_events (
          seq BIGINT PRIMARY KEY,
          at_ms BIGINT NOT NULL,
          kind TEXT NOT NULL,
          payload TEXT NOT NULL
        )`,
      orElse: () =>
        sql`CREATE TABLE market_events (
          seq INTEGER PRIMARY KEY,
          at_ms INTEGER NOT NULL,
          kind TEXT NOT NULL,
          payload TEXT NOT NULL
        )`
    })
    yield* sql`CREATE TABLE market_jobs (
      submission_id TEXT PRIMARY KEY,
      idx BIGINT NOT NULL,
      done BOOLEAN NOT NULL DEFAULT FALSE
    )`
    yield* sql`CREATE INDEX market_jobs_open ON market_jobs (done, idx)`
  })
})

/** The name of the migrations table. */
export const MIGRATIONS_TABLE = "market_migrations"

/** An event as its row's payload: the event's JSON text. */
const EventJson = Schema.parseJson(Journal.MarketEvent)
const encodeEvent = Schema.encodeSync(EventJson)
const decodeEvent = Schema.decodeEither(EventJson)

interface Row {
  readonly seq: number | string | bigint
  readonly payload: string
}

/** Is this the driver's failure (rather than the caller's own typed error)? */
export const isSqlError = (error: unknown): error is SqlError => error instanceof SqlError

/** What went wrong, with the driver's own message when it has one. */
export const describe = (error: { readonly message: string; readonly cause?: unknown }): string =>
  `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ""}`

/** A SQL failure as the typed error the market reports. */
export const failed = (store: string, what: string) => (error: SqlError): StoreFailed =>
  new StoreFailed({ store, reason: `${what}: ${describe(error)}` })

/**
 * Why a store could not be opened, as the typed refusal: drivers throw (a defect) on
 * some bad inputs (a file that is not a database), so the whole cause is looked at.
 */
export const openFailed = (store: string) => (cause: Cause.Cause<unknown>): StoreFailed => {
  const error = Cause.squash(cause)
  if (error instanceof StoreFailed) return error
  const reason = error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
    ? describe({ message: String(error.message), cause: "cause" in error ? error.cause : undefined })
    : String(error)
  return new StoreFailed({ store, reason: `cannot be opened as a market store: ${reason}` })
}

/**
 * The store's `locked`: `self` in one transaction on `sql`, after `lock` (the store's
 * write lock, if the transaction alone is not one). Every driver failure is
 * `StoreFailed`, also a failed commit (which `withTransaction` reports as a defect).
 */
const transaction = (store: string, sql: SqlClient, lock: Effect.Effect<unknown, SqlError>) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreFailed, R> =>
  sql.withTransaction(Effect.zipRight(lock, self)).pipe(
    Effect.catchIf(isSqlError, (error) => Effect.fail(failed(store, "a transaction failed")(error))),
    Effect.catchSomeDefect((defect) =>
      isSqlError(defect) ? Option.some(Effect.fail(failed(store, "a transaction failed")(defect))) : Option.none()
    )
  )

/**
 * The journal half of a SQL store over the client `sql`: `read`, `append`, and `locked`
 * (one transaction, after `lock` takes the store's write lock when the transaction alone
 * is not one).
 */
export const journal = (store: string, sql: SqlClient, lock: Effect.Effect<unknown, SqlError>) => ({
  read: (afterSeq: number) => Effect.provideService(read(store, afterSeq), SqlClient, sql),
  append: (events: ReadonlyArray<Journal.MarketEvent>) => Effect.provideService(append(store, events), SqlClient, sql),
  locked: transaction(store, sql, lock)
})

/** Read the journal after `afterSeq`; an event that does not decode is reported by its number. */
export const read = (store: string, afterSeq: number) =>
  Effect.flatMap(SqlClient, (sql) =>
    sql<Row>`SELECT seq, payload FROM market_events WHERE seq > ${afterSeq} ORDER BY seq`.pipe(
      Effect.mapError(failed(store, "the journal cannot be read")),
      Effect.flatMap((rows) =>
        Effect.forEach(rows, (row) => {
          const seq = Number(row.seq)
          const decoded = decodeEvent(row.payload)
          return decoded._tag === "Right"
            ? Effect.succeed<Journal.Stored>({ seq, event: decoded.right })
            : Effect.fail(new StoreFailed({ store, reason: `journal event ${seq} is corrupt: ${decoded.left.message}` }))
        })
      )
    ))

/** Rows per INSERT statement: well under every driver's limit on bound parameters. */
const ROWS_PER_INSERT = 500

export const chunks = <A>(rows: ReadonlyArray<A>): ReadonlyArray<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(rows.length / ROWS_PER_INSERT) }, (_, i) =>
    rows.slice(i * ROWS_PER_INSERT, (i + 1) * ROWS_PER_INSERT))

/** Append events after the journal's last one (call inside the write lock), a few statements for the whole batch. */
export const append = (store: string, events: ReadonlyArray<Journal.MarketEvent>) =>
  Effect.flatMap(SqlClient, (sql) =>
    Effect.gen(function*() {
      if (events.length === 0) return []
      const [last] = yield* sql<{ readonly last: number | string | bigint | null }>`SELECT MAX(seq) AS last FROM market_events`
      const first = Number(last?.last ?? 0) + 1
      const stored = events.map((event, i): Journal.Stored => ({ seq: first + i, event }))
      for (const rows of chunks(stored)) {
        yield* sql`INSERT INTO market_events ${
          sql.insert(rows.map(({ event, seq }) => ({
            seq,
            at_ms: Math.round(event.at),
            kind: event._tag,
            payload: encodeEvent(event)
          })))
        }`
      }
      return stored
    }).pipe(Effect.mapError(failed(store, "the journal cannot be written")))
  )
