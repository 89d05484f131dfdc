import { assert, describe, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, runInProcess } from "./support/cli.js"
import { testKey, writeKeyFile } from "./support/keys.js"
import { expectedReceipt, refOf } from "./support/receipts.js"
import { trainLossRef } from "./support/referenceModel.js"
import { close, vectors } from "./support/vectors.js"

const dir = tempDir("panel")
// every command here runs under this operator key (the artifacts below are signed with it)
process.env["TRAINMARKET_KEY_FILE"] = writeKeyFile(dir)

type PanelCase = (typeof vectors.panel)[number]
const byName = (name: string): PanelCase => vectors.panel.find((c) => c.name === name)!

/**
 * The case's artifact as `train --json` prints it: the loss from the independent
 * reference model, the ref and the receipt under the test key computed independently.
 */
const artifactJson = (c: PanelCase): string => {
  const json = {
    recipe: { ...c.recipe },
    trainSeed: String(c.seed),
    trainLoss: trainLossRef(c.recipe, BigInt(c.seed)),
    clusterId: "local-sim",
    ref: refOf(c.recipe, BigInt(c.seed))
  }
  return JSON.stringify({ ...json, receipt: expectedReceipt(testKey, json) })
}

interface JudgementDoc {
  accepted: boolean
  accepting: number
  quorum: number
  consensus: number
  verdicts: Array<{
    evalShards: number
    measured: { value: number; ciLower: number; ciUpper: number; n: number; cost: number }
    accepts: boolean
  }>
}

const judge = async (args: ReadonlyArray<string>): Promise<JudgementDoc> => {
  const result = await runInProcess(["panel", "judge", ...args, "--json"])
  assert.strictEqual(result.code, 0, result.stdout + result.stderr)
  return jsonOf(result) as JudgementDoc
}

const assertMatches = (doc: JudgementDoc, c: PanelCase, quorum = c.quorum) => {
  assert.deepStrictEqual(Object.keys(doc), ["accepted", "accepting", "quorum", "consensus", "verdicts"])
  assert.strictEqual(doc.accepting, c.accepting)
  assert.strictEqual(doc.quorum, quorum)
  assert.strictEqual(doc.accepted, c.accepting >= quorum)
  assert.isTrue(close(doc.consensus, c.consensus))
  c.verdicts.forEach((expected, i) => {
    const actual = doc.verdicts[i]!
    assert.deepStrictEqual(Object.keys(actual), ["evalShards", "measured", "accepts"])
    assert.strictEqual(actual.evalShards, expected.evalShards)
    for (const key of ["value", "ciLower", "ciUpper"] as const) {
      assert.isTrue(close(actual.measured[key], expected.measured[key]), `${c.name} ${i} ${key}`)
    }
    assert.strictEqual(actual.measured.n, expected.measured.n)
    assert.strictEqual(actual.measured.cost, expected.measured.cost)
    assert.strictEqual(actual.accepts, expected.accepts)
  })
}

const assertTypedFailure = async (args: ReadonlyArray<string>, tag: string) => {
  const result = await runInProcess([...args, "--json"])
  assert.notStrictEqual(result.code, 0, `${args.join(" ")} should fail`)
  const doc = jsonOf(result) as { error: { _tag: string; message: string } }
  assert.strictEqual(doc.error._tag, tag, result.stdout)
  assert.notMatch(result.stdout + result.stderr, /\n\s+at /, "no stack trace")
  return doc.error.message
}

describe("trainmarket panel judge", () => {
  for (const c of vectors.panel) {
    it(`--shards/--quorum reproduce the reference case "${c.name}"`, async () => {
      const doc = await judge([
        "--artifact",
        artifactJson(c),
        "--claim",
        String(c.claim),
        "--shards",
        c.shards.join(","),
        "--quorum",
        String(c.quorum)
      ])
      assertMatches(doc, c)
    })
  }

  it("--majority 5 --base-shards 13 is the reference honest panel; the split claim fails a 3-of-3 panel", async () => {
    const honest = byName("honest-majority5")
    const path = join(dir, "honest.json")
    writeFileSync(path, artifactJson(honest))
    assertMatches(
      await judge(["--artifact", path, "--claim", String(honest.claim), "--majority", "5", "--base-shards", "13"]),
      honest
    )
    const split = byName("split-0.0015")
    assertMatches(
      await judge(["--artifact", artifactJson(split), "--claim", String(split.claim), "--shards", "12,16,64", "--quorum", "3"]),
      split,
      3
    )
  })

  it("--consensus median reports the median referee value (hand-computed from the reference verdicts)", async () => {
    const honest = byName("honest-majority5")
    const values = honest.verdicts.map((v) => v.measured.value).sort((a, b) => a - b)
    const doc = await judge([
      "--artifact",
      artifactJson(honest),
      "--claim",
      String(honest.claim),
      "--majority",
      "5",
      "--base-shards",
      "13",
      "--consensus",
      "median"
    ])
    assert.isTrue(close(doc.consensus, values[2]!))
  })

  it("a NaN claim is accepted by no referee", async () => {
    const honest = byName("honest-majority5")
    const doc = await judge(["--artifact", artifactJson(honest), "--claim", "NaN", "--shards", "13,14,15", "--quorum", "1"])
    assert.strictEqual(doc.accepting, 0)
    assert.isFalse(doc.accepted)
  })

  it("prints a readable judgement without --json", async () => {
    const split = byName("split-0.0015")
    const result = await runInProcess([
      "panel",
      "judge",
      "--artifact",
      artifactJson(split),
      "--claim",
      String(split.claim),
      "--shards",
      "12,16,64",
      "--quorum",
      "2"
    ])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.match(result.stdout, /^accepted: 2 of 3 referees accept \(quorum 2\)/)
    assert.match(result.stdout, /64 shards .* rejects/)
  })

  describe("impossible panels and bad flags are typed errors", () => {
    const c = byName("split-0.0015")
    const base = ["panel", "judge", "--artifact", artifactJson(c), "--claim", String(c.claim)]
    it("quorum 0 and quorum above n", async () => {
      await assertTypedFailure([...base, "--shards", "12,16,64", "--quorum", "0"], "PanelInvalid")
      await assertTypedFailure([...base, "--shards", "12,16,64", "--quorum", "4"], "PanelInvalid")
    })
    it("a referee with zero shards; a majority of nobody", async () => {
      await assertTypedFailure([...base, "--shards", "12,0", "--quorum", "1"], "PanelInvalid")
      await assertTypedFailure([...base, "--majority", "0", "--base-shards", "12"], "PanelInvalid")
    })
    it("a malformed shard list, no panel at all, a claim that is not a number", async () => {
      await assertTypedFailure([...base, "--shards", "12,,16", "--quorum", "1"], "BadInput")
      await assertTypedFailure(base, "BadInput")
      await assertTypedFailure(
        ["panel", "judge", "--artifact", artifactJson(c), "--claim", "lots", "--shards", "12", "--quorum", "1"],
        "BadInput"
      )
    })
    it("an artifact whose ref does not match it", async () => {
      const forged = JSON.stringify({ ...JSON.parse(artifactJson(c)), ref: "training:0000000000000000" })
      await assertTypedFailure(
        ["panel", "judge", "--artifact", forged, "--claim", String(c.claim), "--shards", "12", "--quorum", "1"],
        "ArtifactInvalid"
      )
    })
  })
})
