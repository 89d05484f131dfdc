/**
 * The status lines on a terminal: one line per running job (who it is for, step of
 * total, share, ETA, smoothed loss, bytes in binary units), `scoring` while the referee
 * measures, gone when the job ends; nothing when stderr is not a terminal, never on
 * stdout. Driven in-process with a test Output that pretends stderr is a terminal.
 */
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, TestClock } from "effect"
import type { ProgressEvent } from "../src/cluster/TrainingCluster.js"
import * as Output from "../src/cli/Output.js"
import * as Progress from "../src/cli/Progress.js"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, runInProcess } from "./support/cli.js"
import { writeTinyCompetition } from "./support/tinyCompetition.js"

const ESC = String.fromCharCode(27)
/** The frames drawn on stderr: each redraw starts with a carriage return; escape sequences dropped. */
const frames = (stderr: string): ReadonlyArray<string> =>
  stderr.split("\r").slice(1).map((frame) => frame.replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, "g"), ""))

const scaleIslands = { name: "scale-islands", index: 1, count: 4 }
const event = (fields: Partial<ProgressEvent>): ProgressEvent => ({ clusterId: "cpu-diloco", line: "", ...fields })

const run = (
  terminal: boolean,
  body: (publish: (e: ProgressEvent) => Effect.Effect<void>) => Effect.Effect<void>,
  columns = 200
) =>
  Effect.gen(function*() {
    const test = yield* Output.makeTest({ terminal, columns })
    const progress = yield* Effect.provide(Progress.make, test.layer)
    yield* body(progress.sink.publish)
    return { captured: yield* test.captured, curves: yield* progress.curves }
  })

describe("progress lines", () => {
  it.effect("one line per job: step of total, share, ETA, the smoothed loss, bytes in binary units", () =>
    Effect.gen(function*() {
      const { captured, curves } = yield* run(true, (publish) =>
        Effect.gen(function*() {
          const a = { job: scaleIslands, ref: "training:aaaaaaaaaaaaaaaa", total: 256 }
          yield* publish(event({ ...a, entropyFloor: 0.865 }))
          yield* publish(event({ ...a, step: 1, loss: 2, bytesSent: 0 }))
          yield* TestClock.adjust(Duration.seconds(10))
          // a sync repeats the step's loss with the bytes sent: it is not a second loss
          yield* publish(event({ ...a, step: 2, loss: 1, bytesSent: 0 }))
          yield* publish(event({ ...a, step: 2, loss: 1, bytesSent: 1.5 * 1024 * 1024 }))
          yield* TestClock.adjust(Duration.millis(200))
          yield* publish(event({ job: { name: "baseline" }, ref: "training:bbbbbbbbbbbbbbbb", total: 256, step: 64, loss: 1.25 }))
        }))
      // the smoothed loss after 2 then 1: a weighted mean with weights 0.95 and 1
      const smoothed = (0.95 * 2 + 1) / (0.95 + 1)
      // drawn 10.2 s after the job's first line, at step 2 of 256: 254 more steps at 5.1 s take 1295 s
      assert.deepStrictEqual(frames(captured.stderr).at(-1)!.split("\n"), [
        `researcher 1/4 scale-islands  cpu-diloco  step 2/256  0%  ETA 21m 35s  EMA loss ${smoothed.toFixed(3)}  sent 1.5 MiB`,
        "baseline  cpu-diloco  step 64/256  25%  ETA -  EMA loss 1.250"
      ])
      assert.strictEqual(captured.stdout, "")
      const curve = curves.find((c) => c.ref === "training:aaaaaaaaaaaaaaaa")!
      assert.strictEqual(curve.entropyFloor, 0.865)
      assert.deepStrictEqual(curve.points.map((p) => p.step), [1, 2])
      assert.closeTo(curve.points[1]!.loss, smoothed, 1e-12)
    }))

  it.effect("a scoring job says so (not its last step), an ended one goes, and the lines are cleared in place", () =>
    Effect.gen(function*() {
      const a = { job: scaleIslands, ref: "training:aaaaaaaaaaaaaaaa", total: 256 }
      const b = { job: { name: "baseline" }, ref: "training:bbbbbbbbbbbbbbbb", total: 256 }
      const { captured } = yield* run(true, (publish) =>
        Effect.gen(function*() {
          yield* publish(event({ ...a, step: 256, loss: 1.1 }))
          yield* publish(event({ ...b, step: 100, loss: 1.3 }))
          yield* publish(event({ ...a, phase: "ended" }))
          yield* publish(event({ ...a, phase: "scoring" }))
          yield* publish(event({ ...a, phase: "ended" }))
          yield* publish(event({ ...b, phase: "ended" }))
        }))
      const all = frames(captured.stderr)
      assert.deepStrictEqual(all.slice(-3), [
        "baseline  cpu-diloco  step 100/256  39%  ETA -  EMA loss 1.300\nresearcher 1/4 scale-islands  scoring",
        "baseline  cpu-diloco  step 100/256  39%  ETA -  EMA loss 1.300",
        ""
      ])
      // each redraw first clears the lines drawn before it, going up one line per extra line
      const redraws = captured.stderr.split("\r").slice(1).map((frame) => `\r${frame}`)
      assert.isTrue(redraws.at(-1)!.startsWith(`\r${ESC}[2K`))
      assert.strictEqual(redraws.at(-2), Output.redraw(2, "baseline  cpu-diloco  step 100/256  39%  ETA -  EMA loss 1.300"))
    }))

  it.effect("on an 80-column terminal a line drops the cluster's name, the share and double spaces, and never wraps", () =>
    Effect.gen(function*() {
      const { captured } = yield* run(true, (publish) =>
        Effect.gen(function*() {
          const a = { job: scaleIslands, ref: "training:aaaaaaaaaaaaaaaa", total: 256 }
          yield* publish(event({ ...a, step: 1, loss: 1.5 }))
          yield* TestClock.adjust(Duration.seconds(2))
          yield* publish(event({ ...a, step: 128, loss: 1.5, bytesSent: 13.2 * 1024 * 1024 }))
          yield* TestClock.adjust(Duration.seconds(1))
          yield* publish(event({ job: { name: "a-researcher-with-a-very-long-name", index: 12, count: 40 }, ref: "training:cccccccccccccccc", total: 1000, step: 999, loss: 1.5, bytesSent: 1 }))
        }), 80)
      const [first, second] = frames(captured.stderr).at(-1)!.split("\n")
      // drawn 3 s after the job's first line, at step 128 of 256: 128 more take 3 s; the loss is 1.5 throughout
      assert.strictEqual(first, "researcher 1/4 scale-islands step 128/256 ETA 3s EMA loss 1.500 sent 13.2 MiB")
      // a long name loses the fields at the end, whole (its first line: no pace yet, so no ETA)
      assert.strictEqual(second, "researcher 12/40 a-researcher-with-a-very-long-name step 999/1000 ETA -")
    }))

  it.effect("a footer (a replay's \"replayed k / n\") is drawn under the jobs' lines, in the same drawing", () =>
    Effect.gen(function*() {
      const test = yield* Output.makeTest({ terminal: true, columns: 200 })
      const progress = yield* Effect.provide(Progress.make, test.layer)
      yield* progress.sink.publish(event({ job: scaleIslands, ref: "training:aaaaaaaaaaaaaaaa", total: 256, step: 1, loss: 1 }))
      yield* progress.footer("replayed 1 / 2", true)
      yield* TestClock.adjust(Duration.millis(10))
      // within the throttle: kept, drawn with the next drawing
      yield* progress.footer("replayed 2 / 3", false)
      yield* progress.footer("replayed 3 / 3", true)
      const drawn = frames((yield* test.captured).stderr)
      assert.deepStrictEqual(drawn.map((frame) => frame.split("\n").at(-1)), ["researcher 1/4 scale-islands  cpu-diloco  step 1/256  0%  ETA -  EMA loss 1.000", "replayed 1 / 2", "replayed 3 / 3"])
      // the last drawing has both: the job's line, then the footer
      assert.match(drawn.at(-1)!, /^researcher 1\/4 scale-islands {2}cpu-diloco {2}step 1\/256 .*\nreplayed 3 \/ 3$/)
    }))

  it.effect("nothing is drawn when stderr is not a terminal", () =>
    Effect.gen(function*() {
      const { captured, curves } = yield* run(false, (publish) =>
        publish(event({ job: scaleIslands, ref: "training:aaaaaaaaaaaaaaaa", step: 3, total: 9, loss: 1 })))
      assert.deepStrictEqual(captured, { stdout: "", stderr: "" })
      assert.strictEqual(curves.length, 1, "curves are recorded all the same")
    }))
})

