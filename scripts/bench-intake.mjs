#!/usr/bin/env node
// Benchmark of the live market's intake (SPEC §16, `market serve`; run `npm run build` first):
// submissions answered per second and p50/p99 latency with 64 concurrent clients over
// loopback (keep-alive agents), against
//   - a real `trainmarket market serve` process (simulated cluster, SQLite journal in a
//     temporary directory: WAL, synchronous=FULL, every submission durable before its 202),
//   - a bare `node:http` handler in its own process doing one durable SQLite insert per
//     request (better-sqlite3, WAL, synchronous=FULL): the floor a durable intake costs here,
// measured in the same run with the same load generator, and their ratio;
// and on PostgreSQL (`benchIntakePostgres()`, SPEC §16 Postgres): `market serve --store
// postgres://…` against a bare `node:http` handler doing one insert per request on the
// same database (a throwaway PostgreSQL 15 with durable commits, started as the tests
// start theirs), in the same run, and their ratio.
// Run directly it prints both (`--json`: one JSON document).
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const here = fileURLToPath(import.meta.url)

const CLIENTS = 64
const recipes = [
  { islands: 2, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 },
  { islands: 4, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 },
  { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 },
  { islands: 4, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.0005 }
]

/** Start a server process that prints `{"url"}` as its first stdout line; resolves with the URL and the child. */
const startServer = (args, cwd) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stderr.on("data", (chunk) => {
      err += chunk
    })
    child.stdout.on("data", (chunk) => {
      out += chunk
      if (out.includes("\n")) resolve({ url: JSON.parse(out.split("\n")[0]).url, child })
    })
    child.on("exit", (code) => reject(new Error(`server ended (${code}): ${err}`)))
  })

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

