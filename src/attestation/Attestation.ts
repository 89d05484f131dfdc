/**
 * The `Attestation` service (SPEC §11): the referee's attestation report, the
 * Keccak-256 commitment hash of a report, and structural verification of a report
 * against a required TEE type.
 *
 * What is verified, honestly: only the report's structure (tee type matches, evidence
 * and measurement are non-empty). Checking the evidence's signature and comparing the
 * measurement with an expected enclave image need each TEE vendor's root of trust
 * (Intel DCAP collateral for TDX, the AWS Nitro PKI, AMD's VCEK chain for SNP, …)
 * and a published build measurement; neither is implemented here. Those checks
 * therefore always report `false`, and the `verified` verdict cannot be produced by
 * this module: it exists in the verdict type so a real verifier can be layered in
 * behind the same service without changing callers.
 */
import { keccak_256 } from "@noble/hashes/sha3.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Context, Effect, Either, Encoding, Layer, ParseResult, Schema } from "effect"
import { Scorer } from "../scorer/Scorer.js"
import { type AttestationReport, teeByte, TeeType, textReport } from "./AttestationReport.js"

/** The ASCII domain tag that opens every report hash, so a report hash is never confused with another commitment. */
export const DOMAIN_TAG = "autoresearch.attestation.v1"

/** The measurement every local stand-in report carries: it names the absence of an enclave. */
export const STAND_IN_MEASUREMENT = "local-stand-in:no-enclave"

/** The outcome of verifying a report: kebab-case in files and on the command line. */
export const Verdict = Schema.Literal("unverified", "structurally-valid", "verified", "failed")
export type Verdict = typeof Verdict.Type

/** What verification found, check by check. */
export interface Verification {
  readonly verdict: Verdict
  /** Tee type matches the required one, and evidence and measurement are non-empty. */
  readonly structuralOk: boolean
  /** Always false: evidence signatures are not checked (see the module comment). */
  readonly signatureVerified: boolean
  /** Always false: measurements are not compared with an expected enclave image. */
  readonly measurementMatched: boolean
}

/** The verification of a report nobody was asked to verify (no TEE was required). */
export const notVerified: Verification = {
  verdict: "unverified",
  structuralOk: false,
  signatureVerified: false,
  measurementMatched: false
}

const u64le = (length: number): Uint8Array => {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(length), true)
  return bytes
}

/**
 * The report's commitment hash (the value a chain would store): Keccak-256 over the
 * domain tag, the tee byte, the length-prefixed (u64 little-endian) evidence and
 * measurement, then 0x00 for no nonce or 0x01 and the length-prefixed nonce.
 * Lower-case hex, no `0x`.
 */
export const hash = (report: AttestationReport): string => {
  const hasher = keccak_256.create()
  hasher.update(new TextEncoder().encode(DOMAIN_TAG))
  hasher.update(Uint8Array.of(teeByte[report.teeType]))
  hasher.update(u64le(report.evidence.length))
  hasher.update(report.evidence)
  hasher.update(u64le(report.measurement.length))
  hasher.update(report.measurement)
  if (report.nonce === undefined) {
    hasher.update(Uint8Array.of(0x00))
  } else {
    hasher.update(Uint8Array.of(0x01))
    hasher.update(u64le(report.nonce.length))
    hasher.update(report.nonce)
  }
  return bytesToHex(hasher.digest())
}

/**
 * Structural verification against a required TEE type. A structurally sound report is
 * `structurally-valid`, never `verified`: signature and measurement checks are not
 * implemented (see the module comment), so claiming more would be a lie.
 */
export const verify = (report: AttestationReport, required: TeeType): Verification => {
  const structuralOk = report.teeType === required && report.evidence.length > 0 && report.measurement.length > 0
  return {
    verdict: structuralOk ? "structurally-valid" : "failed",
    structuralOk,
    signatureVerified: false,
    measurementMatched: false
  }
}

/** The local stand-in referee's report: tee none, evidence `local-referee:<scorer id>`, no nonce. */
export const localRefereeReport = (scorerId: string): AttestationReport =>
  textReport("none", `local-referee:${scorerId}`, STAND_IN_MEASUREMENT)

