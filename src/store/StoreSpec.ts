/**
 * What a `--store` argument names, without opening anything (so a command that only
 * names or prints a store loads no database driver): a `postgres://` or `postgresql://`
 * URL is a PostgreSQL database (`PgStore`); anything else is a SQLite file
 * (`SqliteStore`), by default `market.sqlite` in the working directory.
 */
import { Either } from "effect"
import { StoreFailed } from "../domain/Errors.js"

/** The default store file of `market serve`. */
export const DEFAULT_FILE = "market.sqlite"

/** Does `store` (a `--store` argument) name a PostgreSQL database? */
export const isPostgresUrl = (store: string): boolean => /^postgres(ql)?:\/\//i.test(store)

/** A PostgreSQL store's name in messages: its URL without the password; a string that is not a `postgres://` URL is refused. */
export const postgresName = (url: string): Either.Either<string, StoreFailed> => {
  const refused = new StoreFailed({
    store: "postgres",
    reason: "not a PostgreSQL URL: expected postgres://user@host:port/database"
  })
  if (!isPostgresUrl(url) || !URL.canParse(url)) return Either.left(refused)
  const parsed = new URL(url)
  parsed.password = ""
  parsed.searchParams.delete("password")
  return Either.right(parsed.toString())
}

/** A store spec fit for messages: a PostgreSQL URL without its password (in the authority or as `?password=`). */
export const nameOf = (spec: string): string =>
  isPostgresUrl(spec) ? Either.getOrElse(postgresName(spec), () => "postgres") : spec