/** One POST with a keep-alive agent; resolves with its latency in ms (rejects on anything but 202). */
const post = (agent, url, token, body) =>
  new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const request = http.request(`${url}/v1/submissions`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${token}` }
    }, (response) => {
      response.resume()
      response.on("end", () =>
        response.statusCode === 202
          ? resolve(Number(process.hrtime.bigint() - start) / 1e6)
          : reject(new Error(`HTTP ${response.statusCode}`)))
    })
    request.on("error", reject)
    request.end(body)
  })

/** `CLIENTS` clients, each posting as fast as answers come, for `seconds`; throughput and latency percentiles. */
const load = async (url, token, seconds) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const latencies = []
  const deadline = Date.now() + seconds * 1000
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
    let i = client
    while (Date.now() < deadline) {
      const body = JSON.stringify({ recipe: recipes[i % recipes.length] })
      latencies.push(await post(agent, url, token, body))
      i += CLIENTS
    }
  }))
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    requests: latencies.length,
    seconds: Number(elapsed.toFixed(2)),
    perSecond: Math.round(latencies.length / elapsed),
    p50Ms: Number(at(0.5).toFixed(2)),
    p99Ms: Number(at(0.99).toFixed(2))
  }
}

/** Warm a server up, then measure it. */
const measure = async (url, token, seconds) => {
  await load(url, token, 2)
  return load(url, token, seconds)
}

/** The intake benchmark: the service and the bare durable handler, same load, same run. */
export async function benchIntake(options = {}) {
  const seconds = options.seconds ?? 5
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tm-bench-intake-"))
  try {
    const token = randomBytes(32).toString("hex")
    const { market, key } = servedMarket(dir, token)
    const bareFigures = await measured([here, "--bare-server", path.join(dir, "bare.sqlite")], dir, token, seconds)
    const serviceFigures = await measured(
      [path.join(root, "dist", "bin.js"), "market", "serve", market, "--port", "0", "--json", "--store", path.join(dir, "market.sqlite"), "--key-file", key],
      dir,
      token,
      seconds
    )
    return {
      clients: CLIENTS,
      service: serviceFigures,
      bareSqliteHandler: bareFigures,
      ratioToBare: Number((serviceFigures.perSecond / bareFigures.perSecond).toFixed(3))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A served market file and a key in `dir`, for a researcher token; returns the paths. */
const servedMarket = (dir, token) => {
  const market = path.join(dir, "market.json")
  fs.writeFileSync(market, JSON.stringify({
    cluster: { kind: "local-sim" },
    baseline: { recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: "0" },
    schedule: { kind: "record-bounty", epsilonMicros: "1000", weiPerMicro: "1000000000" },
    access: {
      operatorTokenSha256: createHash("sha256").update("operator").digest("hex"),
      researchers: [{ name: "bench", tokenSha256: createHash("sha256").update(token).digest("hex") }]
    }
  }))
  const key = path.join(dir, "key")
  fs.writeFileSync(key, randomBytes(32), { mode: 0o600 })
  return { market, key }
}

/** Measure a server process started with `args`, then stop it. */
const measured = async (args, dir, token, seconds) => {
  const server = await startServer(args, dir)
  try {
    return await measure(server.url, token, seconds)
  } finally {
    await stop(server.child)
  }
}

/**
 * The intake on PostgreSQL: the service (`--store postgres://…`) and a bare handler doing
 * one autocommitted insert per request on the same server, same load, same run.
 */
export async function benchIntakePostgres(options = {}) {
  const seconds = options.seconds ?? 5
  // the tests' throwaway server (TypeScript, loaded through tsx): durable commits here
  const { register } = await import("tsx/esm/api")
  register()
  const Postgres = await import(pathToFileURL(path.join(root, "test", "support", "postgres.ts")).href)
  const server = await Postgres.start({ durable: true })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tm-bench-intake-pg-"))
  try {
    const token = randomBytes(32).toString("hex")
    const { market, key } = servedMarket(dir, token)
    const bare = await measured([here, "--bare-pg-server", await server.createDatabase("bare")], dir, token, seconds)
    const service = await measured(
      [path.join(root, "dist", "bin.js"), "market", "serve", market, "--port", "0", "--json", "--store", await server.createDatabase("market"), "--key-file", key],
      dir,
      token,
      seconds
    )
    return {
      clients: CLIENTS,
      service,
      barePostgresHandler: bare,
      ratioToBare: Number((service.perSecond / bare.perSecond).toFixed(3))
    }
  } finally {
    await server.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The bare handler's HTTP side: parse the body, `insert` it, answer 202. */
const bareServer = (insert) => {
  const server = http.createServer((request, response) => {
    const chunks = []
    request.on("data", (chunk) => chunks.push(chunk))
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      const id = `sub-${randomBytes(16).toString("hex")}`
      Promise.resolve(insert(id, JSON.stringify(body.recipe))).then(
        () => {
          response.writeHead(202, { "content-type": "application/json" })
          response.end(JSON.stringify({ submissionId: id, status: "queued" }))
        },
        (error) => {
          response.writeHead(500)
          response.end(String(error))
        }
      )
    })
  })
  server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`))
}

// The bare handlers (child modes): one autocommitted insert per request, answered after it.
if (process.argv[2] === "--bare-server") {
  const Database = createRequire(path.join(root, "package.json"))("better-sqlite3")
  const db = new Database(process.argv[3])
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = FULL")
  db.exec("CREATE TABLE IF NOT EXISTS submissions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body TEXT NOT NULL)")
  const insert = db.prepare("INSERT INTO submissions (id, body) VALUES (?, ?)")
  bareServer((id, body) => insert.run(id, body))
} else if (process.argv[2] === "--bare-pg-server") {
  const { Pool } = createRequire(path.join(root, "package.json"))("pg")
  const pool = new Pool({ connectionString: process.argv[3], max: 32 })
  await pool.query("CREATE TABLE IF NOT EXISTS submissions (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, body TEXT NOT NULL)")
  bareServer((id, body) => pool.query("INSERT INTO submissions (id, body) VALUES ($1, $2)", [id, body]))
} else if (process.argv[1] === here) {
  const report = { sqlite: await benchIntake(), postgres: await benchIntakePostgres() }
  process.stdout.write(process.argv.includes("--json") ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`)
}
