/**
 * Real training and refereeing through the built CLI (dist/bin.js, bundled), as a
 * person or a script would run it: `train --cluster '{"kind":"cpu-diloco"}' --json`
 * prints one artifact with its checkpoint, `score --scorer '{"kind":"checkpoint"}'`
 * re-scores the weights, the simulated scorer refuses them, and on a terminal the
 * training shows a live progress line on stderr while `--json` stdout stays one document.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { binary, jsonOf, repoRoot, runCli } from "./support/cli.js"
import { tempDir } from "./fixtures/standins.js"

const recipe = JSON.stringify({ islands: 2, innerSteps: 16, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.25 })
const cluster = (dir: string) => JSON.stringify({ kind: "cpu-diloco", budget: 64, checkpointDir: dir, deadlineSeconds: 60 })

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Run a shell command line under a pseudo-terminal (util-linux `script`), collecting what the terminal showed. */
const onTerminal = (commandLine: string): Promise<{ code: number | null; shown: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", commandLine, "/dev/null"], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let shown = ""
    child.stdout.on("data", (chunk: Buffer) => (shown += chunk.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, shown }))
    child.stdin.end()
  })

describe("cpu-diloco and the checkpoint scorer through the CLI (real processes)", () => {
  it("train --json prints one artifact with its checkpoint; score --scorer checkpoint re-scores it", async () => {
    const dir = tempDir("cli-real")
    const trained = await runCli(["train", "--cluster", cluster(dir), "--recipe", recipe, "--seed", "9", "--json"])
    assert.strictEqual(trained.code, 0, trained.stderr)
    // not a terminal: no progress anywhere, and stdout is exactly one JSON document
    assert.strictEqual(trained.stderr, "")
    assert.strictEqual(trained.stdout.trim().split("\n").length, 1)
    const artifact = jsonOf(trained)
    assert.isTrue(isRecord(artifact))
    if (!isRecord(artifact)) return
    assert.strictEqual(artifact.clusterId, "cpu-diloco")
    assert.strictEqual(artifact.trainSeed, "9")
    assert.deepStrictEqual(artifact.notApplied, [])
    assert.match(String(artifact.ref), /^training:[0-9a-f]{16}$/)
    const checkpoint = String(artifact.checkpoint)
    assert.isTrue(checkpoint.startsWith(dir) && fs.existsSync(checkpoint), checkpoint)

    const artifactFile = path.join(dir, "artifact.json")
    fs.writeFileSync(artifactFile, trained.stdout)
    const scored = await runCli(["score", "--scorer", "{\"kind\":\"checkpoint\"}", "--artifact", artifactFile, "--json"])
    assert.strictEqual(scored.code, 0, scored.stderr)
    const measurement = jsonOf(scored)
    assert.isTrue(isRecord(measurement))
    if (!isRecord(measurement)) return
    const value = Number(measurement.value)
    // a trained model beats the uniform guess (ln 8 nats per symbol) on held-out data
    assert.isTrue(value > -Math.log(8) && value < 0, `value ${value}`)
    assert.strictEqual(measurement.n, 16)
    assert.strictEqual(measurement.cost, 16 * 1024)
    assert.isBelow(Number(measurement.ciLower), value)

    // the simulated scorer will not score a real artifact: it would only re-read the cluster's claim
    const refused = await runCli(["score", "--artifact", trained.stdout.trim(), "--json"])
    assert.notStrictEqual(refused.code, 0)
    const error = jsonOf(refused)
    assert.isTrue(isRecord(error) && isRecord(error.error) && error.error._tag === "ScorerRefused")
  })

  it("compete: a checkpoint scorer without data holds out from the file's cluster source; a different source is refused", async () => {
    const dir = tempDir("cli-source")
    const source = { kind: "markov", order: 2, alphabet: 6, seed: "11" }
    const competition = (scorer: Record<string, unknown>) => {
      const file = path.join(dir, `competition-${Object.keys(scorer).length}.json`)
      fs.writeFileSync(file, JSON.stringify({
        id: 1,
        cluster: { kind: "cpu-diloco", budget: 64, data: source, checkpointDir: dir, deadlineSeconds: 60 },
        scorer,
        evalShards: 12,
        reward: { kind: "snapshot-top-k", weightsBps: [10000] },
        poolWei: "1000",
        baseline: { recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: "0" },
        researchers: [{ name: "a", seed: "1", recipe: JSON.parse(recipe) }]
      }))
      return file
    }
    const implied = await runCli(["compete", competition({ kind: "checkpoint" }), "--json"])
    assert.strictEqual(implied.code, 0, implied.stdout + implied.stderr)
    const outcome = jsonOf(implied)
    assert.isTrue(isRecord(outcome) && Array.isArray(outcome.ranked) && outcome.ranked.length === 1)
    // the implied source is exactly the cluster's: naming it explicitly gives the same outcome
    const explicit = await runCli(["compete", competition({ kind: "checkpoint", data: source, shards: 12 }), "--json"])
    assert.strictEqual(explicit.code, 0, explicit.stdout + explicit.stderr)
    // (the documents differ only in where each run left its checkpoint)
    const decided = (doc: unknown) => {
      if (!isRecord(doc) || !Array.isArray(doc.candidates) || !isRecord(doc.baseline)) return doc
      return {
        ranked: doc.ranked,
        payouts: doc.payouts,
        winners: doc.winners,
        baseline: doc.baseline.heldOut,
        candidates: doc.candidates.map((c: unknown) => (isRecord(c) ? [c.heldOut, c.lift, c.clears] : c))
      }
    }
    assert.deepStrictEqual(decided(jsonOf(explicit)), decided(outcome))

    const other = await runCli([
      "compete",
      competition({ kind: "checkpoint", data: { ...source, seed: "12" } }),
      "--json"
    ])
    assert.strictEqual(other.code, 1)
    const error = jsonOf(other)
    assert.isTrue(isRecord(error) && isRecord(error.error) && error.error._tag === "ScorerRefused", other.stdout)
  })

  it("on a terminal, train shows live progress (step of budget, %, ETA, smoothed loss, bytes sent) on stderr; --json stdout stays clean", async () => {
    const dir = tempDir("cli-tty")
    const out = path.join(dir, "artifact.json")
    const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
    const commandLine = [
      quote(process.execPath),
      quote(binary),
      "train",
      "--cluster",
      quote(cluster(dir)),
      "--recipe",
      quote(recipe),
      "--seed",
      "4",
      "--json",
      ">",
      quote(out)
    ].join(" ")
    const run = await onTerminal(commandLine)
    assert.strictEqual(run.code, 0, run.shown)
    // the status line is redrawn in place: carriage return, clear line, then the state
    // (redrawn at most every 100 ms, so which steps show depends on the machine's pace)
    assert.include(run.shown, "\r\x1b[2Kcpu-diloco  starting")
    assert.match(
      run.shown,
      /\r\x1b\[2Kcpu-diloco {2}step \d+\/64 {2}\d+% {2}ETA \S+ {2}EMA loss \d+\.\d{3} {2}sent \d+(\.\d)? (B|KiB)/
    )
    // stdout (redirected to a file) holds the artifact and nothing else
    const text = fs.readFileSync(out, "utf8")
    assert.strictEqual(text.trim().split("\n").length, 1)
    const artifact: unknown = JSON.parse(text)
    assert.isTrue(isRecord(artifact) && typeof artifact.checkpoint === "string")
  })
})
