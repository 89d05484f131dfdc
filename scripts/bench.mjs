#!/usr/bin/env node
// `npm run bench [-- --json] [-- --n N] [-- --runs R] [-- --only replay|startup|trainer|intake]`: measures the CLI's
// start-up (scripts/bench-cli.mjs), the continuous market's replay form
// (src/market/Replay.ts, the path `trainmarket market replay` takes for simulated
// markets) against a plain hand-written JavaScript loop doing the same arithmetic
// (simulated training, held-out measurement, lift, gate, micros, the bounty's beat)
// in the same process. Peak memory is measured in fresh child processes at two sizes
// (300,000, N and 3N submissions), so "independent of N" is checked, not assumed.
// With --json it prints one JSON document; it also includes the trainer benchmark
// (scripts/bench-trainer.mjs, `benchTrainer()`) under "trainer" when that file exists,
// and the live market's intake (scripts/bench-intake.mjs: submissions answered per second
// and p50/p99 latency at 64 concurrent clients against a real `market serve`, beside a
// bare node:http handler doing one durable insert per request) under "intake" (SQLite)
// and "intakePostgres". The project's .npmrc sets npm's own `json`, so npm prints its
// "> trainmarket@… bench" banner on stderr and `npm run bench -- --json` leaves exactly
// one document on stdout.
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Effect, Stream } from "effect"
import * as LocalSim from "../dist/cluster/LocalSimCluster.js"
import { clears, defaultGate, unpairedLift } from "../dist/domain/Measurement.js"
import { toMicros } from "../dist/domain/Money.js"
import * as Replay from "../dist/market/Replay.js"
import { beat } from "../dist/market/Reward.js"
import * as SimHeldOut from "../dist/scorer/HeldOutScorer.js"

const args = process.argv.slice(2)
const asJson = args.includes("--json")
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined
const wanted = (section) => only === undefined || only === section
const flag = (name, fallback) => {
  const at = args.indexOf(name)
  if (at < 0 || args[at + 1] === undefined) return fallback
  const value = Number(args[at + 1])
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`bench: ${name} must be a positive integer, not '${args[at + 1]}'\n`)
    process.exit(2)
  }
  return value
}
const N = flag("--n", 1_000_000)
const SMALL_N = Math.min(300_000, N)
const SHARDS = 16

const recipe = (islands, innerSteps, keepFraction, innerLr = 3e-3) => ({
  islands,
  innerSteps,
  innerLr,
  outerLr: 0.7,
  keepFraction
})
// A mix of genuine improvements, weaker recipes and gated ones (over-compressed, drifting, bad lr).
const RECIPES = [
  recipe(2, 32, 0.1),
  recipe(4, 32, 0.1),
  recipe(8, 32, 0.2),
  recipe(4, 32, 0.0005),
  recipe(4, 4000, 0.1),
  recipe(4, 32, 0.1, 3e-4),
  recipe(16, 64, 0.3),
  recipe(6, 16, 0.15)
]
const RESEARCHERS = Array.from({ length: 16 }, (_, i) => `researcher-${i}`)
const BASELINE = { recipe: recipe(1, 1, 1), seed: 0n }
const SCHEDULE = { kind: "record-bounty", epsilonMicros: 1000n, weiPerMicro: 1_000_000_000n }
const POOL = 10n ** 30n

function* submissions(n) {
  for (let i = 0; i < n; i++) {
    yield { researcher: RESEARCHERS[i % RESEARCHERS.length], recipe: RECIPES[(i * 7 + (i >> 3)) % RECIPES.length] }
  }
}

/** The plain loop: the same arithmetic, no Effect, no streams. */
const plainLoop = (n) => {
  const base = SimHeldOut.measure(LocalSim.trainUnchecked(BASELINE.recipe, BASELINE.seed), "held-out", SHARDS)
  const totals = new Map()
  let state = { best: undefined }
  let spent = 0n
  let records = 0
  let i = 0
  for (const s of submissions(n)) {
    const m = SimHeldOut.measure(LocalSim.trainUnchecked(s.recipe, BigInt(i)), "held-out", SHARDS)
    i += 1
    const lift = unpairedLift(m, base)
    if (!clears(defaultGate, lift, m.cost)) continue
    const b = beat(state, toMicros(lift.delta), SCHEDULE.epsilonMicros, SCHEDULE.weiPerMicro)
    if (!b.record || b.paidWei > POOL - spent) continue
    state = b.state
    spent += b.paidWei
    records += 1
    totals.set(s.researcher, (totals.get(s.researcher) ?? 0n) + b.paidWei)
  }
  return { records, spentWei: spent, finalBestMicros: state.best }
}

