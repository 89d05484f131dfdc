/**
 * Privacy tiers of private competitions (SPEC §11): what researchers may do
 * (capabilities), which tiers need an attested cluster, where their code may send
 * data (egress), and how much of the referee's verdict they are told (feedback).
 */
import { Effect, Schema } from "effect"
import { CapabilitiesIncoherent } from "../domain/Errors.js"
import type { Lift, Measurement } from "../domain/Measurement.js"

/** Privacy tiers, kebab-case in files. */
export const Tier = Schema.Literal("black-box", "redacted-feedback", "white-box-no-egress", "attested-harness")
export type Tier = typeof Tier.Type

/** What researchers are allowed to do in a competition. */
export const Capabilities = Schema.Struct({
  /** Researchers' own code runs next to the data. */
  arbitraryCode: Schema.Boolean,
  /** Researchers' code (or harness) reads the raw training data. */
  rawDataAccess: Schema.Boolean,
  /** Researchers' code may send data anywhere. */
  freeEgress: Schema.Boolean
}).annotations({ identifier: "Capabilities" })
export type Capabilities = typeof Capabilities.Type

/** Each tier's capabilities: (arbitraryCode, rawDataAccess, freeEgress). */
export const capabilitiesOf: Readonly<Record<Tier, Capabilities>> = {
  "black-box": { arbitraryCode: true, rawDataAccess: false, freeEgress: true },
  "redacted-feedback": { arbitraryCode: true, rawDataAccess: false, freeEgress: true },
  "white-box-no-egress": { arbitraryCode: true, rawDataAccess: true, freeEgress: false },
  "attested-harness": { arbitraryCode: false, rawDataAccess: true, freeEgress: true }
}

/**
 * Reject capabilities no tier can grant: arbitrary code with raw data access and free
 * egress can copy the private data out, so no privacy promise survives it.
 */
export const validateCapabilities = (capabilities: Capabilities): Effect.Effect<Capabilities, CapabilitiesIncoherent> =>
  capabilities.arbitraryCode && capabilities.rawDataAccess && capabilities.freeEgress
    ? Effect.fail(
      new CapabilitiesIncoherent({
        reason: "arbitrary code with raw data access and free egress can exfiltrate the data"
      })
    )
    : Effect.succeed(capabilities)

/** Tiers whose promise rests on the cluster being attested (white-box data access, or a trusted harness). */
export const requiresAttestation = (tier: Tier): boolean =>
  tier === "white-box-no-egress" || tier === "attested-harness"

/** Where researchers' code may send data: the allowlisted destinations, and whether anything else is denied. */
export const EgressPolicy = Schema.Struct({
  allowlist: Schema.Array(Schema.String),
  defaultDeny: Schema.Boolean
}).annotations({ identifier: "EgressPolicy" })
export type EgressPolicy = typeof EgressPolicy.Type

/** No egress at all. */
export const noEgress: EgressPolicy = { allowlist: [], defaultDeny: true }
/** Anything goes. */
export const freeEgress: EgressPolicy = { allowlist: [], defaultDeny: false }
/** Only the listed destinations. */
export const allowOnly = (allowlist: ReadonlyArray<string>): EgressPolicy => ({ allowlist, defaultDeny: true })

/**
 * Each tier's default egress: WhiteBoxNoEgress none at all, AttestedHarness a
 * deny-by-default allowlist (empty until the operator lists the harness's
 * destinations), the other tiers free egress.
 */
export const defaultEgress = (tier: Tier): EgressPolicy =>
  tier === "white-box-no-egress" ? noEgress : tier === "attested-harness" ? allowOnly([]) : freeEgress

/** A redacted-feedback improvement band. */
export type Band = "none" | "small" | "moderate" | "large"

/** The band of a lift: none if delta <= 0 or not finite, small < 0.05, moderate < 0.20, else large. */
export const bandOf = (delta: number): Band =>
  !Number.isFinite(delta) || delta <= 0 ? "none" : delta < 0.05 ? "small" : delta < 0.2 ? "moderate" : "large"

/** A redacted sample size: 0, 12, 50 or 200. */
export type NBucket = 0 | 12 | 50 | 200

/** n bucketed at the thresholds 12, 50, 200 (a NaN n is 0). */
export const nBucketOf = (n: number): NBucket => (n >= 200 ? 200 : n >= 50 ? 50 : n >= 12 ? 12 : 0)

/** BlackBox feedback: the gate verdict only. */
export interface GateOnlyFeedback {
  readonly researcher: string
  readonly clears: boolean
  /** The tag of the failure when the researcher's run failed (SPEC §15.8). */
  readonly failed?: string
}

/** RedactedFeedback: the gate verdict, an improvement band and a bucketed n. */
export interface RedactedFeedback extends GateOnlyFeedback {
  readonly band: Band
  readonly nBucket: NBucket
}

/** White-box tiers: the full held-out lift and measurement. */
export interface FullFeedback extends GateOnlyFeedback {
  readonly lift: Lift
  readonly measurement: Measurement
}

/** What a researcher is told about their own entry. */
export type Feedback = GateOnlyFeedback | RedactedFeedback | FullFeedback

/** What the referee found for one researcher (the input to redaction). */
export interface Verdict {
  readonly researcher: string
  readonly clears: boolean
  readonly lift: Lift
  readonly measurement: Measurement
}

/** Redact a referee verdict to what the tier lets a researcher see. */
export const feedback = (tier: Tier, verdict: Verdict): Feedback => {
  switch (tier) {
    case "black-box":
      return { researcher: verdict.researcher, clears: verdict.clears }
    case "redacted-feedback":
      return {
        researcher: verdict.researcher,
        clears: verdict.clears,
        band: bandOf(verdict.lift.delta),
        nBucket: nBucketOf(verdict.lift.n)
      }
    case "white-box-no-egress":
    case "attested-harness":
      return {
        researcher: verdict.researcher,
        clears: verdict.clears,
        lift: {
          delta: verdict.lift.delta,
          ciLower: verdict.lift.ciLower,
          ciUpper: verdict.lift.ciUpper,
          n: verdict.lift.n
        },
        measurement: {
          value: verdict.measurement.value,
          ciLower: verdict.measurement.ciLower,
          ciUpper: verdict.measurement.ciUpper,
          n: verdict.measurement.n,
          cost: verdict.measurement.cost
        }
      }
  }
}
