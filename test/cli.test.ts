import { assert, describe, it } from "@effect/vitest"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, repoRoot, runCli } from "./support/cli.js"
import { measureRef, trainLossRef } from "./support/referenceModel.js"
import { close, vectors } from "./support/vectors.js"

const dir = tempDir("cli")
const write = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const reference = readFileSync(join(repoRoot, "examples/reference-competition.json"), "utf8")
const scaleIslands = { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }

/** A failure: non-zero exit, one JSON error document with the tag, no stack trace anywhere. */
const assertTypedFailure = async (args: ReadonlyArray<string>, tag: string, input?: string) => {
  const result = await runCli([...args, "--json"], input === undefined ? {} : { input })
  assert.notStrictEqual(result.code, 0, `${args.join(" ")} should fail`)
  const doc = jsonOf(result) as { error: { _tag: string; message: string } }
  assert.strictEqual(doc.error._tag, tag, result.stdout)
  assert.isString(doc.error.message)
  assert.notMatch(result.stdout + result.stderr, /\n\s+at /, "no stack trace")
  const human = await runCli(args, input === undefined ? {} : { input })
  assert.notStrictEqual(human.code, 0)
  assert.strictEqual(human.stdout, "")
  assert.match(human.stderr.trim(), new RegExp(`^trainmarket: ${tag}: [^\\n]+$`))
  return doc.error
}

