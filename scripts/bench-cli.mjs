#!/usr/bin/env node
// Start-up of the `trainmarket` CLI (dist/bin.js, so run `npm run build` first): the fixed
// cost every command pays before doing anything, measured as the wall time of whole
// processes — `trainmarket --help`, `trainmarket demo --help` — against `node -e 0` (Node's
// own start-up) on the same machine at the same moment: `runs` interleaved rounds after
// one unmeasured round, medians (and ranges) in milliseconds.
// `benchCliStartup()` returns one object; run directly it prints it
// (`node scripts/bench-cli.mjs [--runs N] [--bin other/bin.js] [--json]`).
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const cliBin = path.join(root, "dist", "bin.js")

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const wallMs = (args) => {
  const start = process.hrtime.bigint()
  const run = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (run.status !== 0) {
    const why = run.error?.message ?? (run.signal === null ? `exited ${run.status}` : `was killed by ${run.signal}`)
    throw new Error(`node ${args.join(" ")} ${why}: ${(run.stderr ?? "").trim().split("\n").at(-1) ?? ""}`)
  }
  return ms
}

/** Medians of `runs` interleaved launches of each command line, and each CLI command's cost over `node -e 0`. */
export function benchCliStartup(runs = 15, bin = cliBin) {
  const commands = {
    "node -e 0": ["-e", "0"],
    "trainmarket --help": [bin, "--help"],
    "trainmarket demo --help": [bin, "demo", "--help"]
  }
  const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
  for (const args of Object.values(commands)) wallMs(args)
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(commands)) times[name].push(wallMs(args))
  }
  const node = median(times["node -e 0"])
  const summary = (name) => {
    const ms = median(times[name])
    return {
      medianMs: Math.round(ms),
      minMs: Math.round(Math.min(...times[name])),
      maxMs: Math.round(Math.max(...times[name])),
      ...(name === "node -e 0" ? {} : { overNodeMs: Math.round(ms - node) })
    }
  }
  return { runs, ...Object.fromEntries(Object.keys(commands).map((name) => [name, summary(name)])) }
}

/** Print the figures for a person. */
export const printCliStartup = (result, write = (line) => process.stdout.write(`${line}\n`)) => {
  write(`CLI start-up (median of ${result.runs} launches each, interleaved):`)
  for (const [name, figures] of Object.entries(result)) {
    if (name === "runs") continue
    write(
      `  ${name.padEnd(24)} ${String(figures.medianMs).padStart(5)} ms  (${figures.minMs}-${figures.maxMs})` +
        (figures.overNodeMs === undefined ? "" : `  ${figures.overNodeMs} ms over node -e 0`)
    )
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const option = (name) => {
    const at = process.argv.indexOf(name)
    return at > 0 ? process.argv[at + 1] : undefined
  }
  const bin = option("--bin")
  const result = benchCliStartup(Number(option("--runs") ?? 15), bin === undefined ? cliBin : path.resolve(bin))
  if (process.argv.includes("--json")) console.log(JSON.stringify(result))
  else printCliStartup(result)
}
