import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import * as Privacy from "../src/attestation/Privacy.js"

const tiers: ReadonlyArray<Privacy.Tier> = ["black-box", "redacted-feedback", "white-box-no-egress", "attested-harness"]

/** SPEC §11's bands and buckets, written out again. */
const bandRef = (delta: number): Privacy.Band => {
  if (!(delta > 0) || delta === Infinity) return "none"
  if (delta < 0.05) return "small"
  if (delta < 0.2) return "moderate"
  return "large"
}
const bucketRef = (n: number): Privacy.NBucket => (n >= 200 ? 200 : n >= 50 ? 50 : n >= 12 ? 12 : 0)

const anyNumber = fc.oneof(
  fc.double(),
  fc.double({ min: -1, max: 1, noNaN: true }),
  fc.constantFrom(0, -0, 0.05, 0.2, 0.04999999999999999, 0.19999999999999998, Number.NaN, Infinity, -Infinity)
)
const verdicts: fc.Arbitrary<Privacy.Verdict> = fc.record({
  researcher: fc.string({ maxLength: 12 }),
  clears: fc.boolean(),
  lift: fc.record({
    delta: anyNumber,
    ciLower: anyNumber,
    ciUpper: anyNumber,
    n: fc.oneof(fc.nat(1000), fc.constant(Number.NaN))
  }),
  measurement: fc.record({ value: anyNumber, ciLower: anyNumber, ciUpper: anyNumber, n: fc.nat(1000), cost: anyNumber })
})

describe("tiers and capabilities", () => {
  it("each tier's capabilities are SPEC §11's table", () => {
    assert.deepStrictEqual(Privacy.capabilitiesOf["black-box"], {
      arbitraryCode: true,
      rawDataAccess: false,
      freeEgress: true
    })
    assert.deepStrictEqual(Privacy.capabilitiesOf["redacted-feedback"], {
      arbitraryCode: true,
      rawDataAccess: false,
      freeEgress: true
    })
    assert.deepStrictEqual(Privacy.capabilitiesOf["white-box-no-egress"], {
      arbitraryCode: true,
      rawDataAccess: true,
      freeEgress: false
    })
    assert.deepStrictEqual(Privacy.capabilitiesOf["attested-harness"], {
      arbitraryCode: false,
      rawDataAccess: true,
      freeEgress: true
    })
  })

  it.effect("all three capabilities at once is CapabilitiesIncoherent; every other combination is coherent", () =>
    Effect.gen(function*() {
      for (const arbitraryCode of [false, true]) {
        for (const rawDataAccess of [false, true]) {
          for (const freeEgress of [false, true]) {
            const result = yield* Effect.either(Privacy.validateCapabilities({ arbitraryCode, rawDataAccess, freeEgress }))
            if (arbitraryCode && rawDataAccess && freeEgress) {
              assert.isTrue(Either.isLeft(result))
              if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "CapabilitiesIncoherent")
            } else {
              assert.isTrue(Either.isRight(result))
            }
          }
        }
      }
      for (const tier of tiers) {
        const result = yield* Effect.either(Privacy.validateCapabilities(Privacy.capabilitiesOf[tier]))
        assert.isTrue(Either.isRight(result), tier)
      }
    }))

  it("WhiteBoxNoEgress and AttestedHarness require attestation; the others do not", () => {
    assert.deepStrictEqual(tiers.filter(Privacy.requiresAttestation), ["white-box-no-egress", "attested-harness"])
  })

  it("egress defaults: none at all, a deny-by-default allowlist, free egress", () => {
    assert.deepStrictEqual(Privacy.defaultEgress("white-box-no-egress"), { allowlist: [], defaultDeny: true })
    assert.deepStrictEqual(Privacy.defaultEgress("attested-harness"), { allowlist: [], defaultDeny: true })
    assert.deepStrictEqual(Privacy.defaultEgress("black-box"), { allowlist: [], defaultDeny: false })
    assert.deepStrictEqual(Privacy.defaultEgress("redacted-feedback"), { allowlist: [], defaultDeny: false })
    assert.deepStrictEqual(Privacy.allowOnly(["hub.example"]), { allowlist: ["hub.example"], defaultDeny: true })
  })
})

