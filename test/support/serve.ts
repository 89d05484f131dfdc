/**
 * `trainmarket market serve` as a real process for the end-to-end and crash tests:
 * start it on a free loopback port (`--port 0 --json`, the URL read from the one line
 * it prints), talk to it with fetch, stop it with a real signal, and kill whatever is
 * left when the file ends (`killServed` in `afterAll`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { binary, repoRoot, runCli } from "./cli.js"
import { access, tokens } from "./service.js"

const started = new Set<ChildProcess>()

/** A running `market serve`. */
export interface Served {
  readonly url: string
  readonly child: ChildProcess
  readonly pid: number
  /** Everything it wrote on stderr so far. */
  readonly stderr: () => string
  /** How it ended. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/**
 * Start `market serve <file> --port 0 --json …args`; resolves once it listens (the URL
 * line), rejects with its stderr if it ends first.
 */
export const serve = (file: string, args: ReadonlyArray<string>, cwd: string): Promise<Served> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binary, "market", "serve", file, "--port", "0", "--json", ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    started.add(child)
    let out = ""
    let err = ""
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on("exit", (code, signal) => {
        started.delete(child)
        done({ code, signal })
      })
    )
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString("utf8")
    })
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8")
      const line = out.split("\n")[0]
      if (out.includes("\n") && line !== undefined) {
        const printed = JSON.parse(line) as { url: string }
        resolve({ url: printed.url, child, pid: child.pid ?? -1, stderr: () => err, exited })
      }
    })
    void exited.then(({ code, signal }) => reject(new Error(`serve ended before listening (${code ?? signal}): ${err}`)))
  })

/** SIGKILL every `serve` this file started that is still running (call from `afterAll`). */
export const killServed = (): void => {
  for (const child of started) child.kill("SIGKILL")
}

/** A request to the service; the parsed body and status. */
export const call = async (
  url: string,
  method: "GET" | "POST",
  route: string,
  options: { readonly token?: string; readonly body?: unknown } = {}
): Promise<{ readonly status: number; readonly body: unknown }> => {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(options.body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
  })
  const text = await response.text()
  return { status: response.status, body: text === "" ? null : JSON.parse(text) as unknown }
}

/** A submission as the operator sees it over HTTP (the fields the tests read). */
export interface WireSubmission {
  readonly submissionId: string
  readonly researcher: string
  readonly recipe: Record<string, number>
  readonly index: number
  readonly status: "queued" | "training" | "settled" | "failed"
  readonly paidWei: string | null
  readonly becameRecord: boolean | null
}

/** Every submission, oldest first, as the operator sees it. */
export const operatorList = async (url: string): Promise<Array<WireSubmission>> => {
  const answer = await call(url, "GET", "/v1/submissions", { token: tokens.operator })
  if (answer.status !== 200) throw new Error(`GET /v1/submissions: ${answer.status} ${JSON.stringify(answer.body)}`)
  return [...(answer.body as { submissions: Array<WireSubmission> }).submissions].sort((a, b) => a.index - b.index)
}

/** Poll (real time) until `done` holds of the operator's list; returns it. */
export const waitFor = async (
  url: string,
  done: (list: ReadonlyArray<WireSubmission>) => boolean,
  timeoutMillis = 120_000
): Promise<Array<WireSubmission>> => {
  const start = Date.now()
  for (;;) {
    const list = await operatorList(url)
    if (done(list)) return list
    if (Date.now() - start > timeoutMillis) throw new Error(`gave up waiting: ${JSON.stringify(list.map((s) => s.status))}`)
    await new Promise((wake) => setTimeout(wake, 100))
  }
}

/** Every submission has settled (or failed). */
export const allSettled = (count: number) => (list: ReadonlyArray<WireSubmission>): boolean =>
  list.length === count && list.every((s) => s.status === "settled" || s.status === "failed")

/** Write a served market file (the reference record-bounty market plus `extra`) with the test tokens' access block. */
export const writeMarketFile = (dir: string, extra: Record<string, unknown> = {}): string => {
  const file = path.join(dir, "market.json")
  fs.writeFileSync(
    file,
    JSON.stringify({
      cluster: { kind: "local-sim" },
      evalShards: 16,
      baseline: { recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: "0" },
      schedule: { kind: "record-bounty", epsilonMicros: "1000", weiPerMicro: "1000000000" },
      ...extra,
      access
    }, null, 2)
  )
  return file
}

/** A fresh operator key file in `dir` (so every process of a test signs and seeds alike). */
export const writeKey = (dir: string): string => {
  const file = path.join(dir, "operator.key")
  fs.writeFileSync(file, Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 0xff)), { mode: 0o600 })
  return file
}

/**
 * `market replay --json` of the served market's file with these submissions in this
 * order: what the payouts of the live run must equal.
 */
export const replayOf = async (
  marketFile: string,
  submissions: ReadonlyArray<{ readonly researcher: string; readonly recipe: unknown }>,
  keyFile: string,
  dir: string
) => {
  const served = JSON.parse(fs.readFileSync(marketFile, "utf8")) as Record<string, unknown>
  const file = path.join(dir, `replay-${Date.now()}.json`)
  fs.writeFileSync(file, JSON.stringify({ ...served, submissions: submissions.map((s) => ({ researcher: s.researcher, recipe: s.recipe })) }))
  const result = await runCli(["market", "replay", file, "--json", "--key-file", keyFile], { cwd: dir })
  if (result.code !== 0) throw new Error(`market replay failed: ${result.stdout}${result.stderr}`)
  return JSON.parse(result.stdout) as {
    results: Array<{ researcher: string; paidWei: string; becameRecord: boolean; liftMicros: string | null }>
    payouts: Array<{ researcher: string; wei: string }>
    spentWei: string
  }
}

/** `market audit --store <file> --json` as a process. */
export const auditOf = async (store: string, cwd: string) => {
  const result = await runCli(["market", "audit", "--store", store, "--json"], { cwd })
  return {
    code: result.code,
    stderr: result.stderr,
    audit: JSON.parse(result.stdout) as {
      events: number
      recomputeAgrees: boolean
      payouts: Array<{ researcher: string; wei: string }>
    }
  }
}

export { repoRoot }
