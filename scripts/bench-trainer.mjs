#!/usr/bin/env node
// Benchmark of the CPU DiLoCo trainer (dist/trainer, so run `npm run build` first):
//   - throughput: training tokens per second per island (and in total),
//   - communication: bytes one outer sync sends, dense vs compressed at keepFraction 1, 0.1, 0.01
//     (read from the trainer's own sync events),
//   - quality: held-out loss of trained checkpoints vs the source's entropy floor for the
//     reference budget (the default config), scored by the referee's evaluator,
//   - wall time of the bare config through the real executable (process start-up included),
//   - start-up: time from launching the executable to its first `step` line (median of several launches).
// `benchTrainer()` returns one object; run directly it prints it (`--json`: one JSON document).
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = (file) => pathToFileURL(path.join(root, "dist", "trainer", file)).href

const baseline = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }

/** Recipes scored for held-out loss at the reference budget. */
const qualityRecipes = [
  { name: "baseline", recipe: baseline },
  { name: "diloco-4x16", recipe: { islands: 4, innerSteps: 16, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 } },
  { name: "diloco-8x32-keep0.1", recipe: { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.1 } }
]

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const sd = (xs) => {
  const m = mean(xs)
  return xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0
}
const round = (x, digits = 4) => Number(x.toFixed(digits))
const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const trainerBin = path.join(root, "dist", "trainer", "bin.js")

/**
 * Milliseconds from spawning the trainer executable on `configFile` until its first
 * `step` line arrives (process, bundle and tensor-backend start-up plus one inner step).
 * stdin is a pipe held open, as the cpu-diloco cluster launches it.
 */
const timeToFirstStep = (configFile, bin) =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [bin, "--config", configFile], { stdio: ["pipe", "pipe", "pipe"] })
    let pending = ""
    let firstStep
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk) => {
      if (firstStep !== undefined) return
      pending += chunk
      if (pending.includes('"event":"step"')) firstStep = performance.now() - started
    })
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      if (code === 0 && firstStep !== undefined) resolve(firstStep)
      else reject(new Error(`trainer exited ${code}: ${stderr.trim().split("\n").at(-1) ?? ""}`))
    })
  })

/**
 * Start-up of the executable (default: this build's): median (and range) of `runs`
 * launches of a 4-step run, after one unmeasured launch.
 */
