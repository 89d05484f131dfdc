/**
 * A throwaway PostgreSQL server for the tests (no mocks of the database): `initdb` a
 * temporary data directory, start the server on a free loopback port (127.0.0.1 only,
 * its unix socket inside the directory, trust authentication for the `trainmarket`
 * superuser), and stop it and remove the directory afterwards — also when the test
 * process exits without calling `stop`. As root (CI, these machines) the directory
 * belongs to the `postgres` user and the server runs as that user (PostgreSQL refuses
 * to run as root). With no PostgreSQL installed, `start` fails saying so (`.ci/run`
 * installs Debian's `postgresql`).
 *
 *   const server = await Postgres.start()
 *   const url = await server.createDatabase("market")   // postgres://trainmarket@127.0.0.1:PORT/market
 *   ...
 *   await server.stop()
 */
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { freePort } from "../fixtures/standins.js"

const run = promisify(execFile)

/** The superuser the tests connect as (trusted, no password). */
export const USER = "trainmarket"

/** A running throwaway server. */
export interface PostgresServer {
  readonly port: number
  /** The temporary directory holding the data directory, the socket and the server log. */
  readonly dir: string
  /** The URL of database `database` on this server (`postgres` exists from the start). */
  readonly url: (database?: string) => string
  /** Create a fresh database and return its URL. */
  readonly createDatabase: (name: string) => Promise<string>
  /** Run one SQL statement as the superuser on `database` (default `postgres`) and return its rows, tab-separated. */
  readonly query: (statement: string, database?: string) => Promise<string>
  /** Stop the server at once and remove its directory (idempotent). */
  readonly stop: () => Promise<void>
}

const binNames = ["initdb", "pg_ctl", "psql"] as const
type Bins = Record<(typeof binNames)[number], string>

/** The server's binaries: on PATH, else in Debian's `/usr/lib/postgresql/<version>/bin` (newest version). */
export const findBinaries = (): Bins | undefined => {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "")
  const debian = "/usr/lib/postgresql"
  if (fs.existsSync(debian)) {
    const versions = fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    dirs.push(...versions.map((v) => path.join(debian, v, "bin")))
  }
  const bins: Partial<Bins> = {}
  for (const name of binNames) {
    const found = dirs.map((d) => path.join(d, name)).find((file) => fs.existsSync(file))
    if (found === undefined) return undefined
    bins[name] = found
  }
  return { initdb: bins.initdb!, pg_ctl: bins.pg_ctl!, psql: bins.psql! }
}

const asRoot = process.getuid?.() === 0

/** Run a server binary, as the `postgres` user when we are root. */
const runServerBinary = (file: string, args: ReadonlyArray<string>) =>
  asRoot ? run("runuser", ["-u", "postgres", "--", file, ...args]) : run(file, [...args])

const stopSync = (pgCtl: string, data: string, dir: string) => {
  try {
    const args = ["-D", data, "stop", "-m", "immediate", "-w"]
    if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", pgCtl, ...args], { stdio: "ignore" })
    else execFileSync(pgCtl, args, { stdio: "ignore" })
  } catch {
    // not running (any more)
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

/** Start a fresh server; fails (with what to do) when PostgreSQL is not installed. */
export const start = async (options: {
  /** Durable commits (fsync on, as a real server runs): for benchmarks. Tests run without them, faster. */
  readonly durable?: boolean
} = {}): Promise<PostgresServer> => {
  const bins = findBinaries()
  if (bins === undefined) {
    throw new Error(
      "PostgreSQL is not installed: no initdb/pg_ctl/psql on PATH or in /usr/lib/postgresql/*/bin. " +
        "Install it (Debian: apt-get install -y postgresql; .ci/run does this) to run the PostgreSQL tests."
    )
  }
  // the server's user must reach the directory: a fresh one in the system temp directory, owned by it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tm-pg-"))
  const data = path.join(dir, "data")
  const log = path.join(dir, "server.log")
  if (asRoot) execFileSync("chown", ["postgres:", dir])
  let stopped = false
  const onExit = () => {
    if (!stopped) stopSync(bins.pg_ctl, data, dir)
  }
  process.once("exit", onExit)
  try {
    await runServerBinary(bins.initdb, ["-D", data, "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
    let port = 0
    for (let attempt = 1;; attempt++) {
      port = await freePort()
      const sync = options.durable === true ? "" : " -c fsync=off -c full_page_writes=off"
      const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}${sync} -c max_connections=200`
      try {
        await runServerBinary(bins.pg_ctl, ["-D", data, "-l", log, "-o", settings, "-w", "-t", "60", "start"])
        break
      } catch (error) {
        // another process took the port between our probe and the server's bind: try another one
        if (attempt >= 3) {
          const serverLog = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""
          throw new Error(`PostgreSQL did not start: ${error instanceof Error ? error.message : String(error)}\n${serverLog}`)
        }
      }
    }
    const url = (database = "postgres") => `postgres://${USER}@127.0.0.1:${port}/${database}`
    const query = async (statement: string, database = "postgres") => {
      const { stdout } = await run(bins.psql, ["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url(database), "-c", statement])
      return stdout.trim()
    }
    return {
      port,
      dir,
      url,
      query,
      createDatabase: async (name) => {
        await query(`CREATE DATABASE "${name.replaceAll("\"", "\"\"")}"`)
        return url(name)
      },
      stop: async () => {
        if (stopped) return
        stopped = true
        process.off("exit", onExit)
        stopSync(bins.pg_ctl, data, dir)
      }
    }
  } catch (error) {
    stopped = true
    process.off("exit", onExit)
    stopSync(bins.pg_ctl, data, dir)
    throw error
  }
}
