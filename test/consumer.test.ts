/**
 * The package as a user installs it: `npm pack` the project, install the tarball into
 * a fresh copy of `examples/consumer` (a separate package with its own package.json and
 * lock) offline from the npm cache, type-check it against the packed declarations and run
 * it. Effect is a peer dependency, so the consumer's one Effect is the one the library
 * runs on.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { repoRoot, runNode } from "./support/cli.js"
import { vectors } from "./support/vectors.js"

// asynchronous, so the test worker keeps answering vitest while npm installs (minutes)
const exec = promisify(execFile)
const npm = async (args: ReadonlyArray<string>, cwd: string): Promise<string> =>
  (await exec("npm", [...args], { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } })).stdout

describe("the packed package in a consumer's project", () => {
  it("installs offline, type-checks and runs examples/consumer", { timeout: 240_000 }, async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "trainmarket-consumer-"))
    try {
      const packed = JSON.parse(await npm(["pack", "--json", "--pack-destination", work], repoRoot)) as Array<{ filename: string }>
      const tarball = path.join(work, packed[0]?.filename ?? "")
      assert.isTrue(fs.existsSync(tarball), "npm pack wrote the tarball")
      const consumer = path.join(work, "consumer")
      fs.mkdirSync(consumer)
      for (const file of ["package.json", "package-lock.json", "tsconfig.json", "main.ts", "competition.json"]) {
        fs.copyFileSync(path.join(repoRoot, "examples", "consumer", file), path.join(consumer, file))
      }
      // the consumer depends on "file:trainmarket.tgz"; its lock pins every other package,
      // so the install needs nothing but the npm cache (a changed dependency list: node scripts/consumer-lock.mjs)
      fs.copyFileSync(tarball, path.join(consumer, "trainmarket.tgz"))
      // the lock must pin what the packed package depends on today, or the install is not the package's
      const lock = JSON.parse(fs.readFileSync(path.join(consumer, "package-lock.json"), "utf8")) as {
        packages: Record<string, { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> }>
      }
      const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>
        peerDependencies?: Record<string, string>
      }
      const locked = lock.packages["node_modules/trainmarket"]
      assert.deepStrictEqual(
        [locked?.dependencies ?? {}, locked?.peerDependencies ?? {}],
        [manifest.dependencies ?? {}, manifest.peerDependencies ?? {}],
        "examples/consumer/package-lock.json is stale: run npm run build && node scripts/consumer-lock.mjs"
      )
      // no install scripts: the example never opens a SQLite store, so better-sqlite3 needs no native build here
      await npm(["ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"], consumer)
      // one Effect in the consumer's tree: the library resolves the consumer's own copy
      assert.isFalse(fs.existsSync(path.join(consumer, "node_modules", "trainmarket", "node_modules", "effect")))
      assert.isTrue(fs.existsSync(path.join(consumer, "node_modules", "effect", "package.json")))
      // strict, with the library's declarations checked too (skipLibCheck off)
      const tsc = path.join(consumer, "node_modules", "typescript", "bin", "tsc")
      await exec(process.execPath, [tsc], { cwd: consumer })
      const run = await runNode([path.join(consumer, "dist", "main.js"), "competition.json"], { cwd: consumer })
      assert.strictEqual(run.code, 0, run.stderr)
      const [simulated, composed] = run.stdout.split("on a hierarchy of two simulated clusters:")
      // the simulator reproduces the reference payouts; the hierarchy ranks the same file on its own terms
      for (const payout of vectors.oneShot.payouts) {
        assert.include(simulated ?? "", `paid ${BigInt(payout.wei).toLocaleString("en-US")} wei`)
      }
      assert.match(composed ?? "", /scale-islands.*paid/)
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
