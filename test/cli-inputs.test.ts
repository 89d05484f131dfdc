/**
 * Inputs the way people write them, and the commands around the run directories:
 * seeds in JSON Lines as numbers or strings, `--recipe` inline or a file, `attest report`
 * from a sealed cluster spec, `runs list` and `runs clean --older-than`, the launcher a
 * fresh clone has before `npm run build`, and a market file's `concurrency`.
 */
import { assert, describe, it } from "@effect/vitest"
import { copyFileSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, repoRoot, runInProcess, runNode } from "./support/cli.js"

const dir = tempDir("inputs")
const keyFile = join(dir, "key")
const recipe = { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }
const hex = (text: string) => Buffer.from(text, "utf8").toString("hex")

describe("inputs", () => {
  it("a JSON Lines seed may be a number up to 2^53; beyond, a number is refused and a string is exact", async () => {
    const lines = [
      JSON.stringify({ recipe, seed: 7 }),
      JSON.stringify({ recipe, seed: "18446744073709551615" }),
      `{"recipe":${JSON.stringify(recipe)},"seed":18446744073709551615}`
    ].join("\n")
    const result = await runInProcess(["train", "--input", "-", "--key-file", keyFile, "--json"], { input: `${lines}\n` })
    assert.strictEqual(result.code, 1)
    const [first, second, error] = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.strictEqual(first!["trainSeed"], "7")
    assert.strictEqual(second!["trainSeed"], "18446744073709551615")
    const message = (error!["error"] as { message: string }).message
    assert.include(message, "stdin line 3")
    assert.include(message, "above 2^53: write a seed that large as a decimal string")
  })

  it("--recipe takes a file as well as inline JSON, to the same artifact", async () => {
    const file = join(dir, "recipe.json")
    writeFileSync(file, JSON.stringify(recipe))
    const inline = await runInProcess(["train", "--recipe", JSON.stringify(recipe), "--seed", "7", "--key-file", keyFile, "--json"])
    const fromFile = await runInProcess(["train", "--recipe", file, "--seed", "7", "--key-file", keyFile, "--json"])
    assert.strictEqual(fromFile.code, 0, fromFile.stderr)
    assert.strictEqual(fromFile.stdout, inline.stdout)
    const bad = await runInProcess(["train", "--recipe", join(dir, "absent.json"), "--seed", "7", "--key-file", keyFile, "--json"])
    assert.deepStrictEqual(jsonOf(bad), { error: { _tag: "BadInput", message: `${join(dir, "absent.json")}: file not found` } })
  })

  it("attest report prints the report a sealed cluster presents; an unsealed one presents none", async () => {
    const sealed = await runInProcess(["attest", "report", "{\"kind\":\"sealed\",\"inner\":{\"kind\":\"local-sim\"}}", "--key-file", keyFile])
    assert.strictEqual(sealed.code, 0, sealed.stderr)
    // SPEC §11: tee none, evidence tee-sim-cluster:<inner id>, measurement local-stand-in:no-enclave, no nonce
    assert.deepStrictEqual(jsonOf(sealed), {
      teeType: "none",
      evidence: hex("tee-sim-cluster:local-sim"),
      measurement: hex("local-stand-in:no-enclave"),
      nonce: null
    })
    const claimed = await runInProcess(["attest", "report", "{\"kind\":\"cpu-diloco\",\"tee\":\"aws-nitro\"}", "--key-file", keyFile])
    assert.strictEqual((jsonOf(claimed) as { teeType: string }).teeType, "aws-nitro")
    const open = await runInProcess(["attest", "report", "{\"kind\":\"local-sim\"}", "--key-file", keyFile, "--json"])
    assert.strictEqual(open.code, 1)
    assert.strictEqual((jsonOf(open) as { error: { _tag: string } }).error._tag, "AttestationRequired")
  })
})

