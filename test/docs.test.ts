/**
 * Every shell command of README.md and docs/*.md runs as written, so the docs cannot
 * drift from the program. Each document's commands run in order, as a reader would type
 * them, in a fresh folder laid out like a fresh clone after the README's set-up line
 * (`package.json`, `bin/`, `examples/`, the built `dist/` and `node_modules/`), with the
 * operator's key in that folder; each must exit 0. Blocks marked
 * `<!-- not run: <reason> -->` (a GPU framework, a published package, the set-up itself)
 * are counted, not run.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll } from "vitest"
import { tempDir } from "./fixtures/standins.js"
import { repoRoot, runProcess } from "./support/cli.js"
import { documents, shellBlocks, untaggedCommands } from "./support/docCommands.js"

const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), "utf8")

/** A folder laid out as a fresh clone after `npm ci && npm run build`. */
const freshClone = (): string => {
  const dir = tempDir("docs")
  fs.copyFileSync(path.join(repoRoot, "package.json"), path.join(dir, "package.json"))
  for (const linked of ["bin", "dist", "node_modules"]) fs.symlinkSync(path.join(repoRoot, linked), path.join(dir, linked))
  fs.cpSync(path.join(repoRoot, "examples"), path.join(dir, "examples"), {
    recursive: true,
    filter: (source) => !source.includes(`${path.sep}node_modules`)
  })
  return dir
}

/** npm's cache for `npx` here (it records the project it ran), removed with the test's other folders. */
const npmCache = tempDir("npm-cache")

/** Run one command line with bash in `cwd`; its exit code and output. */
const sh = (command: string, cwd: string) =>
  runProcess("bash", ["-o", "pipefail", "-c", command], {
    cwd,
    // no stdin, as for a command typed at a terminal (a closed pipe tells the trainer its parent is gone)
    input: null,
    env: {
      TRAINMARKET_KEY_FILE: path.join(cwd, "operator.key"),
      // npx runs the project's own bin; it must never reach for the registry
      npm_config_offline: "true",
      npm_config_cache: npmCache,
      npm_config_update_notifier: "false"
    }
  })

const counts = { ran: 0, marked: 0, markedBlocks: [] as Array<string> }

afterAll(() => {
  console.log(
    `doc commands: ${counts.ran} ran, ${counts.marked} marked not run (${counts.markedBlocks.length} blocks: ${
      counts.markedBlocks.join("; ")
    })`
  )
})

describe("the documentation's commands", () => {
  const files = documents(repoRoot)

  it("every command-like line is in a shell block, and every marked block says why", () => {
    const stray = files.flatMap((file) => untaggedCommands(file, read(file)))
    assert.deepStrictEqual(stray, [])
    for (const file of files) {
      for (const block of shellBlocks(file, read(file))) {
        assert.isAbove(block.commands.length, 0, `${file}:${block.line} is an empty shell block`)
        if (block.notRun !== undefined) assert.isAbove(block.notRun.length, 5, `${file}:${block.line}`)
      }
    }
  })

  for (const file of files) {
    it(`${file}: runs as written`, { timeout: 20 * 60_000 }, async () => {
      const blocks = shellBlocks(file, read(file))
      const dir = freshClone()
      for (const block of blocks) {
        if (block.notRun !== undefined) {
          counts.marked += block.commands.length
          counts.markedBlocks.push(`${file}:${block.line} ${block.notRun}`)
          continue
        }
        for (const command of block.commands) {
          const result = await sh(command, dir)
          assert.strictEqual(
            result.code,
            0,
            `${file}:${block.line}: ${command}\nexit ${result.code}\n${result.stderr.slice(-2000)}${result.stdout.slice(-1000)}`
          )
          counts.ran += 1
        }
      }
    })
  }
})
