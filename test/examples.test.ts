/**
 * The example programs a user copies from: each runs as a real process against the
 * built package (imported as "trainmarket", as a user's program would) and prints the
 * reference figures.
 */
import { assert, describe, it } from "@effect/vitest"
import { runNode } from "./support/cli.js"
import { vectors } from "./support/vectors.js"

const runExample = (file: string) => runNode(["--import", "tsx", file])

describe("examples", () => {
  it("one-shot.ts pays the reference competition's winners", async () => {
    const result = await runExample("examples/one-shot.ts")
    assert.strictEqual(result.code, 0, result.stderr)
    const expected = vectors.oneShot.payouts.map((p) => `${p.researcher}: ${p.wei} wei`)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), expected)
  })

  it("continuous-market.ts: records from the reference scenarios, one credit per elapsed epoch, a clean audit", async () => {
    const result = await runExample("examples/continuous-market.ts")
    assert.strictEqual(result.code, 0, result.stderr)
    // alice is submission 0 (seed 0) as in the "improving" scenario; bob, submission 1 with
    // carol's winning recipe, as bob in the "resubmission" scenario; carol's H=4000 is gated
    const [improving, resubmission] = vectors.continuous.scenarios
    const alice = improving?.results[0]?.liftMicros
    const bob = resubmission?.results[1]?.liftMicros
    // time-at-top: 1,000,000 wei per daily epoch, seven days under the TestClock
    const spent = 7n * 1_000_000n
    assert.deepStrictEqual(result.stdout.trim().split("\n"), [
      `alice: lift ${alice} micros, took the top spot`,
      `bob: lift ${bob} micros, took the top spot`,
      "carol: gated",
      `after 7 epochs the holder is bob; spent ${spent} wei`,
      `audit: 0 discrepancies, spent ${spent} wei`,
      // opened, baseline, then per submission accepted, started, measured, settled; then one event per epoch
      `journal: ${2 + 3 * 4 + 7} events, recompute agrees: true`
    ])
  })
})