describe("trainmarket binary", () => {
  it("demo shows the reference leaderboard: two paid, three gated", async () => {
    const result = await runCli(["demo"])
    assert.strictEqual(result.code, 0, result.stderr)
    const line = (name: string) => result.stdout.split("\n").find((l) => l.includes(name)) ?? ""
    assert.match(line("scale-islands"), /^1\s.*paid 500,000 wei/)
    assert.match(line("comm-efficient"), /^2\s.*paid 300,000 wei/)
    for (const gated of ["too-large-H", "over-compress", "bad-lr"]) assert.match(line(gated), /^-\s.*gated/)
  })

  it("demo --json and compete --json on the reference file print the reference outcome", async () => {
    for (const args of [["demo", "--json"], ["compete", "examples/reference-competition.json", "--json"]]) {
      const result = await runCli(args)
      assert.strictEqual(result.code, 0, result.stderr)
      const doc = jsonOf(result) as {
        ranked: Array<{ researcher: string; lift: { delta: number; ciLower: number; ciUpper: number; n: number } }>
        payouts: Array<{ researcher: string; wei: string }>
        winners: Array<string>
      }
      assert.deepStrictEqual(Object.keys(doc).sort(), ["baseline", "candidates", "payouts", "ranked", "winners"])
      assert.deepStrictEqual(doc.ranked.map((r) => r.researcher), vectors.oneShot.ranked)
      for (const r of doc.ranked) {
        const expected = vectors.oneShot.candidates.find((c) => c.researcher === r.researcher)!.lift
        assert.isTrue(close(r.lift.delta, expected.delta) && close(r.lift.ciLower, expected.ciLower))
        assert.strictEqual(r.lift.n, expected.n)
      }
      assert.deepStrictEqual(doc.payouts, vectors.oneShot.payouts)
      assert.deepStrictEqual(doc.winners, ["scale-islands", "comm-efficient"])
    }
  })

  it("train --json prints the artifact; score --json re-scores it as the reference model does", async () => {
    const seed = "18446744073709551557"
    const trained = await runCli(["train", "--recipe", JSON.stringify(scaleIslands), "--seed", seed, "--json"])
    assert.strictEqual(trained.code, 0, trained.stderr)
    const artifact = jsonOf(trained) as Record<string, unknown>
    assert.deepStrictEqual(Object.keys(artifact).sort(), ["clusterId", "receipt", "recipe", "ref", "trainLoss", "trainSeed"])
    assert.match(String(artifact["receipt"]), /^hmac-sha256:[0-9a-f]{64}$/)
    assert.strictEqual(artifact["trainSeed"], seed)
    assert.strictEqual(artifact["clusterId"], "local-sim")
    assert.match(String(artifact["ref"]), /^training:[0-9a-f]{16}$/)
    assert.isTrue(close(Number(artifact["trainLoss"]), trainLossRef(scaleIslands, BigInt(seed))))

    for (const [split, shards] of [["held-out", 16], ["dev", 13]] as const) {
      const scored = await runCli([
        "score",
        "--artifact",
        trained.stdout.trim(),
        "--split",
        split,
        "--shards",
        String(shards),
        "--json"
      ])
      assert.strictEqual(scored.code, 0, scored.stderr)
      const m = jsonOf(scored) as { value: number; ciLower: number; ciUpper: number; n: number; cost: number }
      const expected = measureRef(scaleIslands, BigInt(seed), Number(artifact["trainLoss"]), split, shards)
      assert.isTrue(close(m.value, expected.value) && close(m.ciLower, expected.ciLower))
      assert.isTrue(close(m.ciUpper, expected.ciUpper))
      assert.strictEqual(m.n, shards)
      assert.strictEqual(m.cost, shards)
    }
  })

  it("train --input and score --input stream JSON Lines, one output line per input line", async () => {
    const lines = vectors.train.slice(0, 6).map((row) => JSON.stringify({ recipe: row.recipe, seed: row.seed }))
    const file = write("train.jsonl", lines.join("\n") + "\n")
    const trained = await runCli(["train", "--input", file, "--json"])
    assert.strictEqual(trained.code, 0, trained.stderr)
    const artifacts = trained.stdout.trim().split("\n")
    assert.strictEqual(artifacts.length, 6)
    artifacts.forEach((line, i) => {
      const a = JSON.parse(line) as { trainLoss: number }
      assert.isTrue(close(a.trainLoss, vectors.train[i]!.trainLoss))
    })
    const scored = await runCli(["score", "--input", "-", "--json"], { input: trained.stdout })
    assert.strictEqual(scored.code, 0, scored.stderr)
    const measurements = scored.stdout.trim().split("\n").map((l) => JSON.parse(l) as { value: number })
    assert.strictEqual(measurements.length, 6)
    measurements.forEach((m, i) => assert.isTrue(close(m.value, vectors.train[i]!.heldOut16.value)))
  })

  it("every command has --help", async () => {
    for (const command of [[], ["demo"], ["train"], ["score"], ["compete"]]) {
      const result = await runCli([...command, "--help"])
      assert.strictEqual(result.code, 0, `${command.join(" ")} --help`)
      assert.include(result.stdout, "Usage:")
    }
  })

  it("bad inputs are typed errors with a non-zero exit and no stack trace", async () => {
    const recipeWith = (patch: Record<string, unknown>) => JSON.stringify({ ...scaleIslands, ...patch })
    const competition = JSON.parse(reference) as Record<string, unknown>
    const researchers = competition["researchers"] as Array<Record<string, unknown>>
    const competitionWith = (name: string, patch: Record<string, unknown>) =>
      write(name, JSON.stringify({ ...competition, ...patch }))
    // [arguments, expected tag, a word the message must name, stdin]
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, string, string?]> = [
      [["train", "--recipe", recipeWith({ keepFraction: 0 }), "--seed", "1"], "RecipeInvalid", "keepFraction"],
      [["train", "--recipe", "{not json", "--seed", "1"], "BadInput", "JSON"],
      [["train", "--recipe", recipeWith({}), "--seed", "18446744073709551616"], "BadInput", "seed"],
      [["train", "--recipe", recipeWith({}), "--seed", "-1"], "BadInput", "seed"],
      [["train", "--recipe", recipeWith({ islandz: 2 }), "--seed", "1"], "RecipeInvalid", "islandz"],
      [["train", "--recipe", recipeWith({}), "--seed", "1", "--cluster", "{\"kind\":\"quantum\"}"], "BadInput", "kind"],
      [["train"], "BadInput", "--recipe"],
      [["compete", join(dir, "missing.json")], "BadInput", "not found"],
      [["compete", write("notjson.json", "{\"id\": 1,")], "BadInput", "JSON"],
      [
        ["compete", competitionWith("overweight.json", { reward: { kind: "snapshot-top-k", weightsBps: [6000, 5000] } })],
        "RewardInvalid",
        "10000"
      ],
      [["compete", competitionWith("unknown.json", { evalShardz: 3 })], "BadInput", "evalShardz"],
      [["compete", competitionWith("cluster.json", { cluster: { kind: "mainframe" } })], "BadInput", "kind"],
      [
        ["compete", competitionWith("badrecipe.json", {
          researchers: [{ ...researchers[0], recipe: { ...scaleIslands, islands: 0 } }]
        })],
        "RecipeInvalid",
        "islands"
      ],
      [["compete", competitionWith("badseed.json", { baseline: { recipe: scaleIslands, seed: "-4" } })], "BadInput", "seed"],
      [["score", "--artifact", "{\"recipe\":1}"], "RecipeInvalid", "recipe"],
      [["score", "--artifact", join(dir, "nothing.json")], "BadInput", "not found"],
      // a multi-line file that is not JSON: still a one-line message
      [["compete", write("lines.json", "hello\nworld\n")], "BadInput", "JSON"],
      // streamed inputs fail the same way (stdout is a pipe here, as in any script)
      [["train", "--input", join(dir, "absent.jsonl")], "BadInput", "not found"],
      [["score", "--input", join(dir, "absent.jsonl")], "BadInput", "not found"],
      [["train", "--input", "-"], "BadInput", "stdin line 1", "not json\n"]
    ]
    const errors = await Promise.all(cases.map(([args, tag, , input]) => assertTypedFailure(args, tag, input)))
    errors.forEach((error, i) => assert.include(error.message, cases[i]![2], error.message))
  })

  it("a bad line in a JSON Lines stream fails after the lines before it were written", async () => {
    const good = JSON.stringify({ recipe: scaleIslands, seed: "7" })
    const result = await runCli(["train", "--input", "-", "--json"], { input: `${good}\n\n{"recipe":\n${good}\n` })
    assert.strictEqual(result.code, 1)
    const [first, error, ...rest] = result.stdout.trim().split("\n")
    assert.deepStrictEqual(rest, [])
    const artifact = JSON.parse(first ?? "") as { trainSeed: string; recipe: unknown }
    assert.deepStrictEqual([artifact.trainSeed, artifact.recipe], ["7", scaleIslands])
    const failure = JSON.parse(error ?? "") as { error: { _tag: string; message: string } }
    assert.strictEqual(failure.error._tag, "BadInput")
    assert.include(failure.error.message, "stdin line 3")
  })

  it("an unknown flag with --json still prints a JSON error", async () => {
    const result = await runCli(["demo", "--frobnicate", "--json"])
    assert.notStrictEqual(result.code, 0)
    assert.strictEqual((jsonOf(result) as { error: { _tag: string } }).error._tag, "BadInput")
  })
})
