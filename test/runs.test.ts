/**
 * Run directories: where they go (`$XDG_CACHE_HOME/trainmarket/runs`, `~/.cache` when the
 * variable is unset or not absolute, or a backend's `checkpointDir`), how they are named,
 * listed (backend, ref, size, latest modification) and cleaned (all, or older than a
 * duration on the Effect Clock), and that a real run keeps its directory only when it
 * succeeds.
 */
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as CpuDiloco from "../src/cluster/CpuDilocoCluster.js"
import * as Runs from "../src/cluster/Runs.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import type { Recipe } from "../src/domain/Recipe.js"
import { removeTempDirs, tempDir, waitForPid, writeScript } from "./fixtures/standins.js"
import { NodeWithKey } from "./support/keys.js"

afterAll(removeTempDirs)

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

/** A run directory as `Runs.make` names it, with files of the given sizes, all modified at `mtime`. */
const fakeRun = (dir: string, name: string, files: Record<string, number>, mtime: Date): string => {
  const run = path.join(dir, name)
  for (const [file, size] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(run, file)), { recursive: true })
    fs.writeFileSync(path.join(run, file), Buffer.alloc(size, 1))
  }
  fs.mkdirSync(run, { recursive: true })
  const touch = (target: string) => {
    for (const entry of fs.readdirSync(target, { withFileTypes: true })) {
      if (entry.isDirectory()) touch(path.join(target, entry.name))
      fs.utimesSync(path.join(target, entry.name), mtime, mtime)
    }
  }
  touch(run)
  fs.utimesSync(run, mtime, mtime)
  return run
}

const recipe: Recipe = { islands: 1, innerSteps: 2, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }

