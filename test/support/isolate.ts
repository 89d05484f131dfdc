/**
 * Set up before every test file (vitest `setupFiles`): the user's cache directory
 * (`XDG_CACHE_HOME`, where real backends put their run directories unless a test names
 * a `checkpointDir`) and data directory (`XDG_DATA_HOME`, where the operator key is
 * created on first use unless `--key-file` or `TRAINMARKET_KEY_FILE` names one, SPEC
 * §15.1) point into fresh temporary directories for the file, also for the binaries
 * the tests spawn (they inherit the environment) and for the CLI run in-process (the
 * key layer reads `XDG_DATA_HOME` through Effect `Config`, i.e. from process.env).
 * `TRAINMARKET_KEY_FILE` is unset for the file, so no test reads the developer's key.
 * After the file, those directories and every directory `tempDir` made are removed, so
 * the suite leaves nothing behind in the OS temp directory, `~/.cache` or `~/.local/share`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { removeTempDirs } from "../fixtures/standins.js"

/** Point `name` at a fresh temporary directory for this file; returns how to undo it. */
const isolated = (name: string, prefix: string): () => void => {
  const previous = process.env[name]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  process.env[name] = dir
  return () => {
    fs.rmSync(dir, { recursive: true, force: true })
    if (previous === undefined) delete process.env[name]
    else process.env[name] = previous
  }
}

const restoreCache = isolated("XDG_CACHE_HOME", "tm-cache-")
const restoreData = isolated("XDG_DATA_HOME", "tm-data-")
const previousKeyFile = process.env.TRAINMARKET_KEY_FILE
delete process.env.TRAINMARKET_KEY_FILE

afterAll(() => {
  removeTempDirs()
  restoreCache()
  restoreData()
  if (previousKeyFile !== undefined) process.env.TRAINMARKET_KEY_FILE = previousKeyFile
})