describe("runs", () => {
  it("list shows the run directories oldest first; clean --older-than removes only the old ones", async () => {
    const runs = join(dir, "checkpoints")
    mkdirSync(runs, { recursive: true })
    const day = 86_400
    const now = Date.now() / 1000
    const made = [
      ["cpu-diloco-0123456789abcdef-aaaaaa", 10 * day, 1000],
      ["prime-fedcba9876543210-bbbbbb", 2 * day, 24],
      ["psyche-00000000000000ff-cccccc", 60, 7]
    ] as const
    for (const [name, age, bytes] of made) {
      mkdirSync(join(runs, name))
      writeFileSync(join(runs, name, "model.bin"), Buffer.alloc(bytes))
      for (const path of [join(runs, name, "model.bin"), join(runs, name)]) utimesSync(path, now - age, now - age)
    }
    mkdirSync(join(runs, "not-a-run"))
    const listed = await runInProcess(["runs", "list", "--dir", runs, "--json"])
    assert.strictEqual(listed.code, 0, listed.stderr)
    const document = jsonOf(listed) as { runs: ReadonlyArray<{ backend: string; ref: string; sizeBytes: number }>; totalBytes: number }
    assert.deepStrictEqual(document.runs.map((r) => [r.backend, r.ref, r.sizeBytes]), [
      ["cpu-diloco", "training:0123456789abcdef", 1000],
      ["prime", "training:fedcba9876543210", 24],
      ["psyche", "training:00000000000000ff", 7]
    ])
    assert.strictEqual(document.totalBytes, 1031)
    const text = await runInProcess(["runs", "list", "--dir", runs])
    assert.match(text.stdout, /^ +10d 0h ago +1000 B {2}cpu-diloco {2}\S+cpu-diloco-0123456789abcdef-aaaaaa\n/)
    assert.include(text.stdout, `3 run directories, 1.0 KiB, in ${runs}`)

    const cleaned = await runInProcess(["runs", "clean", "--older-than", "7d", "--dir", runs, "--json"])
    const removed = jsonOf(cleaned) as { removed: ReadonlyArray<{ backend: string }>; freedBytes: number }
    assert.deepStrictEqual(removed.removed.map((r) => r.backend), ["cpu-diloco"])
    assert.strictEqual(removed.freedBytes, 1000)
    const left = jsonOf(await runInProcess(["runs", "list", "--dir", runs, "--json"])) as { runs: ReadonlyArray<unknown> }
    assert.strictEqual(left.runs.length, 2)
  })
})

describe("a market file's concurrency", () => {
  it("trains that many submissions at once and settles them in order, to the same result", async () => {
    const market = (concurrency: number) => {
      const file = join(dir, `market-${concurrency}.json`)
      const submissions = [2, 4, 8, 4].map((islands, i) => ({
        researcher: `r${i}`,
        recipe: { islands, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }
      }))
      writeFileSync(file, JSON.stringify({
        // a hierarchy of one simulator trains through the services, not the simulator's fast path
        cluster: { kind: "hierarchical", crossSyncInterval: 4, inner: [{ kind: "local-sim" }] },
        baseline: { recipe: { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }, seed: "0" },
        schedule: { kind: "record-bounty", epsilonMicros: "1000", weiPerMicro: "1" },
        concurrency,
        submissions
      }))
      return file
    }
    const one = await runInProcess(["market", "replay", market(1), "--key-file", keyFile, "--json"])
    const three = await runInProcess(["market", "replay", market(3), "--key-file", keyFile, "--json"])
    assert.strictEqual(three.code, 0, three.stderr)
    assert.strictEqual(three.stdout, one.stdout)
  })
})

describe("the launcher a fresh clone has", () => {
  const run = (cwd: string, args: ReadonlyArray<string>) => runNode([join(cwd, "bin", "trainmarket.mjs"), ...args], { cwd })

  it("says the package is not built yet before npm run build, and runs the CLI after", async () => {
    const clone = tempDir("clone")
    mkdirSync(join(clone, "bin"))
    for (const file of ["trainmarket.mjs", "launch.mjs"]) copyFileSync(join(repoRoot, "bin", file), join(clone, "bin", file))
    const before = await run(clone, ["demo"])
    assert.deepStrictEqual(before, { code: 1, stdout: "", stderr: "trainmarket is not built yet: run npm run build\n" })
    symlinkSync(join(repoRoot, "dist"), join(clone, "dist"))
    symlinkSync(join(repoRoot, "node_modules"), join(clone, "node_modules"))
    const after = await run(clone, ["--version"])
    assert.deepStrictEqual(after, { code: 0, stdout: "0.1.0\n", stderr: "" })
  })
})
