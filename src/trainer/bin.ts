#!/usr/bin/env node
/**
 * `trainmarket-trainer --config <file.json>`: train one recipe on the CPU with DiLoCo,
 * write a safetensors checkpoint, and print progress as JSON Lines on stdout (start,
 * step, sync, done). Errors go to stderr as one line; the exit code is 2 for a bad
 * command line, run config or data file and 1 for any other failure (including a
 * diverged run). A separate process, so a cluster launches it like any real training
 * framework, with a deadline.
 */
import * as fs from "node:fs"
import * as Either from "effect/Either"
import { DataInvalid } from "./Errors.js"
import { parseRunConfig } from "./RunConfig.js"
import type { TrainEvent } from "./Train.js"

const USAGE = `usage: trainmarket-trainer --config <run-config.json>

Trains one DiLoCo recipe on the CPU and writes <outDir>/model.safetensors.
Progress is printed as JSON Lines on stdout; see docs/trainer.md for the config.`

/** A failure with the exit code it maps to. */
class Exit extends Error {
  constructor(
    readonly code: number,
    message: string
  ) {
    super(message)
  }
}

const configPath = (argv: ReadonlyArray<string>): string | undefined => {
  let path: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") return undefined
    if (arg === "--config") {
      const value = argv[i + 1]
      if (value === undefined) throw new Exit(2, "--config needs a file path")
      path = value
      i++
    } else if (arg.startsWith("--config=")) {
      path = arg.slice("--config=".length)
    } else {
      throw new Exit(2, `unknown argument ${arg} (try --help)`)
    }
  }
  if (path === undefined || path === "") throw new Exit(2, "missing --config <file> (try --help)")
  return path
}

const emit = (event: TrainEvent): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  const path = configPath(argv)
  if (path === undefined) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  let text: string
  try {
    text = fs.readFileSync(path, "utf8")
  } catch (error) {
    throw new Exit(2, `cannot read run config ${path}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const config = parseRunConfig(text)
  if (Either.isLeft(config)) throw new Exit(2, config.left.message)
  // Loaded only now: a bad config is reported without starting the tensor backend.
  const { train } = await import("./Train.js")
  await train(config.right, emit)
}

// A reader that goes away (closed pipe) ends the run with one line, not a stack trace.
process.stdout.on("error", (error) => {
  process.stderr.write(`trainmarket-trainer: cannot write progress to stdout: ${error.message}\n`)
  process.exit(1)
})

main(process.argv.slice(2)).catch((error: unknown) => {
  // A config pointing at unusable data is a bad config too.
  const code = error instanceof Exit ? error.code : error instanceof DataInvalid ? 2 : 1
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`trainmarket-trainer: ${message.split("\n").join(" ")}\n`)
  process.exitCode = code
})
