/**
 * `npm run bench -- --json` as a user types it prints exactly one JSON document on stdout
 * (npm's "> trainmarket@… bench" banner goes to stderr, through the project's .npmrc).
 * Only the start-up section, with few launches: this checks the output's shape, not speed.
 */
import { spawnSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { repoRoot } from "./support/cli.js"

/** This process's environment without what `npm test` put there, so npm reads only the project's own config. */
const userEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith("npm_") && key !== "INIT_CWD")
  )

describe("npm run bench -- --json", () => {
  it("prints one JSON document on stdout and npm's banner on stderr", { timeout: 120_000 }, () => {
    const run = spawnSync("npm", ["run", "bench", "--", "--json", "--only", "startup", "--runs", "2"], {
      cwd: repoRoot,
      env: { ...userEnv(), NO_COLOR: "1" },
      encoding: "utf8"
    })
    assert.strictEqual(run.status, 0, run.stderr)
    const document = JSON.parse(run.stdout) as { startup: { runs: number; [command: string]: unknown } }
    assert.deepStrictEqual(Object.keys(document), ["startup"])
    assert.strictEqual(document.startup.runs, 2)
    assert.include(run.stderr, "> trainmarket@")
    assert.include(run.stderr, "bench")
    assert.notInclude(run.stdout, "> trainmarket@")
  })
})
