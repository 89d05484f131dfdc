#!/usr/bin/env node
// The `trainmarket-trainer` command: runs the built trainer (dist/trainer/bin.js), or
// says how to build it when it is not built yet (a fresh clone before `npm run build`).
import { existsSync } from "node:fs"

const entry = new URL("../dist/trainer/bin.js", import.meta.url)
if (existsSync(entry)) {
  await import(entry.href)
} else {
  process.stderr.write("trainmarket-trainer is not built yet: run npm run build\n")
  process.exitCode = 1
}
