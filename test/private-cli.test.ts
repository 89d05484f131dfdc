import { assert, describe, it } from "@effect/vitest"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./fixtures/standins.js"
import { localRefereeHash as refereeHash } from "./support/attestation.js"
import { jsonOf, repoRoot, runInProcess } from "./support/cli.js"
import { close, vectors } from "./support/vectors.js"

const dir = tempDir("private")
const reference = JSON.parse(readFileSync(join(repoRoot, "examples/reference-competition.json"), "utf8")) as Record<
  string,
  unknown
>
const competition = (name: string, changes: Record<string, unknown>): string => {
  const path = join(dir, `${name}.json`)
  writeFileSync(path, JSON.stringify({ ...reference, ...changes }))
  return path
}


const local = { kind: "local-sim" }
const sealed = { kind: "sealed", inner: local }
const deny = { allowlist: [], defaultDeny: true }

interface PrivateDoc {
  ranked: Array<{ researcher: string; lift: { delta: number } }>
  payouts: Array<{ researcher: string; wei: string }>
  winners: Array<string>
  feedback: Array<Record<string, unknown>>
  attestationHashes: Array<{ researcher: string; hash: string }>
  attestationVerdict: string
}

describe("trainmarket compete with a privacy block (real process)", () => {
  it("every guard fails with its SPEC tag", async () => {
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
      ["KnobsIncoherent", {
        knobs: { structure: "collaborative", cadence: "continuous" },
        privacy: { tier: "white-box-no-egress", requiredTee: "none" }
      }],
      ["RewardInvalid", {
        reward: { kind: "snapshot-top-k", weightsBps: [] },
        privacy: { tier: "white-box-no-egress", requiredTee: "none" }
      }],
      ["CapabilitiesIncoherent", {
        privacy: {
          tier: "white-box-no-egress",
          requiredTee: "none",
          capabilities: { arbitraryCode: true, rawDataAccess: true, freeEgress: true }
        }
      }],
      ["AttestationRequired", {
        cluster: sealed,
        privacy: { tier: "white-box-no-egress", requiredTee: "none", egress: deny }
      }],
      ["AttestationRequired", { privacy: { tier: "attested-harness", requiredTee: "phala-tdx" } }],
      ["AttestationRequired", {
        cluster: { kind: "hierarchical", crossSyncInterval: 4, inner: [sealed, local, sealed] },
        privacy: { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny }
      }],
      ["EgressDenied", { cluster: sealed, privacy: { tier: "white-box-no-egress", requiredTee: "phala-tdx" } }],
      ["EgressDenied", {
        cluster: sealed,
        privacy: { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: { allowlist: [], defaultDeny: false } }
      }],
      ["AttestationInvalid", {
        cluster: sealed,
        privacy: { tier: "white-box-no-egress", requiredTee: "phala-tdx", egress: deny }
      }],
      ["AttestationInvalid", {
        cluster: { kind: "hierarchical", crossSyncInterval: 4, inner: [sealed, { kind: "sealed", inner: sealed }] },
        privacy: { tier: "attested-harness", requiredTee: "gcp-confidential" }
      }],
      ["BadInput", { privacy: { tier: "grey-box", requiredTee: "none" } }],
      ["BadInput", { privacy: { tier: "black-box", requiredTee: "none", egres: deny } }]
    ]
    const runs = await Promise.all(
      cases.map(([tag, changes], i) => runInProcess(["compete", competition(`guard-${i}-${tag}`, changes), "--json"]))
    )
    cases.forEach(([tag, changes], i) => {
      const result = runs[i]
      assert.isDefined(result)
      if (result === undefined) return
      assert.notStrictEqual(result.code, 0, JSON.stringify(changes))
      const doc = jsonOf(result) as { error: { _tag: string; message: string } }
      assert.strictEqual(doc.error._tag, tag, `${JSON.stringify(changes)}: ${doc.error.message}`)
    })
  })

  it("with required tee none a private competition runs: tier-redacted feedback, referee hash per candidate", async () => {
    const [redacted, blackBox, human] = await Promise.all([
      runInProcess([
        "compete",
        competition("redacted", { privacy: { tier: "redacted-feedback", requiredTee: "none", egress: deny } }),
        "--json"
      ]),
      runInProcess(["compete", competition("black-box", { privacy: { tier: "black-box", requiredTee: "none" } }), "--json"]),
      runInProcess(["compete", competition("black-box-human", { privacy: { tier: "black-box", requiredTee: "none" } })])
    ])
    assert.strictEqual(redacted?.code, 0, redacted?.stderr)
    const doc = (redacted === undefined ? {} : jsonOf(redacted)) as PrivateDoc
    assert.deepStrictEqual(doc.ranked.map((r) => r.researcher), vectors.oneShot.ranked)
    assert.isTrue(close(doc.ranked[0]?.lift.delta ?? NaN, vectors.oneShot.candidates[0]?.lift.delta ?? NaN))
    assert.deepStrictEqual(doc.payouts, vectors.oneShot.payouts)
    assert.deepStrictEqual(doc.winners, ["scale-islands", "comm-efficient"])
    assert.deepStrictEqual(doc.feedback, [
      { researcher: "scale-islands", clears: true, band: "large", nBucket: 12 },
      { researcher: "comm-efficient", clears: true, band: "moderate", nBucket: 12 },
      { researcher: "too-large-H", clears: false, band: "none", nBucket: 12 },
      { researcher: "over-compress", clears: false, band: "none", nBucket: 12 },
      { researcher: "bad-lr", clears: false, band: "none", nBucket: 12 }
    ])
    assert.deepStrictEqual(
      doc.attestationHashes,
      vectors.oneShot.candidates.map((c) => ({ researcher: c.researcher, hash: refereeHash }))
    )
    assert.strictEqual(doc.attestationVerdict, "unverified")

    assert.strictEqual(blackBox?.code, 0, blackBox?.stderr)
    const black = (blackBox === undefined ? {} : jsonOf(blackBox)) as PrivateDoc
    assert.deepStrictEqual(
      black.feedback,
      vectors.oneShot.candidates.map((c) => ({ researcher: c.researcher, clears: c.clears }))
    )

    assert.strictEqual(human?.code, 0, human?.stderr)
    assert.match(human?.stdout ?? "", /scale-islands.*paid 500,000 wei/)
    assert.include(human?.stdout ?? "", refereeHash)
  })

  it("without a privacy block the output has no privacy fields", async () => {
    const result = await runInProcess(["compete", competition("public", {}), "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    const doc = jsonOf(result) as Record<string, unknown>
    assert.deepStrictEqual(Object.keys(doc).sort(), ["baseline", "candidates", "payouts", "ranked", "winners"])
  })
})
