#!/usr/bin/env node
// Summarise vitest's JSON report as the one closing line CI reads: "N passed, N failed".
// Exits non-zero when anything failed, when no test ran, or when the report is missing.
import { readFileSync } from "node:fs"

const file = process.argv[2] ?? ".vitest-report.json"
let report
try {
  report = JSON.parse(readFileSync(file, "utf8"))
} catch (error) {
  console.error(`test-summary: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`)
  console.log("0 passed, 1 failed")
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// A test file that failed without a failing test (it did not load) counts as one failure.
const brokenFiles = (report.testResults ?? []).filter((file) =>
  file.status === "failed" && (file.assertionResults ?? []).every((test) => test.status !== "failed")
).length
const failed = (report.numFailedTests ?? 0) + brokenFiles
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(skipped > 0 ? `${passed} passed, ${failed} failed, ${skipped} skipped` : `${passed} passed, ${failed} failed`)
process.exit(failed > 0 || passed === 0 || report.success === false ? 1 : 0)
