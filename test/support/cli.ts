/** Run the built `trainmarket` binary in a real child process (asynchronously, so vitest's worker stays responsive). */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
export const binary = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  input?: string
  cwd?: string
  env?: Record<string, string>
}

/** Run the built `trainmarket` binary with these arguments. */
export const runCli = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> =>
  runNode([binary, ...args], options)

/** Run Node (this test run's own executable) with these arguments in a child process. */
export const runNode = (
  args: ReadonlyArray<string>,
  options: RunOptions = {}
): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      }))
    child.stdin.end(options.input ?? "")
  })

/** Parse stdout as exactly one JSON document. */
export const jsonOf = (result: CliResult): unknown => JSON.parse(result.stdout)