describe("progress of a real competition", () => {
  const dir = tempDir("progress")
  const keyFile = join(dir, "key")
  const competition = writeTinyCompetition(join(dir, "tiny.json"), 3, [["two-islands", "1", 2], ["four-islands", "2", 4]])

  it("draws researcher k/n, the steps of the budget and scoring on stderr, and --json stdout stays one document", async () => {
    const result = await runInProcess(["compete", competition, "--key-file", keyFile, "--json"], { terminal: true })
    assert.strictEqual(result.code, 0, result.stderr)
    const document = jsonOf(result) as { candidates: ReadonlyArray<{ researcher: string }> }
    assert.deepStrictEqual(document.candidates.map((c) => c.researcher), ["two-islands", "four-islands"])
    const lines = frames(result.stderr).flatMap((frame) => frame.split("\n"))
    assert.isTrue(lines.some((l) => /^researcher 1\/2 two-islands {2}cpu-diloco {2}step \d+\/24 {2}\d+% {2}ETA /.test(l)), result.stderr)
    assert.isTrue(lines.some((l) => /^researcher 2\/2 four-islands {2}cpu-diloco {2}step \d+\/24 /.test(l)))
    assert.isTrue(lines.some((l) => /^baseline {2}cpu-diloco {2}step \d+\/24 /.test(l)))
    assert.isTrue(lines.some((l) => /^(researcher \d\/2 \S+|baseline) {2}scoring$/.test(l)))
    assert.strictEqual(frames(result.stderr).at(-1), "", "the lines are cleared before the result")
  })

  it("market replay on a terminal ends its drawing with replayed n / n, then clears it", async () => {
    const file = "examples/continuous-market.json"
    const n = (JSON.parse(readFileSync(file, "utf8")) as { submissions: ReadonlyArray<unknown> }).submissions.length
    const result = await runInProcess(["market", "replay", file, "--key-file", keyFile], { terminal: true })
    assert.strictEqual(result.code, 0, result.stderr)
    const drawn = frames(result.stderr)
    assert.include(drawn, `replayed ${n} / ${n}`)
    assert.strictEqual(drawn.at(-1), "", "cleared before the result")
  })
})