layer(NodeWithKey)("run directories", (it) => {
  it.effect("the cache directory: $XDG_CACHE_HOME/trainmarket, else $HOME/.cache/trainmarket", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Runs.cacheDirectory.pipe(withEnv({ XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" })), "/x/cache/trainmarket")
      assert.strictEqual(yield* Runs.cacheDirectory.pipe(withEnv({ HOME: "/home/u" })), "/home/u/.cache/trainmarket")
      // empty or relative: not usable (the XDG rule), the default applies
      assert.strictEqual(yield* Runs.cacheDirectory.pipe(withEnv({ XDG_CACHE_HOME: "", HOME: "/home/u" })), "/home/u/.cache/trainmarket")
      assert.strictEqual(yield* Runs.cacheDirectory.pipe(withEnv({ XDG_CACHE_HOME: "rel", HOME: "/home/u" })), "/home/u/.cache/trainmarket")
      assert.strictEqual(yield* Runs.defaultDirectory.pipe(withEnv({ XDG_CACHE_HOME: "/x/cache" })), "/x/cache/trainmarket/runs")
      // never the OS temp directory
      assert.isFalse((yield* Runs.defaultDirectory.pipe(withEnv({ HOME: "/home/u" }))).startsWith(os.tmpdir()))
    }))

  it.effect("make: a fresh <backend>-<ref>-XXXXXX directory in the cache, or in checkpointDir", () =>
    Effect.gen(function*() {
      const cache = tempDir("runs-cache")
      const first = yield* Runs.make("cpu-diloco", undefined, "training:00112233aabbccdd").pipe(withEnv({ XDG_CACHE_HOME: cache }))
      const second = yield* Runs.make("cpu-diloco", undefined, "training:00112233aabbccdd").pipe(withEnv({ XDG_CACHE_HOME: cache }))
      assert.notStrictEqual(first, second)
      assert.strictEqual(path.dirname(first), path.join(cache, "trainmarket", "runs"))
      assert.match(path.basename(first), /^cpu-diloco-00112233aabbccdd-[A-Za-z0-9]{6}$/)
      assert.deepStrictEqual(Runs.parseName(path.basename(first)), { backend: "cpu-diloco", ref: "00112233aabbccdd" })
      const own = path.join(tempDir("runs-own"), "nested", "ckpt")
      const inOwn = yield* Runs.make("prime", own, "training:ffffffffffffffff")
      assert.strictEqual(path.dirname(inOwn), own)
      assert.isUndefined(Runs.parseName("notes.txt"))
      assert.isUndefined(Runs.parseName("prime-xyz-abcdef"))
    }))

  it.effect("list: run directories only, with backend, ref, size of their files and latest modification, oldest first", () =>
    Effect.gen(function*() {
      const dir = tempDir("runs-list")
      const old = fakeRun(dir, "prime-0123456789abcdef-AbC123", { "config-island-0.toml": 100, "ckpt/island-0/step_6/a.distcp": 1000 }, new Date("2024-01-01T00:00:00Z"))
      const recent = fakeRun(dir, "psyche-fedcba9876543210-zz99YY", { "state.toml": 10 }, new Date("2024-03-01T00:00:00Z"))
      fs.writeFileSync(path.join(dir, "prime-0123456789abcdef-notrun.txt"), "a file, not a run")
      fs.mkdirSync(path.join(dir, "someone-elses-directory"))
      const runs = yield* Runs.list(dir)
      assert.deepStrictEqual(runs, [
        { path: old, backend: "prime", ref: "training:0123456789abcdef", sizeBytes: 1100, modified: new Date("2024-01-01T00:00:00Z") },
        { path: recent, backend: "psyche", ref: "training:fedcba9876543210", sizeBytes: 10, modified: new Date("2024-03-01T00:00:00Z") }
      ])
      // a file modified later inside a run makes the run that recent
      fs.utimesSync(path.join(old, "config-island-0.toml"), new Date("2024-06-01T00:00:00Z"), new Date("2024-06-01T00:00:00Z"))
      assert.deepStrictEqual((yield* Runs.list(dir)).map((run) => run.path), [recent, old])
      // a directory that does not exist holds no runs
      assert.deepStrictEqual(yield* Runs.list(path.join(dir, "missing")), [])
    }))

  it.effect("clean: everything, or only runs not modified for the given duration (on the Effect Clock)", () =>
    Effect.gen(function*() {
      const dir = tempDir("runs-clean")
      const day = 24 * 3600 * 1000
      const now = Date.parse("2024-05-01T00:00:00Z")
      const tenDays = fakeRun(dir, "cpu-diloco-1111111111111111-aaaaaa", { "model.safetensors": 5 }, new Date(now - 10 * day))
      const twoDays = fakeRun(dir, "cpu-diloco-2222222222222222-bbbbbb", { "model.safetensors": 5 }, new Date(now - 2 * day))
      fs.mkdirSync(path.join(dir, "keep-me"))
      yield* TestClock.setTime(now)
      const removed = yield* Runs.clean({ directory: dir, olderThan: "7 days" })
      assert.deepStrictEqual(removed.map((run) => run.path), [tenDays])
      assert.isFalse(fs.existsSync(tenDays))
      assert.isTrue(fs.existsSync(twoDays))
      const rest = yield* Runs.clean({ directory: dir })
      assert.deepStrictEqual(rest.map((run) => run.path), [twoDays])
      assert.deepStrictEqual(fs.readdirSync(dir), ["keep-me"])
      // the default directory comes from XDG_CACHE_HOME
      const cache = tempDir("runs-clean-cache")
      fakeRun(path.join(cache, "trainmarket", "runs"), "prime-3333333333333333-cccccc", { "x": 1 }, new Date(now))
      const fromCache = yield* Runs.clean().pipe(withEnv({ XDG_CACHE_HOME: cache }))
      assert.strictEqual(fromCache.length, 1)
      assert.deepStrictEqual(fs.readdirSync(path.join(cache, "trainmarket", "runs")), [])
    }))
})

layer(NodeWithKey, { excludeTestServices: true, timeout: "60 seconds" })("run directories of real runs", (it) => {
  /** A stand-in trainer that writes a valid-looking run (a checkpoint file) but `mode` decides how it ends. */
  const trainer = (dir: string, body: string) =>
    writeScript(
      dir,
      "trainer",
      `const fs = require("node:fs"), path = require("node:path")
const config = JSON.parse(fs.readFileSync(process.argv[process.argv.indexOf("--config") + 1], "utf8"))
fs.writeFileSync(path.join(config.outDir, "partial.bin"), "half a model")
fs.writeFileSync(${JSON.stringify(path.join(dir, "trainer.pid"))}, String(process.pid))
${body}`
    )

  const train = (options: CpuDiloco.CpuDilocoOptions) =>
    Effect.flatMap(TrainingCluster, (cluster) => cluster.train(recipe, 3n)).pipe(
      Effect.provide(CpuDiloco.layerWith(options))
    )

  it.effect("a run that fails, times out or is interrupted leaves no run directory", () =>
    Effect.gen(function*() {
      const dir = tempDir("runs-failed")
      const runs = path.join(dir, "runs")
      const failing = trainer(dir, `process.exitCode = 3`)
      const failed = yield* Effect.flip(train({ executable: failing, checkpointDir: runs }))
      assert.strictEqual(failed._tag, "BackendFailed")
      assert.deepStrictEqual(fs.readdirSync(runs), [])

      const garbage = trainer(dir, `console.log("no done event")`)
      const malformed = yield* Effect.flip(train({ executable: garbage, checkpointDir: runs }))
      assert.strictEqual(malformed._tag, "CheckpointMalformed")
      assert.deepStrictEqual(fs.readdirSync(runs), [])

      const hanging = trainer(dir, `setInterval(() => {}, 1000)`)
      const timedOut = yield* Effect.flip(train({ executable: hanging, checkpointDir: runs, deadlineSeconds: 1 }))
      assert.strictEqual(timedOut._tag, "TrainingTimeout")
      assert.deepStrictEqual(fs.readdirSync(runs), [])

      fs.rmSync(path.join(dir, "trainer.pid"))
      const fiber = yield* Effect.fork(train({ executable: hanging, checkpointDir: runs }))
      yield* Effect.promise(() => waitForPid(path.join(dir, "trainer.pid")))
      assert.strictEqual(fs.readdirSync(runs).length, 1)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(fs.readdirSync(runs), [])
    }))

  it.effect("a successful run keeps its directory in the cache (the artifact points into it), with its checkpoint's hash", () =>
    Effect.gen(function*() {
      const cache = tempDir("runs-ok")
      const artifact = yield* train({ budget: 4, hidden: 8 }).pipe(withEnv({ XDG_CACHE_HOME: cache }))
      const listed = yield* Runs.list(path.join(cache, "trainmarket", "runs"))
      assert.strictEqual(listed.length, 1)
      assert.strictEqual(listed[0]?.backend, "cpu-diloco")
      assert.isTrue((artifact.checkpoint ?? "").startsWith(`${listed[0]?.path}${path.sep}`))
      // the checkpoint is one file: its hash is the sha256 of its bytes
      const bytes = fs.readFileSync(artifact.checkpoint ?? "")
      assert.strictEqual(artifact.checkpointSha256, createHash("sha256").update(bytes).digest("hex"))
    }))
})