/** The library's replay, as the CLI drives it (results streamed in chunks, nothing kept). */
const replay = (n) =>
  Effect.runPromise(
    Replay.run(
      { gate: defaultGate, schedule: SCHEDULE, poolWei: POOL, baseline: BASELINE },
      Stream.fromIterable(submissions(n)),
      Replay.simEvaluator(SHARDS),
      () => Effect.void
    )
  )

const time = async (f) => {
  const start = process.hrtime.bigint()
  const value = await f()
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

const childMode = args.indexOf("--child")
if (childMode >= 0) {
  // A fresh process replays n submissions and reports its own peak RSS. With
  // --expose-gc it also forces a collection every 100,000 results and reports the
  // largest live heap seen: what the replay really keeps, free of GC timing.
  const n = Number(args[childMode + 1])
  const gc = globalThis.gc
  let seen = 0
  let liveHeapMb = 0
  const onResults = (chunk) =>
    Effect.sync(() => {
      const before = seen
      seen += chunk.length
      if (gc !== undefined && Math.floor(seen / 100_000) > Math.floor(before / 100_000)) {
        gc()
        liveHeapMb = Math.max(liveHeapMb, process.memoryUsage().heapUsed / 2 ** 20)
      }
    })
  const start = process.hrtime.bigint()
  await Effect.runPromise(
    Replay.run(
      { gate: defaultGate, schedule: SCHEDULE, poolWei: POOL, baseline: BASELINE },
      Stream.fromIterable(submissions(n)),
      Replay.simEvaluator(SHARDS),
      onResults
    )
  )
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  process.stdout.write(JSON.stringify({ n, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024, liveHeapMb }))
  process.exit(0)
}

const child = (n, flags = []) => {
  const run = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), "--child", String(n)], {
    encoding: "utf8"
  })
  if (run.status !== 0) return { n, error: run.stderr.trim().split("\n").at(-1) ?? `exit ${run.status}` }
  return JSON.parse(run.stdout)
}

const log = (line) => {
  if (!asJson) process.stdout.write(`${line}\n`)
}

const report = {}
if (wanted("startup")) {
  const { benchCliStartup, printCliStartup } = await import("./bench-cli.mjs")
  try {
    report.startup = benchCliStartup(flag("--runs", 15))
    if (!asJson) printCliStartup(report.startup)
  } catch (error) {
    report.startup = { error: error instanceof Error ? error.message : String(error) }
    log(`start-up benchmark failed: ${report.startup.error}`)
  }
}

