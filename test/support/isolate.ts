/**
 * Set up before every test file (vitest `setupFiles`): the user's cache directory
 * (`XDG_CACHE_HOME`, where real backends put their run directories unless a test names
 * a `checkpointDir`) points into a fresh temporary directory for the file, also for
 * the binaries the tests spawn (they inherit the environment). After the file, that
 * directory and every directory `tempDir` made are removed, so the suite leaves
 * nothing behind in the OS temp directory or in `~/.cache`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { removeTempDirs } from "../fixtures/standins.js"

const previous = process.env.XDG_CACHE_HOME
const cache = fs.mkdtempSync(path.join(os.tmpdir(), "tm-cache-"))
process.env.XDG_CACHE_HOME = cache

afterAll(() => {
  removeTempDirs()
  fs.rmSync(cache, { recursive: true, force: true })
  if (previous === undefined) delete process.env.XDG_CACHE_HOME
  else process.env.XDG_CACHE_HOME = previous
})
