/**
 * Attestation reports (SPEC §11): what a sealed cluster or a referee presents as
 * evidence of where it ran. The hash and verification live in `Attestation.ts`.
 */
import { Schema } from "effect"

/** TEE types, kebab-case in files. */
export const TeeType = Schema.Literal("none", "phala-tdx", "aws-nitro", "gcp-confidential", "azure-snp").annotations({
  message: () => ({ message: "must be one of none, phala-tdx, aws-nitro, gcp-confidential, azure-snp", override: true })
})
export type TeeType = typeof TeeType.Type

/** The byte code of each TEE type, as committed in the report hash. */
export const teeByte: Readonly<Record<TeeType, number>> = {
  "none": 0,
  "phala-tdx": 1,
  "aws-nitro": 2,
  "gcp-confidential": 3,
  "azure-snp": 4
}

/** An attestation report: tee type, evidence, measurement, optional nonce. */
export interface AttestationReport {
  readonly teeType: TeeType
  readonly evidence: Uint8Array
  readonly measurement: Uint8Array
  readonly nonce: Uint8Array | undefined
}

/** A report whose byte fields are UTF-8 text (the local stand-ins). */
export const textReport = (teeType: TeeType, evidence: string, measurement: string): AttestationReport => ({
  teeType,
  evidence: new TextEncoder().encode(evidence),
  measurement: new TextEncoder().encode(measurement),
  nonce: undefined
})
