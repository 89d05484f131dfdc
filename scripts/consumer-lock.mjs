#!/usr/bin/env node
// Regenerate examples/consumer/package-lock.json (needs the npm registry): pack the
// project, resolve the consumer's dependencies against the packed tarball, and keep
// the lock without the tarball's integrity (it changes with every build). The test
// `test/consumer.test.ts` then installs from this lock offline (`npm ci --offline`).
// Run it after changing the package's dependencies: `npm run build && node scripts/consumer-lock.mjs`.
import { execFileSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const consumer = join(root, "examples", "consumer")
const work = mkdtempSync(join(tmpdir(), "trainmarket-consumer-lock-"))
try {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8" }))
  copyFileSync(join(work, packed.filename), join(work, "trainmarket.tgz"))
  copyFileSync(join(consumer, "package.json"), join(work, "package.json"))
  execFileSync("npm", ["install", "--package-lock-only", "--no-audit", "--no-fund"], { cwd: work, stdio: "inherit" })
  const lock = JSON.parse(readFileSync(join(work, "package-lock.json"), "utf8"))
  delete lock.packages["node_modules/trainmarket"].integrity
  writeFileSync(join(consumer, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`)
  console.error("wrote examples/consumer/package-lock.json")
} finally {
  rmSync(work, { recursive: true, force: true })
}