describe("feedback redaction", () => {
  it("bands at their boundaries", () => {
    const cases: ReadonlyArray<readonly [number, Privacy.Band]> = [
      [-1, "none"],
      [0, "none"],
      [-0, "none"],
      [Number.NaN, "none"],
      [Infinity, "none"],
      [-Infinity, "none"],
      [Number.MIN_VALUE, "small"],
      [0.04999999999999999, "small"],
      [0.05, "moderate"],
      [0.19999999999999998, "moderate"],
      [0.2, "large"],
      [1e9, "large"]
    ]
    for (const [delta, band] of cases) assert.strictEqual(Privacy.bandOf(delta), band, String(delta))
  })

  it("n buckets at 12, 50, 200", () => {
    const cases: ReadonlyArray<readonly [number, Privacy.NBucket]> = [
      [0, 0],
      [11, 0],
      [11.999, 0],
      [12, 12],
      [49, 12],
      [50, 50],
      [199, 50],
      [200, 200],
      [1e9, 200],
      [Number.NaN, 0]
    ]
    for (const [n, bucket] of cases) assert.strictEqual(Privacy.nBucketOf(n), bucket, String(n))
  })

  it("black-box feedback holds only the gate verdict", () => {
    const feedback = Privacy.feedback("black-box", {
      researcher: "alice",
      clears: true,
      lift: { delta: 0.3, ciLower: 0.29, ciUpper: 0.31, n: 16 },
      measurement: { value: -2.2, ciLower: -2.21, ciUpper: -2.19, n: 16, cost: 16 }
    })
    assert.deepStrictEqual(feedback, { researcher: "alice", clears: true })
  })

  it("redaction never leaks more than the tier allows (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...tiers), verdicts, (tier, verdict) => {
        const feedback = Privacy.feedback(tier, verdict)
        const keys = Object.keys(feedback).sort()
        switch (tier) {
          case "black-box":
            assert.deepStrictEqual(feedback, { researcher: verdict.researcher, clears: verdict.clears })
            break
          case "redacted-feedback":
            assert.deepStrictEqual(keys, ["band", "clears", "nBucket", "researcher"])
            assert.deepStrictEqual(feedback, {
              researcher: verdict.researcher,
              clears: verdict.clears,
              band: bandRef(verdict.lift.delta),
              nBucket: bucketRef(verdict.lift.n)
            })
            break
          default:
            assert.deepStrictEqual(keys, ["clears", "lift", "measurement", "researcher"])
            assert.deepStrictEqual(feedback, {
              researcher: verdict.researcher,
              clears: verdict.clears,
              lift: verdict.lift,
              measurement: verdict.measurement
            })
        }
      }),
      { numRuns: 1000 }
    )
  })

  it("same gate result, band and bucket: indistinguishable to a redacted researcher (property)", () => {
    fc.assert(
      fc.property(verdicts, verdicts, (a, other) => {
        const b = { ...other, researcher: a.researcher, clears: a.clears }
        fc.pre(bandRef(a.lift.delta) === bandRef(b.lift.delta) && bucketRef(a.lift.n) === bucketRef(b.lift.n))
        assert.deepStrictEqual(Privacy.feedback("redacted-feedback", a), Privacy.feedback("redacted-feedback", b))
        assert.deepStrictEqual(Privacy.feedback("black-box", a), Privacy.feedback("black-box", b))
      }),
      { numRuns: 200 }
    )
  })

  it("white-box feedback copies only the lift and measurement fields, never extra fields a scorer attached", () => {
    const measurement = { value: -2, ciLower: -2.1, ciUpper: -1.9, n: 16, cost: 16, heldOutShardIds: [3, 9] }
    const feedback = Privacy.feedback("white-box-no-egress", {
      researcher: "bob",
      clears: false,
      lift: { delta: 0.01, ciLower: -0.01, ciUpper: 0.03, n: 16 },
      measurement
    })
    assert.deepStrictEqual(feedback, {
      researcher: "bob",
      clears: false,
      lift: { delta: 0.01, ciLower: -0.01, ciUpper: 0.03, n: 16 },
      measurement: { value: -2, ciLower: -2.1, ciUpper: -1.9, n: 16, cost: 16 }
    })
  })
})
