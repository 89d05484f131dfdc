/** Run the built `trainmarket` binary in a real child process (asynchronously, so vitest's worker stays responsive). */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { main } from "../../src/cli/Cli.js"
import * as Output from "../../src/cli/Output.js"
import * as Layers from "../../src/Layers.js"

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
export const binary = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** stdin's text (a pipe, closed after it); `null` for no stdin at all (/dev/null, as for a command typed at a terminal). */
  input?: string | null
  cwd?: string
  env?: Record<string, string>
}

/** Run the built `trainmarket` binary with these arguments. */
export const runCli = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> =>
  runNode([binary, ...args], options)

/** Run Node (this test run's own executable) with these arguments in a child process. */
export const runNode = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> =>
  runProcess(process.execPath, args, options)

/** Run a program with these arguments in a child process; stdin is `input` (default empty). */
export const runProcess = (
  file: string,
  args: ReadonlyArray<string>,
  options: RunOptions = {}
): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: [options.input === null ? "ignore" : "pipe", "pipe", "pipe"]
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      }))
    child.stdin?.end(options.input ?? "")
  })

/** Parse stdout as exactly one JSON document. */
export const jsonOf = (result: CliResult): unknown => JSON.parse(result.stdout)

/**
 * Run the CLI in this process (`Cli.main` with a captured `Output`), as the binary would
 * run it: same exit codes, same stdout and stderr text. `input` is stdin; `terminal`
 * pretends stderr is a terminal (status lines are drawn).
 */
export const runInProcess = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly terminal?: boolean } = {}
): Promise<CliResult> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const test = yield* Output.makeTest(options)
      const code = yield* main(args).pipe(Effect.provide(Layer.merge(test.layer, Layers.platform)))
      const captured = yield* test.captured
      return { code, ...captured }
    })
  )
