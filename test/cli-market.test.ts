import { assert, describe, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { isPlainSubmission, MarketSubmission, resultJson, resultText } from "../src/files/MarketFile.js"
import { stringify } from "../src/files/Json.js"
import { tempDir } from "./fixtures/standins.js"
import { jsonOf, runInProcess } from "./support/cli.js"
import { measureRef, type RefRecipe, trainLossRef } from "./support/referenceModel.js"
import { close, vectors } from "./support/vectors.js"

const dir = tempDir("market")
const write = (name: string, content: unknown): string => {
  const path = join(dir, name)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}

const continuous = vectors.continuous
const baselineRecipe = { islands: 1, innerSteps: 1, innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
const marketFile = (
  submissions: ReadonlyArray<{ researcher: string; recipe: RefRecipe }>,
  extra: Record<string, unknown> = {}
) => ({
  cluster: { kind: "local-sim" },
  evalShards: continuous.evalShards,
  gate: { minLiftCiLower: 0.02, minN: 12 },
  baseline: { recipe: baselineRecipe, seed: String(continuous.baselineSeed) },
  schedule: {
    kind: "record-bounty",
    epsilonMicros: String(continuous.epsilonMicros),
    weiPerMicro: continuous.weiPerMicro
  },
  submissions,
  ...extra
})
const scenario = (name: string) => continuous.scenarios.find((s) => s.name === name)!
const submissionsOf = (name: string) =>
  scenario(name).results.map((r) => ({ researcher: r.researcher, recipe: r.recipe }))

interface ReplayDoc {
  results: Array<{
    researcher: string
    heldOutValue: number
    liftMicros: string | null
    becameRecord: boolean
    paidWei: string
  }>
  payouts: Array<{ researcher: string; wei: string }>
  finalBestMicros: string | null
  spentWei: string
}

const replayJson = async (path: string): Promise<ReplayDoc> => {
  const result = await runInProcess(["market", "replay", path, "--json"])
  assert.strictEqual(result.code, 0, result.stdout + result.stderr)
  assert.strictEqual(result.stderr, "", "no progress on stderr when it is not a terminal")
  return jsonOf(result) as ReplayDoc
}

/** A failure: non-zero exit, one JSON error document with the tag, no stack trace; (alsoHuman) one stderr line without --json. */
const assertTypedFailure = async (args: ReadonlyArray<string>, tag: string, alsoHuman = false) => {
  const result = await runInProcess([...args, "--json"])
  assert.notStrictEqual(result.code, 0, `${args.join(" ")} should fail`)
  const doc = jsonOf(result) as { error: { _tag: string; message: string } }
  assert.strictEqual(doc.error._tag, tag, result.stdout)
  assert.notMatch(result.stdout + result.stderr, /\n\s+at /, "no stack trace")
  if (!alsoHuman) return doc.error.message
  const human = await runInProcess(args)
  assert.notStrictEqual(human.code, 0)
  assert.strictEqual(human.stdout, "")
  assert.match(human.stderr.trim(), new RegExp(`^trainmarket: ${tag}: [^\\n]+$`))
  return doc.error.message
}

// An independent model of SPEC §8's replay (record bounty, optional pool) on the reference simulator.
const modelReplay = (
  submissions: ReadonlyArray<{ researcher: string; recipe: RefRecipe }>,
  poolWei: bigint | undefined
) => {
  const heldOut = (recipe: RefRecipe, seed: bigint) =>
    measureRef(recipe, seed, trainLossRef(recipe, seed), "held-out", 16)
  const se = (m: { ciLower: number; ciUpper: number }) => (m.ciUpper - m.ciLower) / (2 * 1.96)
  const base = heldOut(baselineRecipe, 0n)
  const wpm = BigInt(continuous.weiPerMicro)
  let best: bigint | null = null
  let spent = 0n
  const payouts = new Map<string, bigint>()
  const results = submissions.map((s, i) => {
    const m = heldOut(s.recipe, BigInt(i))
    const delta = m.value - base.value
    const lower = delta - 1.96 * Math.sqrt(se(m) ** 2 + se(base) ** 2)
    const micros = lower >= 0.02 ? BigInt(Math.sign(delta) * Math.round(Math.abs(delta * 1e6))) : null
    let record = false
    let paid = 0n
    if (micros !== null) {
      const marginal = micros - (best ?? 0n)
      if (marginal > 0n && marginal >= 1000n && (poolWei === undefined || marginal * wpm <= poolWei - spent)) {
        record = true
        paid = marginal * wpm
        best = micros
        spent += paid
        payouts.set(s.researcher, (payouts.get(s.researcher) ?? 0n) + paid)
      }
    }
    return { heldOutValue: m.value, liftMicros: micros, record, paid }
  })
  return { results, payouts, best, spent }
}

describe("trainmarket market replay", () => {
  for (const s of continuous.scenarios) {
    it(`--json reproduces the reference scenario "${s.name}"`, async () => {
      const doc = await replayJson(write(`${s.name}.json`, marketFile(submissionsOf(s.name))))
      assert.deepStrictEqual(Object.keys(doc), ["results", "payouts", "finalBestMicros", "spentWei"])
      assert.strictEqual(doc.results.length, s.results.length)
      s.results.forEach((expected, i) => {
        const actual = doc.results[i]!
        assert.deepStrictEqual(Object.keys(actual), [
          "researcher",
          "heldOutValue",
          "liftMicros",
          "becameRecord",
          "paidWei"
        ])
        assert.strictEqual(actual.researcher, expected.researcher)
        assert.isTrue(close(actual.heldOutValue, expected.heldOutValue))
        assert.strictEqual(actual.liftMicros, expected.liftMicros === null ? null : String(expected.liftMicros))
        assert.strictEqual(actual.becameRecord, expected.becameRecord)
        assert.strictEqual(actual.paidWei, expected.paidWei)
      })
      assert.strictEqual(
        doc.payouts.reduce((total, p) => total + BigInt(p.wei), 0n).toString(),
        s.totalWei
      )
      assert.strictEqual(doc.finalBestMicros, s.finalBestMicros === null ? null : String(s.finalBestMicros))
      assert.strictEqual(doc.spentWei, s.totalWei)
    })
  }

  it("a hierarchy of one sealed simulator (k = 1, interval 4: the inner cluster exactly) replays through the services", async () => {
    const cluster = { kind: "hierarchical", crossSyncInterval: 4, inner: [{ kind: "sealed", inner: { kind: "local-sim" } }] }
    const s = scenario("dip")
    const doc = await replayJson(write("hierarchy.json", marketFile(submissionsOf("dip"), { cluster })))
    assert.deepStrictEqual(doc.results.map((r) => r.paidWei), s.results.map((r) => r.paidWei))
    s.results.forEach((expected, i) => assert.isTrue(close(doc.results[i]!.heldOutValue, expected.heldOutValue)))
    assert.strictEqual(doc.spentWei, s.totalWei)
  })

  it("a cluster that cannot be built is one typed error document, not a truncated result", async () => {
    const cluster = { kind: "hierarchical", crossSyncInterval: 4, inner: [] }
    await assertTypedFailure(["market", "replay", write("empty-hierarchy.json", marketFile(submissionsOf("dip"), { cluster }))], "ClusterInvalid")
  })

  it("a binding pool rejects a record whole (hand-computed from the improving scenario)", async () => {
    const doc = await replayJson(
      write("pool.json", marketFile(submissionsOf("improving"), { poolWei: "150000000000000" }))
    )
    assert.deepStrictEqual(doc.results.map((r) => [r.liftMicros, r.becameRecord, r.paidWei]), [
      ["98972", true, "98972000000000"],
      ["186946", false, "0"],
      ["280862", false, "0"]
    ])
    assert.deepStrictEqual(doc.payouts, [{ researcher: "alice", wei: "98972000000000" }])
    assert.strictEqual(doc.finalBestMicros, "98972")
    assert.strictEqual(doc.spentWei, "98972000000000")
  })

  it("a long random replay with a binding pool streams one JSON document equal to an independent model", async () => {
    const recipes: Array<RefRecipe> = []
    for (const islands of [1, 2, 4, 8, 16]) {
      for (const innerSteps of [32, 4000]) {
        for (const keepFraction of [0.0005, 0.1, 0.2]) {
          recipes.push({ islands, innerSteps, innerLr: 0.003, outerLr: 0.7, keepFraction })
        }
      }
    }
    let state = 12345
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0)
    const submissions = Array.from({ length: 12_000 }, () => ({
      researcher: `r${next() % 40}`,
      recipe: recipes[next() % recipes.length]!
    }))
    const pool = 300_000n * 1_000_000_000n
    const doc = await replayJson(write("long.json", marketFile(submissions, { poolWei: pool.toString() })))
    const model = modelReplay(submissions, pool)
    assert.strictEqual(doc.results.length, submissions.length)
    doc.results.forEach((r, i) => {
      const e = model.results[i]!
      assert.isTrue(close(r.heldOutValue, e.heldOutValue), `result ${i}`)
      assert.strictEqual(r.liftMicros, e.liftMicros === null ? null : e.liftMicros.toString(), `result ${i}`)
      assert.strictEqual(r.becameRecord, e.record, `result ${i}`)
      assert.strictEqual(r.paidWei, e.paid.toString(), `result ${i}`)
    })
    assert.deepStrictEqual(
      doc.payouts,
      Array.from(model.payouts, ([researcher, wei]) => ({ researcher, wei: wei.toString() }))
    )
    assert.strictEqual(doc.spentWei, model.spent.toString())
    assert.strictEqual(doc.finalBestMicros, model.best === null ? null : String(model.best))
    assert.isTrue(BigInt(doc.spentWei) <= pool)
  })

  it("time-at-top: one epoch per submission credits the holder (dip: alice 2 epochs, carol 1)", async () => {
    const doc = await replayJson(
      write("tat.json", marketFile(submissionsOf("dip"), { schedule: { kind: "time-at-top", weiPerEpoch: "100" } }))
    )
    assert.deepStrictEqual(doc.results.map((r) => [r.becameRecord, r.paidWei]), [[true, "100"], [false, "0"], [
      true,
      "100"
    ]])
    assert.deepStrictEqual(doc.payouts, [{ researcher: "alice", wei: "200" }, { researcher: "carol", wei: "100" }])
    assert.strictEqual(doc.spentWei, "300")
    assert.strictEqual(doc.finalBestMicros, "280862")
  })

  it("objective: a cost-axis market on the simulator (cost = shards for everyone) has nothing to pay", async () => {
    const doc = await replayJson(
      write("cost.json", marketFile(submissionsOf("improving"), { objective: { axis: "cost", sign: -1 } }))
    )
    // every submission clears the value floor, and costs 16 shards like the baseline: 0 micros, no record
    assert.deepStrictEqual(doc.results.map((r) => [r.liftMicros, r.becameRecord]), [["0", false], ["0", false], [
      "0",
      false
    ]])
    assert.deepStrictEqual(doc.payouts, [])
    assert.strictEqual(doc.finalBestMicros, null)
    assert.strictEqual(doc.spentWei, "0")
  })

  it("objective: value with sign -1 turns every improvement into a loss, so all are gated", async () => {
    const doc = await replayJson(
      write("negative.json", marketFile(submissionsOf("improving"), { objective: { axis: "value", sign: -1 } }))
    )
    assert.deepStrictEqual(doc.results.map((r) => r.liftMicros), [null, null, null])
    assert.strictEqual(doc.spentWei, "0")
  })

  it("prints a readable replay without --json", async () => {
    const result = await runInProcess(["market", "replay", write("human.json", marketFile(submissionsOf("dip")))])
    assert.strictEqual(result.code, 0, result.stderr)
    const lines = result.stdout.split("\n")
    const line = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? ""
    assert.match(line("alice"), /record\s+paid 192,944,000,000,000 wei/)
    assert.match(line("bob"), /no record/)
    assert.match(line("carol"), /record\s+paid 87,918,000,000,000 wei/)
    assert.match(result.stdout, /final best 280,862 micros; spent 280,862,000,000,000 wei/)
  })

  describe("--submissions: the submissions streamed from a JSON Lines file", () => {
    const { submissions: _inline, ...head } = marketFile(submissionsOf("improving"))
    const lines = (entries: ReadonlyArray<unknown>) => entries.map((entry) => JSON.stringify(entry)).join("\n") + "\n"

    it("gives the same document as the submissions inline, blank lines skipped", async () => {
      for (const s of continuous.scenarios) {
        const inline = await replayJson(write(`inline-${s.name}.json`, marketFile(submissionsOf(s.name))))
        const streamed = await runInProcess([
          "market",
          "replay",
          write(`head-${s.name}.json`, head),
          "--submissions",
          write(`${s.name}.jsonl`, `\n${lines(submissionsOf(s.name))}\n`),
          "--json"
        ])
        assert.strictEqual(streamed.code, 0, streamed.stdout + streamed.stderr)
        assert.deepStrictEqual(jsonOf(streamed), inline)
      }
    })

    it("prints the same readable lines as the submissions inline, long researcher names aligned alike", async () => {
      const named = submissionsOf("improving").map((entry, i) => ({ ...entry, researcher: `researcher-number-${i}` }))
      const inline = await runInProcess(["market", "replay", write("inline-long.json", marketFile(named))])
      const streamed = await runInProcess([
        "market", "replay", write("head-long.json", head), "--submissions", write("long.jsonl", lines(named))
      ])
      assert.strictEqual(inline.code, 0, inline.stderr)
      assert.strictEqual(streamed.code, 0, streamed.stderr)
      const results = (text: string) => text.split("\n").filter((line) => line.startsWith("#"))
      assert.isAbove(results(inline.stdout).length, 0)
      assert.deepStrictEqual(results(streamed.stdout), results(inline.stdout))
    })

    it("a bad line fails before anything is printed, naming its line; submissions in both places are refused", async () => {
      const good = submissionsOf("improving")
      const broken = write("broken.jsonl", `${lines(good.slice(0, 2))}{"researcher": "x", "recipe":\n`)
      const result = await runInProcess(["market", "replay", write("head.json", head), "--submissions", broken, "--json"])
      assert.strictEqual(result.code, 1)
      const doc = jsonOf(result) as { error: { _tag: string; message: string } }
      assert.strictEqual(doc.error._tag, "BadInput")
      assert.include(doc.error.message, "line 3")
      const knob = write("knob.jsonl", lines([...good, { researcher: "y", recipe: { ...baselineRecipe, islands: 0 } }]))
      const bad = await runInProcess(["market", "replay", write("head.json", head), "--submissions", knob, "--json"])
      assert.deepStrictEqual((jsonOf(bad) as { error: { _tag: string } }).error._tag, "RecipeInvalid")
      // the message names the line and the knob
      assert.include((jsonOf(bad) as { error: { message: string } }).error.message, `line ${good.length + 1}: recipe field "islands"`)
      // read twice, so stdin is refused rather than replayed as nothing
      const stdin = await runInProcess(["market", "replay", write("head.json", head), "--submissions", "-", "--json"], {
        input: lines(good)
      })
      assert.strictEqual(stdin.code, 1)
      assert.include((jsonOf(stdin) as { error: { message: string } }).error.message, "regular file")
      const both = await runInProcess([
        "market",
        "replay",
        write("both.json", marketFile(good)),
        "--submissions",
        write("good.jsonl", lines(good)),
        "--json"
      ])
      assert.strictEqual(both.code, 1)
      assert.include((jsonOf(both) as { error: { message: string } }).error.message, "not both")
    })
  })

  describe("malformed market files are typed errors naming what is wrong", () => {
    const good = marketFile(submissionsOf("improving"))
    it("an unknown top-level field", async () => {
      const message = await assertTypedFailure(
        ["market", "replay", write("typo.json", { ...good, poolwei: "1" })],
        "BadInput",
        true
      )
      assert.include(message, "poolwei")
    })
    it("an unknown schedule field", async () => {
      const message = await assertTypedFailure(
        ["market", "replay", write("typo2.json", { ...good, schedule: { ...good.schedule, epsilon: "1" } })],
        "BadInput"
      )
      assert.include(message, "epsilon")
    })
    it("a one-shot reward as the schedule", async () => {
      await assertTypedFailure(
        ["market", "replay", write("oneshot.json", { ...good, schedule: { kind: "terminal-prize" } })],
        "BadInput"
      )
    })
    it("a seed that is a number, not a decimal string", async () => {
      await assertTypedFailure(
        ["market", "replay", write("seed.json", { ...good, baseline: { recipe: baselineRecipe, seed: 0 } })],
        "BadInput"
      )
    })
    it("an impossible objective sign", async () => {
      await assertTypedFailure(
        ["market", "replay", write("objective.json", { ...good, objective: { axis: "cost", sign: 2 } })],
        "BadInput"
      )
    })
    it("a bad recipe knob names the knob", async () => {
      const message = await assertTypedFailure(
        [
          "market",
          "replay",
          write("knob.json", {
            ...good,
            submissions: [{ researcher: "x", recipe: { ...baselineRecipe, keepFraction: 0 } }]
          })
        ],
        "RecipeInvalid"
      )
      assert.include(message, "keepFraction")
    })
    it("broken JSON and a missing file", async () => {
      await assertTypedFailure(["market", "replay", write("broken.json", "{\"cluster\": ")], "BadInput")
      const message = await assertTypedFailure(["market", "replay", join(dir, "absent.json")], "BadInput")
      assert.include(message, "not found")
    })
  })
})

describe("market file reading and result printing (in process)", () => {
  const number = fc.oneof(
    fc.double(),
    fc.integer({ min: -5, max: 5 }),
    fc.constantFrom(0, 1, 4294967295, 4294967296, 0.5, 1e-9, -0)
  )
  const rawRecipe = fc.record(
    {
      islands: number,
      innerSteps: number,
      innerLr: number,
      outerLr: number,
      keepFraction: number,
      extra: fc.constant(1)
    },
    { requiredKeys: [] }
  )
  const rawSubmission = fc.oneof(
    fc.record({ researcher: fc.string(), recipe: rawRecipe }, { requiredKeys: [] }),
    fc.record({ researcher: fc.oneof(fc.string(), fc.integer()), recipe: rawRecipe, note: fc.string() }),
    fc.anything()
  )
  const decodes = Schema.decodeUnknownEither(MarketSubmission, { onExcessProperty: "error" })

  it("the quick submission check accepts only what the schema accepts, and accepts every valid submission", () => {
    fc.assert(
      fc.property(rawSubmission, (raw) => {
        const valid = Either.isRight(decodes(raw))
        return isPlainSubmission(raw) === valid
      }),
      { numRuns: 3000 }
    )
  })

  it("the hand-written result text is exactly the generic JSON of the result", () => {
    fc.assert(
      fc.property(
        fc.record({
          index: fc.nat(),
          researcher: fc.string(),
          heldOutValue: fc.double(),
          liftMicros: fc.option(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), { nil: undefined }),
          becameRecord: fc.boolean(),
          paidWei: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n })
        }),
        (result) => resultText(result) === stringify(resultJson(result))
      ),
      { numRuns: 2000 }
    )
  })
})