export async function benchStartup(runs = 9, bin = trainerBin) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-startup-"))
  try {
    const file = path.join(work, "run.json")
    fs.writeFileSync(file, JSON.stringify({ recipe: baseline, seed: "0", outDir: path.join(work, "out"), budget: 4, devTokens: 0 }))
    await timeToFirstStep(file, bin)
    const times = []
    for (let i = 0; i < runs; i++) times.push(await timeToFirstStep(file, bin))
    return { runs, medianMsToFirstStep: round(median(times), 0), minMs: round(Math.min(...times), 0), maxMs: round(Math.max(...times), 0) }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

/**
 * Run the trainer benchmark. Options: `shards` and `tokensPerShard` of the held-out
 * evaluation (default 16 x 1024), `throughputBudget` (inner steps per island of the
 * throughput run, default 512).
 */
export async function benchTrainer(options = {}) {
  const shards = options.shards ?? 16
  const tokensPerShard = options.tokensPerShard ?? 1024
  const throughputBudget = options.throughputBudget ?? 512
  const { Effect, Either } = await import("effect")
  const { train: trainEffect } = await import(dist("Train.js"))
  const train = (config, emit) => Effect.runPromise(trainEffect(config, emit))
  const right = (either) => Either.getOrThrowWith(either, (error) => error)
  const { decodeRunConfig, runDefaults } = await import(dist("RunConfig.js"))
  const { heldOutShards, evaluateCheckpoint } = await import(dist("Evaluate.js"))
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-trainer-"))
  // a bad config or evaluation here is a bug in this script: `right` fails the bench loudly
  const config = (body) => right(decodeRunConfig(body))
  try {
    // Warm the backend and the JIT so the first measured run is not charged for them.
    await train(config({ recipe: baseline, seed: "0", outDir: path.join(work, "warm"), budget: 16 }), () => {})

    const throughputRecipe = { islands: 4, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
    const fast = await train(
      config({ recipe: throughputRecipe, seed: "0", outDir: path.join(work, "throughput"), budget: throughputBudget, devTokens: 0 }),
      () => {}
    )
    const throughput = {
      backend: fast.done.backend,
      recipe: throughputRecipe,
      budget: throughputBudget,
      batchSize: runDefaults.batchSize,
      tokensPerSecondPerIsland: round(fast.done.tokensPerSecondPerIsland, 0),
      tokensPerSecond: round(fast.done.tokensPerSecond, 0),
      msPerInnerStep: round((1000 * fast.done.trainSeconds) / (throughputBudget * throughputRecipe.islands), 3)
    }

    const bytesPerSync = []
    for (const keepFraction of [1, 0.1, 0.01]) {
      let sync
      await train(
        config({
          recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction },
          seed: "0",
          outDir: path.join(work, `bytes-${keepFraction}`),
          budget: 1,
          devTokens: 0
        }),
        (event) => {
          if (event.event === "sync") sync = event
        }
      )
      bytesPerSync.push({
        keepFraction,
        bytesDensePerIsland: sync.bytesDense,
        bytesSentPerIsland: sync.bytesSent,
        ratio: round(sync.bytesSent / sync.bytesDense, 4)
      })
    }

    const data = { kind: "markov", order: 2, alphabet: 8, seed: 0n }
    // a fresh referee key per bench run: held-out shards no trainer can regenerate
    const evalShards = right(heldOutShards(data, randomBytes(32), shards, tokensPerShard))
    const heldOut = []
    for (const { name, recipe } of qualityRecipes) {
      const run = await train(config({ recipe, seed: "1", outDir: path.join(work, name) }), () => {})
      const losses = right(evaluateCheckpoint(run.done.checkpoint, data, evalShards))
      heldOut.push({
        name,
        recipe,
        budget: runDefaults.budget,
        heldOutLoss: round(mean(losses)),
        ci95: round((1.96 * sd(losses)) / Math.sqrt(losses.length)),
        entropyFloor: round(run.done.entropyFloor),
        uniformLoss: round(run.done.uniformLoss),
        excessOverFloor: round(mean(losses) - run.done.entropyFloor),
        trainSeconds: round(run.done.trainSeconds, 2)
      })
    }

    // The bare config through the executable: what a cluster pays per recipe.
    const bareFile = path.join(work, "bare.json")
    fs.writeFileSync(bareFile, JSON.stringify({ recipe: baseline, seed: "0", outDir: path.join(work, "bare") }))
    const started = performance.now()
    // stdin /dev/null: a pipe that closes (spawnSync's default) would tell the trainer its parent is gone
    const bare = spawnSync(process.execPath, [trainerBin, "--config", bareFile], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
    const bareWallSeconds = (performance.now() - started) / 1000
    // a failed bare run is reported in its own figure; the figures above still stand
    const done = bare.status === 0 ? JSON.parse(bare.stdout.trim().split("\n").at(-1)) : undefined
    const startup = await benchStartup().catch((error) => ({ error: error.message }))

    return {
      throughput,
      bytesPerSync,
      heldOut,
      bareConfig: done === undefined
        ? { error: `trainer exited ${bare.status}: ${bare.stderr.trim().split("\n").at(-1) ?? ""}` }
        : {
          wallSeconds: round(bareWallSeconds, 2),
          trainSeconds: round(done.trainSeconds, 2),
          devLoss: round(done.devLoss),
          entropyFloor: round(done.entropyFloor)
        },
      startup,
      evaluation: { shards, tokensPerShard }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

const print = (result) => {
  const t = result.throughput
  console.log(`trainer (${t.backend}): ${t.tokensPerSecondPerIsland} tokens/s per island, ${t.tokensPerSecond} tokens/s total, ${t.msPerInnerStep} ms per inner step (batch ${t.batchSize})`)
  for (const b of result.bytesPerSync) {
    console.log(`  bytes per sync per island at keepFraction ${b.keepFraction}: ${b.bytesSentPerIsland} of ${b.bytesDensePerIsland} dense (${(100 * b.ratio).toFixed(1)}%)`)
  }
  for (const h of result.heldOut) {
    console.log(`  ${h.name.padEnd(20)} held-out ${h.heldOutLoss} ± ${h.ci95} nats (floor ${h.entropyFloor}, uniform ${h.uniformLoss}, excess ${h.excessOverFloor}) in ${h.trainSeconds} s`)
  }
  const b = result.bareConfig
  console.log(
    b.error === undefined
      ? `  bare config: ${b.wallSeconds} s wall through the executable (${b.trainSeconds} s training), dev loss ${b.devLoss}`
      : `  bare config: failed (${b.error})`
  )
  const s = result.startup
  console.log(
    s.error === undefined
      ? `  start-up: ${s.medianMsToFirstStep} ms from launch to the first step line (median of ${s.runs}, range ${s.minMs}-${s.maxMs} ms)`
      : `  start-up: failed (${s.error})`
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  if (process.argv.includes("--startup")) {
    // only the start-up figure: `node scripts/bench-trainer.mjs --startup [--runs N] [--bin other/trainer/bin.js]`
    const option = (name) => {
      const at = process.argv.indexOf(name)
      return at > 0 ? process.argv[at + 1] : undefined
    }
    const bin = option("--bin")
    const result = await benchStartup(Number(option("--runs") ?? 15), bin === undefined ? trainerBin : path.resolve(bin))
    console.log(JSON.stringify(result))
    process.exit(0)
  }
  const result = await benchTrainer()
  if (process.argv.includes("--json")) console.log(JSON.stringify(result))
  else print(result)
}