/**
 * The attestation side of the market's referee: the report the referee presents, and
 * how reports are hashed and verified. A service, so a real TEE verifier can replace
 * the structural one without touching the market.
 */
export class Attestation extends Context.Tag("trainmarket/Attestation")<
  Attestation,
  {
    /** The report the referee presents for the runs it scores. */
    readonly refereeReport: AttestationReport
    readonly hash: (report: AttestationReport) => string
    readonly verify: (report: AttestationReport, required: TeeType) => Verification
  }
>() {}

/** The structural attestation service for a given referee report. */
export const makeWith = (options: { readonly refereeReport: AttestationReport }): Attestation["Type"] =>
  Attestation.of({ refereeReport: options.refereeReport, hash, verify })

/** The local stand-in referee: the provided scorer, reporting tee none (it runs in no enclave). */
export const make: Effect.Effect<Attestation["Type"], never, Scorer> = Effect.map(
  Scorer,
  (scorer) => makeWith({ refereeReport: localRefereeReport(scorer.id) })
)

/** The local stand-in referee's attestation, built from the provided `Scorer`. */
export const layer: Layer.Layer<Attestation, never, Scorer> = Layer.effect(Attestation, make)

/** Structural attestation with a referee report of the caller's choosing (another referee, or tests). */
export const layerWith = (options: { readonly refereeReport: AttestationReport }): Layer.Layer<Attestation> =>
  Layer.succeed(Attestation, makeWith(options))

/** Bytes as hex text in files: an even number of hex digits, optionally after `0x`; written lower-case without `0x`. */
export const HexBytes: Schema.Schema<Uint8Array, string> = Schema.transformOrFail(
  Schema.String,
  Schema.Uint8ArrayFromSelf,
  {
    strict: true,
    decode: (text, _options, ast) => {
      const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text
      const decoded = /^[0-9a-fA-F]*$/.test(digits) ? Encoding.decodeHex(digits) : Either.left(undefined)
      return Either.isRight(decoded)
        ? ParseResult.succeed(decoded.right)
        : ParseResult.fail(
          new ParseResult.Type(
            ast,
            text,
            `expected an even number of hex digits (0-9, a-f), got ${JSON.stringify(text)}`
          )
        )
    },
    encode: (bytes) => ParseResult.succeed(bytesToHex(bytes))
  }
).annotations({ identifier: "HexBytes" })

const ReportValue = Schema.Struct({
  teeType: TeeType,
  evidence: Schema.Uint8ArrayFromSelf,
  measurement: Schema.Uint8ArrayFromSelf,
  nonce: Schema.UndefinedOr(Schema.Uint8ArrayFromSelf)
})

/**
 * An attestation report file: `{"teeType","evidence","measurement","nonce"}` with the
 * byte fields as hex strings; `nonce` may be `null` (or absent) for no nonce.
 */
export const ReportFile: Schema.Schema<
  AttestationReport,
  {
    readonly teeType: TeeType
    readonly evidence: string
    readonly measurement: string
    readonly nonce?: string | null | undefined
  }
> = Schema.transform(
  Schema.Struct({
    teeType: TeeType,
    evidence: HexBytes,
    measurement: HexBytes,
    nonce: Schema.optional(Schema.NullOr(HexBytes))
  }),
  ReportValue,
  {
    strict: true,
    decode: (file) => ({
      teeType: file.teeType,
      evidence: file.evidence,
      measurement: file.measurement,
      nonce: file.nonce ?? undefined
    }),
    encode: (report) => ({
      teeType: report.teeType,
      evidence: report.evidence,
      measurement: report.measurement,
      nonce: report.nonce ?? null
    })
  }
).annotations({ identifier: "AttestationReportFile" })

/** A report in its file shape (hex byte fields, `null` for no nonce). */
export const toFile = (report: AttestationReport): typeof ReportFile.Encoded => ({
  teeType: report.teeType,
  evidence: bytesToHex(report.evidence),
  measurement: bytesToHex(report.measurement),
  nonce: report.nonce === undefined ? null : bytesToHex(report.nonce)
})