if (wanted("replay")) {
  log(`replay benchmark: ${N.toLocaleString("en-US")} submissions, ${SHARDS} shards, record bounty`)
  // warm both paths up so the JIT has compiled them before the timed runs
  plainLoop(50_000)
  await replay(50_000)
  const best = (a, b) => (a.seconds <= b.seconds ? a : b)
  // interleaved rounds, best of each: the machine may be shared, and the best run is
  // the one least disturbed by anything else
  const ROUNDS = 3
  let baseline = await time(() => plainLoop(N))
  let ours = await time(() => replay(N))
  for (let round = 1; round < ROUNDS; round++) {
    baseline = best(baseline, await time(() => plainLoop(N)))
    ours = best(ours, await time(() => replay(N)))
  }
  const agree = ours.value.records === baseline.value.records && ours.value.spentWei === baseline.value.spentWei &&
    ours.value.finalBestMicros === baseline.value.finalBestMicros
  const mb = (x) => (x === undefined ? null : Number(x.toFixed(1)))
  const memoryAt = (n) => {
    const natural = child(n)
    const sampled = child(n, ["--expose-gc"])
    return { peakRssMb: mb(natural.peakRssMb), liveHeapMb: mb(sampled.liveHeapMb) }
  }
  // three sizes: V8 grows its heap towards a steady size over the first few hundred
  // thousand submissions, so the 300,000 figure sits below a plateau the larger two share
  const memory = { [SMALL_N]: memoryAt(SMALL_N), [N]: memoryAt(N), [3 * N]: memoryAt(3 * N) }

  Object.assign(report, {
    replay: {
      submissions: N,
      nsPerSubmission: Math.round((ours.seconds * 1e9) / N),
      seconds: Number(ours.seconds.toFixed(3)),
      peakRssMb: memory[N].peakRssMb,
      memoryBySubmissions: memory,
      records: ours.value.records,
      spentWei: ours.value.spentWei.toString(),
      finalBestMicros: ours.value.finalBestMicros?.toString() ?? null,
      batch: Replay.SYNC_BATCH
    },
    baselineLoop: {
      submissions: N,
      nsPerSubmission: Math.round((baseline.seconds * 1e9) / N),
      seconds: Number(baseline.seconds.toFixed(3))
    },
    ratioToBaseline: Number((ours.seconds / baseline.seconds).toFixed(3)),
    replayAgreesWithBaseline: agree,
    node: process.version
  })

  log(`  plain JS loop      ${report.baselineLoop.nsPerSubmission} ns/submission (${report.baselineLoop.seconds} s)`)
  log(`  replay (library)   ${report.replay.nsPerSubmission} ns/submission (${report.replay.seconds} s), ${report.ratioToBaseline}x the loop`)
  for (const [n, m] of Object.entries(memory)) {
    log(`  fresh process, ${Number(n).toLocaleString("en-US")} submissions: peak RSS ${m.peakRssMb} MB, largest live heap ${m.liveHeapMb} MB`)
  }
  log(`  records ${report.replay.records}, spent ${report.replay.spentWei} wei; replay and loop agree: ${agree}`)
}

const trainerScript = fileURLToPath(new URL("./bench-trainer.mjs", import.meta.url))
if (wanted("trainer") && existsSync(trainerScript)) {
  try {
    const { benchTrainer } = await import(pathToFileURL(trainerScript).href)
    report.trainer = await benchTrainer()
    log(`trainer: ${JSON.stringify(report.trainer)}`)
  } catch (error) {
    report.trainer = { error: error instanceof Error ? error.message : String(error) }
    log(`trainer benchmark failed: ${report.trainer.error}`)
  }
}

const intakeScript = fileURLToPath(new URL("./bench-intake.mjs", import.meta.url))
if (existsSync(intakeScript) && wanted("intake")) {
  try {
    const { benchIntake } = await import(pathToFileURL(intakeScript).href)
    report.intake = await benchIntake()
    const { bareSqliteHandler: bare, service } = report.intake
    log(`intake, ${report.intake.clients} clients over loopback:`)
    log(`  bare node:http + durable SQLite insert  ${bare.perSecond}/s  p50 ${bare.p50Ms} ms  p99 ${bare.p99Ms} ms`)
    log(`  market serve (simulated cluster)        ${service.perSecond}/s  p50 ${service.p50Ms} ms  p99 ${service.p99Ms} ms`)
    log(`  ratio ${report.intake.ratioToBare} (the issue asks for at least 1/3)`)
  } catch (error) {
    report.intake = { error: error instanceof Error ? error.message : String(error) }
    log(`intake benchmark failed: ${report.intake.error}`)
  }
  try {
    const { benchIntakePostgres } = await import(pathToFileURL(intakeScript).href)
    report.intakePostgres = await benchIntakePostgres()
    const { barePostgresHandler: bare, service } = report.intakePostgres
    log(`intake on PostgreSQL, ${report.intakePostgres.clients} clients over loopback:`)
    log(`  bare node:http + one PostgreSQL insert   ${bare.perSecond}/s  p50 ${bare.p50Ms} ms  p99 ${bare.p99Ms} ms`)
    log(`  market serve --store postgres://…        ${service.perSecond}/s  p50 ${service.p50Ms} ms  p99 ${service.p99Ms} ms`)
    log(`  ratio ${report.intakePostgres.ratioToBare}`)
  } catch (error) {
    report.intakePostgres = { error: error instanceof Error ? error.message : String(error) }
    log(`PostgreSQL intake benchmark failed: ${report.intakePostgres.error}`)
  }
}

if (asJson) process.stdout.write(`${JSON.stringify(report)}\n`)
