/**
 * The integrity rules through the CLI, in-process: a market file with a record test
 * keeps copies of the leader unpaid where the plain market pays the lottery (SPEC §15.4,
 * the integrity issue's "Done when"); a one-shot competition with a diverging
 * researcher lists that researcher as failed and pays the others; duplicate names and
 * an empty list are refused (§15.8).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, runInProcess } from "./support/cli.js"

const leader = { islands: 8, innerSteps: 32, innerLr: 0.003, outerLr: 0.7, keepFraction: 0.2 }
const baselineRecipe = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }

const write = (dir: string, name: string, content: unknown): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, JSON.stringify(content))
  return file
}

interface ReplayDoc {
  readonly results: ReadonlyArray<{ readonly researcher: string; readonly becameRecord: boolean; readonly paidWei: string }>
  readonly spentWei: string
}

describe("market replay with a record test (SPEC §15.4)", () => {
  it("a genuine improvement and 150 resubmissions of it: at most one copy is a record with the test, the lottery pays without", async () => {
    const dir = tempDir("record-test-cli")
    const market = (extra: Record<string, unknown>) => ({
      cluster: { kind: "local-sim" },
      evalShards: 16,
      baseline: { recipe: baselineRecipe, seed: "0" },
      schedule: { kind: "record-bounty", epsilonMicros: "1000", weiPerMicro: "1000000000" },
      // a fixed seed key: the replay's seeds do not depend on whoever runs it
      seedKey: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
      submissions: [
        { researcher: "alice", recipe: leader },
        ...Array.from({ length: 150 }, (_, i) => ({ researcher: `copycat-${i}`, recipe: leader }))
      ],
      ...extra
    })
    const tested = await runInProcess([
      "market",
      "replay",
      write(dir, "tested.json", market({ recordTest: { seeds: 3, alpha: 0.01 } })),
      "--json"
    ])
    assert.strictEqual(tested.code, 0, tested.stdout + tested.stderr)
    const testedDoc = jsonOf(tested) as ReplayDoc
    assert.isTrue(testedDoc.results[0]!.becameRecord, "the genuine improvement is a record")
    assert.isAtMost(testedDoc.results.slice(1).filter((x) => x.becameRecord).length, 1)

    const plain = await runInProcess(["market", "replay", write(dir, "plain.json", market({})), "--json"])
    assert.strictEqual(plain.code, 0, plain.stdout + plain.stderr)
    const plainDoc = jsonOf(plain) as ReplayDoc
    assert.isAtLeast(plainDoc.results.slice(1).filter((x) => x.becameRecord).length, 2)
    assert.isTrue(BigInt(plainDoc.spentWei) > BigInt(testedDoc.spentWei))
  })

  it("a record test with one seed, or an alpha outside (0, 1), is a typed error naming the field", async () => {
    const dir = tempDir("record-test-bad")
    const base = {
      cluster: { kind: "local-sim" },
      baseline: { recipe: baselineRecipe, seed: "0" },
      schedule: { kind: "record-bounty", epsilonMicros: "1000", weiPerMicro: "1" },
      submissions: []
    }
    for (const [recordTest, field] of [[{ seeds: 1, alpha: 0.01 }, "seeds"], [{ seeds: 3, alpha: 1.5 }, "alpha"]] as const) {
      const result = await runInProcess(["market", "replay", write(dir, `${field}.json`, { ...base, recordTest }), "--json"])
      assert.notStrictEqual(result.code, 0)
      const error = (jsonOf(result) as { error: { _tag: string; message: string } }).error
      assert.strictEqual(error._tag, "BadInput")
      assert.include(error.message, field)
    }
  })
})

describe("a failing researcher is not a failing competition (SPEC §15.8)", () => {
  const competition = (researchers: ReadonlyArray<{ name: string; seed: string; recipe: typeof leader }>) => ({
    id: 3,
    cluster: { kind: "local-sim" },
    reward: { kind: "snapshot-top-k", weightsBps: [5000, 3000, 2000] },
    poolWei: "1000000",
    baseline: { recipe: baselineRecipe, seed: "0" },
    researchers
  })

  it("two researchers with one name, or none, are CompetitionInvalid before anything runs", async () => {
    const dir = tempDir("competition-invalid")
    const twins = await runInProcess([
      "compete",
      write(dir, "twins.json", competition([{ name: "a", seed: "1", recipe: leader }, { name: "a", seed: "2", recipe: leader }])),
      "--json"
    ])
    assert.strictEqual(twins.code, 1)
    assert.strictEqual((jsonOf(twins) as { error: { _tag: string } }).error._tag, "CompetitionInvalid")
    const empty = await runInProcess(["compete", write(dir, "empty.json", competition([])), "--json"])
    assert.strictEqual(empty.code, 1)
    assert.strictEqual((jsonOf(empty) as { error: { _tag: string } }).error._tag, "CompetitionInvalid")
    const human = await runInProcess(["compete", write(dir, "empty2.json", competition([]))])
    assert.match(human.stderr, /^trainmarket: CompetitionInvalid: .*no researchers/)
  })

  it("cpu-diloco: a diverging researcher is listed as failed; the others are ranked and paid", async () => {
    const dir = tempDir("diverging")
    const file = write(dir, "diverging.json", {
      id: 9,
      cluster: {
        kind: "cpu-diloco",
        budget: 64,
        data: { kind: "markov", order: 2, alphabet: 8, seed: "0" },
        deadlineSeconds: 120
      },
      scorer: { kind: "checkpoint", shards: 12, tokensPerShard: 256 },
      evalShards: 12,
      reward: { kind: "snapshot-top-k", weightsBps: [6000, 4000] },
      poolWei: "1000",
      concurrency: 2,
      baseline: { recipe: baselineRecipe, seed: "0" },
      researchers: [
        { name: "diverges", seed: "1", recipe: { islands: 2, innerSteps: 16, innerLr: 1000, outerLr: 50, keepFraction: 1 } },
        { name: "scale-islands", seed: "2", recipe: { islands: 8, innerSteps: 16, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 } }
      ]
    })
    const result = await runInProcess(["compete", file, "--json"])
    assert.strictEqual(result.code, 0, result.stdout + result.stderr)
    const doc = jsonOf(result) as {
      candidates: ReadonlyArray<{ researcher: string; failed?: { _tag: string; message: string }; clears?: boolean }>
      payouts: ReadonlyArray<{ researcher: string; wei: string }>
    }
    const diverged = doc.candidates.find((c) => c.researcher === "diverges")
    assert.isDefined(diverged?.failed, "the diverging researcher is listed with its failure")
    assert.strictEqual(diverged?.failed?._tag, "BackendFailed")
    assert.deepStrictEqual(doc.payouts, [{ researcher: "scale-islands", wei: "600" }])
    const human = await runInProcess(["compete", file])
    assert.strictEqual(human.code, 0, human.stderr)
    assert.match(human.stdout, /^-\s+diverges\s.*failed: BackendFailed/m)
    assert.match(human.stdout, /^1\s+scale-islands\s.*paid 600 wei/m)
  })
})
