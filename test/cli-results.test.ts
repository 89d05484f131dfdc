/**
 * Results kept in a folder: `compete --out` (result.json is the --json document, the
 * leaderboard as printed, every artifact with its checkpoint copied and still scorable
 * once the run directories are gone, the pictures), `market replay --out` (result.json,
 * results.txt, the frontier). In-process, except where a real trainer is needed.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, runInProcess } from "./support/cli.js"
import { tinyScorer, writeTinyCompetition } from "./support/tinyCompetition.js"

const dir = tempDir("results")
const keyFile = join(dir, "key")
const read = (...path: ReadonlyArray<string>) => readFileSync(join(...path), "utf8")

/** The SVG's visible texts, in document order. */
const texts = (svg: string): ReadonlyArray<string> =>
  [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>|<tspan[^>]*>([^<]*)<\/tspan>/g)].map((m) => (m[1] ?? m[2] ?? "").trim())

const isStandaloneSvg = (svg: string) => {
  assert.isTrue(svg.startsWith("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "), svg.slice(0, 80))
  assert.include(svg.slice(0, 200), "xmlns=\"http://www.w3.org/2000/svg\"")
  assert.isTrue(svg.trimEnd().endsWith("</svg>"))
}

describe("compete --out", () => {
  it("keeps the --json document, the leaderboard, the artifacts and the lift picture (simulator)", async () => {
    const out = join(dir, "reference")
    const printed = await runInProcess(["compete", "examples/reference-competition.json", "--key-file", keyFile])
    const result = await runInProcess(["compete", "examples/reference-competition.json", "--key-file", keyFile, "--out", out, "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(JSON.parse(read(out, "result.json")), jsonOf(result))
    assert.strictEqual(read(out, "leaderboard.txt"), printed.stdout)
    assert.deepStrictEqual(readdirSync(join(out, "artifacts")).sort(), [
      "bad-lr.json",
      "baseline.json",
      "comm-efficient.json",
      "over-compress.json",
      "scale-islands.json",
      "too-large-H.json"
    ])
    const document = jsonOf(result) as { candidates: ReadonlyArray<{ researcher: string; artifact: unknown }> }
    const kept = JSON.parse(read(out, "artifacts", "scale-islands.json")) as unknown
    assert.deepStrictEqual(kept, document.candidates.find((c) => c.researcher === "scale-islands")!.artifact)
    // the simulator leaves no checkpoints and no loss curves
    assert.isFalse(existsSync(join(out, "checkpoints")))
    assert.isFalse(existsSync(join(out, "loss.svg")))
    const lifts = read(out, "lifts.svg")
    isStandaloneSvg(lifts)
    const labels = texts(lifts)
    for (const name of ["scale-islands", "comm-efficient", "too-large-H", "over-compress", "bad-lr"]) {
      assert.include(labels, name)
    }
    assert.include(labels, "paid 500,000 wei")
    assert.include(labels, "paid 300,000 wei")
    assert.strictEqual(labels.filter((t) => t === "gated").length, 3)
    assert.include(labels, "gate: CI lower end ≥ 0.02")
    assert.match(result.stderr, /^trainmarket: kept 9 files in /)
  })

  it("keeps real checkpoints that stay scorable after the run directories are cleaned, and the loss curves", async () => {
    const out = join(dir, "real")
    const competition = writeTinyCompetition(join(dir, "real.json"), 5, [["four islands", "2", 4]])
    const result = await runInProcess(["compete", competition, "--key-file", keyFile, "--out", out, "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    const document = jsonOf(result) as {
      candidates: ReadonlyArray<{ artifact: { checkpoint: string; checkpointSha256: string }; heldOut: { value: number } }>
    }
    const candidate = document.candidates[0]!
    // names become safe file names
    const kept = JSON.parse(read(out, "artifacts", "four_islands.json")) as { checkpoint: string; checkpointSha256: string }
    assert.strictEqual(kept.checkpoint, join(out, "checkpoints", "four_islands", "model.safetensors"))
    assert.strictEqual(kept.checkpointSha256, candidate.artifact.checkpointSha256)
    assert.notStrictEqual(kept.checkpoint, candidate.artifact.checkpoint)

    const cleaned = await runInProcess(["runs", "clean", "--json"])
    assert.strictEqual(cleaned.code, 0, cleaned.stderr)
    assert.isFalse(existsSync(candidate.artifact.checkpoint), "the run directory is gone")
    const scored = await runInProcess([
      "score",
      "--artifact",
      join(out, "artifacts", "four_islands.json"),
      "--scorer",
      tinyScorer,
      "--key-file",
      keyFile,
      "--json"
    ])
    assert.strictEqual(scored.code, 0, scored.stderr)
    assert.strictEqual((jsonOf(scored) as { value: number }).value, candidate.heldOut.value)

    const loss = read(out, "loss.svg")
    isStandaloneSvg(loss)
    const labels = texts(loss)
    assert.include(labels, "baseline")
    assert.include(labels, "four islands")
    assert.isTrue(labels.some((t) => /^entropy floor of the data: 0\.865 /.test(t)), labels.join(" | "))
    // one line per run, and one diamond per run (its held-out loss) at its last step
    const group = (mark: string) => {
      const start = loss.indexOf(`aria-label="${mark}"`)
      return loss.slice(start, loss.indexOf("</g>", start))
    }
    assert.strictEqual(group("line").split("<path").length - 1, 2)
    assert.strictEqual(group("dot").split("<path").length - 1, 2)
  })
})

describe("market replay --out", () => {
  it("keeps the --json document, the printed lines and the frontier", async () => {
    const out = join(dir, "replay")
    const json = await runInProcess(["market", "replay", "examples/continuous-market.json", "--key-file", keyFile, "--json"])
    const result = await runInProcess(["market", "replay", "examples/continuous-market.json", "--key-file", keyFile, "--out", out])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(read(out, "result.json"), json.stdout)
    assert.strictEqual(read(out, "results.txt"), result.stdout)
    const frontier = read(out, "frontier.svg")
    isStandaloneSvg(frontier)
    const labels = texts(frontier)
    for (const name of ["alice", "bob", "carol"]) assert.include(labels, name)
    assert.include(labels.join(" "), "3 records")
  })

  it("streams: the same files from submissions in JSON Lines", async () => {
    const out = join(dir, "streamed")
    const result = await runInProcess([
      "market",
      "replay",
      "examples/market-head.json",
      "--submissions",
      "examples/submissions.jsonl",
      "--out",
      out,
      "--key-file",
      keyFile,
      "--json"
    ])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(read(out, "result.json"), result.stdout)
    const document = JSON.parse(result.stdout) as { results: ReadonlyArray<{ researcher: string; becameRecord: boolean }> }
    assert.deepStrictEqual(document.results.filter((r) => r.becameRecord).map((r) => r.researcher), ["alice", "bob", "carol"])
    assert.strictEqual(read(out, "results.txt").split("\n")[0], "market replay: 5 submissions, baseline seed 0, record-bounty")
  })

  it("a results file that cannot be written (a full disk: /dev/full) is a BadInput naming it, not a defect", async () => {
    const out = join(dir, "full-disk")
    mkdirSync(out, { recursive: true })
    symlinkSync("/dev/full", join(out, "result.json"))
    const result = await runInProcess([
      "market", "replay", "examples/continuous-market.json", "--key-file", keyFile, "--out", out, "--json"
    ])
    assert.strictEqual(result.code, 1, result.stdout + result.stderr)
    const error = (JSON.parse(result.stdout) as { error: { _tag: string; message: string } }).error
    assert.strictEqual(error._tag, "BadInput")
    assert.include(error.message, join(out, "result.json"))
    assert.include(error.message, "cannot be written")
  })
})
