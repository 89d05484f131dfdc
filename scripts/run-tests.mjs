#!/usr/bin/env node
// Run vitest with its JSON report, then print the closing "N passed, N failed" line
// from that report. Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process"

const report = ".vitest-report.json"
const run = spawnSync(
  process.execPath,
  ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" }
)
const summary = spawnSync(process.execPath, ["scripts/test-summary.mjs", report], { stdio: "inherit" })
process.exit(run.status !== 0 ? (run.status ?? 1) : (summary.status ?? 1))
