import { keccak_256 } from "@noble/hashes/sha3.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import * as Attestation from "../src/attestation/Attestation.js"
import type { AttestationReport, TeeType } from "../src/attestation/AttestationReport.js"
import { decode } from "../src/files/Json.js"
import * as SimHeldOut from "../src/scorer/HeldOutScorer.js"
import { TestKey } from "./support/keys.js"

const ascii = (text: string): Array<number> => Array.from(text, (c) => c.charCodeAt(0))
const bytes = (list: ReadonlyArray<number>): Uint8Array => Uint8Array.from(list)
const keccakHex = (list: ReadonlyArray<number>): string => bytesToHex(keccak_256(bytes(list)))
const TAG = ascii("autoresearch.attestation.v1")

describe("Keccak-256 report hash", () => {
  it("@noble/hashes' keccak_256 is Keccak-256 (published digests), not SHA3-256", () => {
    assert.strictEqual(keccakHex([]), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert.strictEqual(keccakHex(ascii("abc")), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
  })

  it("the local referee's report (tee none, no nonce), bytes laid out by hand", () => {
    const evidence = "local-referee:sim-held-out:16" // 29 bytes
    const measurement = "local-stand-in:no-enclave" // 25 bytes
    const expected = keccakHex([
      ...TAG,
      0x00, // tee none
      29, 0, 0, 0, 0, 0, 0, 0,
      ...ascii(evidence),
      25, 0, 0, 0, 0, 0, 0, 0,
      ...ascii(measurement),
      0x00 // no nonce
    ])
    assert.strictEqual(Attestation.hash(Attestation.localRefereeReport("sim-held-out:16")), expected)
  })

  it("a phala-tdx report with a nonce", () => {
    const report: AttestationReport = {
      teeType: "phala-tdx",
      evidence: bytes([0xde, 0xad, 0xbe, 0xef]),
      measurement: bytes([0x01]),
      nonce: bytes([0x00, 0x11, 0x22])
    }
    const expected = keccakHex([
      ...TAG,
      0x01,
      4, 0, 0, 0, 0, 0, 0, 0,
      0xde, 0xad, 0xbe, 0xef,
      1, 0, 0, 0, 0, 0, 0, 0,
      0x01,
      0x01, // nonce present
      3, 0, 0, 0, 0, 0, 0, 0,
      0x00, 0x11, 0x22
    ])
    assert.strictEqual(Attestation.hash(report), expected)
  })

  it("an azure-snp report with 300 bytes of evidence, an empty measurement and an empty nonce", () => {
    const evidence = new Array<number>(300).fill(0xab)
    const report: AttestationReport = {
      teeType: "azure-snp",
      evidence: bytes(evidence),
      measurement: bytes([]),
      nonce: bytes([])
    }
    const expected = keccakHex([
      ...TAG,
      0x04,
      0x2c, 0x01, 0, 0, 0, 0, 0, 0, // 300 = 0x012c
      ...evidence,
      0, 0, 0, 0, 0, 0, 0, 0,
      0x01,
      0, 0, 0, 0, 0, 0, 0, 0
    ])
    assert.strictEqual(Attestation.hash(report), expected)
  })

  it("aws-nitro and gcp-confidential: no nonce and an empty nonce commit differently", () => {
    const base = { evidence: bytes(ascii("ev")), measurement: bytes(ascii("m")) }
    const without = Attestation.hash({ teeType: "aws-nitro", ...base, nonce: undefined })
    const empty = Attestation.hash({ teeType: "gcp-confidential", ...base, nonce: bytes([]) })
    const head = (tee: number) => [...TAG, tee, 2, 0, 0, 0, 0, 0, 0, 0, ...ascii("ev"), 1, 0, 0, 0, 0, 0, 0, 0, ...ascii("m")]
    assert.strictEqual(without, keccakHex([...head(0x02), 0x00]))
    assert.strictEqual(empty, keccakHex([...head(0x03), 0x01, 0, 0, 0, 0, 0, 0, 0, 0]))
    assert.match(without, /^[0-9a-f]{64}$/)
  })

  it("any report: the hash is Keccak-256 of the SPEC layout (property)", () => {
    const tees: ReadonlyArray<readonly [TeeType, number]> = [
      ["none", 0],
      ["phala-tdx", 1],
      ["aws-nitro", 2],
      ["gcp-confidential", 3],
      ["azure-snp", 4]
    ]
    const lengthPrefix = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, 0, 0, 0, 0]
    fc.assert(
      fc.property(
        fc.constantFrom(...tees),
        fc.uint8Array({ maxLength: 600 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
        ([teeType, code], evidence, measurement, nonce) => {
          const layout = [
            ...TAG,
            code,
            ...lengthPrefix(evidence.length),
            ...evidence,
            ...lengthPrefix(measurement.length),
            ...measurement,
            ...(nonce === undefined ? [0] : [1, ...lengthPrefix(nonce.length), ...nonce])
          ]
          return Attestation.hash({ teeType, evidence, measurement, nonce }) === keccakHex(layout)
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("structural verification", () => {
  const report = (teeType: TeeType, evidence: string, measurement: string): AttestationReport => ({
    teeType,
    evidence: bytes(ascii(evidence)),
    measurement: bytes(ascii(measurement)),
    nonce: undefined
  })

  it("matching tee type with non-empty evidence and measurement is structurally valid, and no more", () => {
    assert.deepStrictEqual(Attestation.verify(report("phala-tdx", "quote", "mrtd"), "phala-tdx"), {
      verdict: "structurally-valid",
      structuralOk: true,
      signatureVerified: false,
      measurementMatched: false
    })
  })

  it("a wrong tee type, empty evidence or an empty measurement fails", () => {
    for (
      const [r, required] of [
        [report("none", "quote", "mrtd"), "phala-tdx"],
        [report("aws-nitro", "quote", "mrtd"), "azure-snp"],
        [report("phala-tdx", "", "mrtd"), "phala-tdx"],
        [report("phala-tdx", "quote", ""), "phala-tdx"]
      ] as const
    ) {
      assert.deepStrictEqual(Attestation.verify(r, required), {
        verdict: "failed",
        structuralOk: false,
        signatureVerified: false,
        measurementMatched: false
      })
    }
  })

  it("a report nobody was asked to verify is unverified", () => {
    assert.strictEqual(Attestation.notVerified.verdict, "unverified")
    assert.isFalse(Attestation.notVerified.structuralOk)
  })

  it("verified is unreachable and signature/measurement checks always report false (property)", () => {
    const tee = fc.constantFrom<TeeType>("none", "phala-tdx", "aws-nitro", "gcp-confidential", "azure-snp")
    fc.assert(
      fc.property(
        tee,
        tee,
        fc.uint8Array({ maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
        (teeType, required, evidence, measurement, nonce) => {
          const v = Attestation.verify({ teeType, evidence, measurement, nonce }, required)
          const ok = teeType === required && evidence.length > 0 && measurement.length > 0
          return v.verdict !== "verified" && !v.signatureVerified && !v.measurementMatched &&
            v.structuralOk === ok && v.verdict === (ok ? "structurally-valid" : "failed")
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("the Attestation service", () => {
  it.effect("the local stand-in referee reports tee none with evidence naming the scorer", () =>
    Effect.gen(function*() {
      const attestation = yield* Attestation.Attestation
      const report = attestation.refereeReport
      assert.strictEqual(report.teeType, "none")
      assert.strictEqual(new TextDecoder().decode(report.evidence), "local-referee:sim-held-out:16")
      assert.strictEqual(new TextDecoder().decode(report.measurement), "local-stand-in:no-enclave")
      assert.isUndefined(report.nonce)
      assert.strictEqual(attestation.verify(report, "phala-tdx").verdict, "failed")
    }).pipe(Effect.provide(Attestation.layer), Effect.provide(SimHeldOut.layer), Effect.provide(TestKey)))

  const given: AttestationReport = {
    teeType: "aws-nitro",
    evidence: bytes([1, 2]),
    measurement: bytes([3]),
    nonce: bytes([4])
  }

  it.effect("layerWith presents the report it is given, hashed and verified structurally", () =>
    Effect.gen(function*() {
      const attestation = yield* Attestation.Attestation
      assert.strictEqual(attestation.refereeReport, given)
      assert.strictEqual(
        attestation.hash(given),
        keccakHex([...TAG, 0x02, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 4])
      )
      assert.strictEqual(attestation.verify(given, "aws-nitro").verdict, "structurally-valid")
    }).pipe(Effect.provide(Attestation.layerWith({ refereeReport: given }))))
})

describe("report files", () => {
  const decodeReport = decode(Attestation.ReportFile, "report.json")

  it.effect("hex byte fields decode (upper case and 0x accepted); nonce null or absent is no nonce", () =>
    Effect.gen(function*() {
      const a = yield* decodeReport({ teeType: "phala-tdx", evidence: "DEADbeef", measurement: "0x01", nonce: "001122" })
      assert.deepStrictEqual(Array.from(a.evidence), [0xde, 0xad, 0xbe, 0xef])
      assert.deepStrictEqual(Array.from(a.measurement), [0x01])
      assert.deepStrictEqual(Array.from(a.nonce ?? []), [0x00, 0x11, 0x22])
      const b = yield* decodeReport({ teeType: "none", evidence: "", measurement: "ff", nonce: null })
      assert.isUndefined(b.nonce)
      assert.strictEqual(b.evidence.length, 0)
      const c = yield* decodeReport({ teeType: "none", evidence: "00", measurement: "ff" })
      assert.isUndefined(c.nonce)
    }))

  it.effect("bad hex, unknown tee types and unknown fields are BadInput naming the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
        [{ teeType: "none", evidence: "abc", measurement: "00", nonce: null }, /evidence/],
        [{ teeType: "none", evidence: "00", measurement: "zz", nonce: null }, /measurement/],
        [{ teeType: "none", evidence: "00", measurement: "00", nonce: "0x0g" }, /nonce/],
        [{ teeType: "sgx", evidence: "00", measurement: "00", nonce: null }, /teeType/],
        [{ teeType: "none", evidence: "00", measurement: "00", nonce: null, quote: "00" }, /quote/],
        [{ teeType: "none", evidence: 12, measurement: "00", nonce: null }, /evidence/]
      ]
      for (const [input, field] of cases) {
        const result = yield* Effect.either(decodeReport(input))
        assert.isTrue(Either.isLeft(result), JSON.stringify(input))
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "BadInput")
          assert.match(result.left.message, field)
        }
      }
    }))

  it.effect("toFile writes lower-case hex that decodes back to the same report (property)", () =>
    Effect.gen(function*() {
      const samples = fc.sample(
        fc.record({
          teeType: fc.constantFrom<TeeType>("none", "phala-tdx", "aws-nitro", "gcp-confidential", "azure-snp"),
          evidence: fc.uint8Array({ maxLength: 32 }),
          measurement: fc.uint8Array({ maxLength: 32 }),
          nonce: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined })
        }),
        { numRuns: 100, seed: 17 }
      )
      for (const report of samples) {
        const file = Attestation.toFile(report)
        assert.match(file.evidence, /^[0-9a-f]*$/)
        const back = yield* decodeReport(JSON.parse(JSON.stringify(file)))
        assert.strictEqual(Attestation.hash(back), Attestation.hash(report))
      }
    }))
})
