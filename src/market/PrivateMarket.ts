/**
 * Private one-shot competitions (SPEC §11): a one-shot competition bound to a
 * privacy tier. Before any training, guards run in exactly this order: knobs;
 * reward; the tier's capabilities; a tier that requires attestation with required tee
 * `none` (`AttestationRequired`); a tier that requires attestation on a cluster that
 * is not sealed (`AttestationRequired`: the tier-to-cluster binding); a tier without
 * free egress whose egress policy is missing or not deny-by-default (`EgressDenied`);
 * then, when a tee is required, the referee's report must pass structural
 * verification (`AttestationInvalid`).
 *
 * Today the referee is a local stand-in (tee `none`), so a competition that requires
 * a TEE stops at that last guard: an unsealed cluster fails the binding with
 * `AttestationRequired`, a sealed one clears it and fails with `AttestationInvalid`.
 * That is the honest gap, stated rather than hidden. With required tee `none` the
 * competition runs; every candidate's evidence commits the referee report's hash, and
 * each researcher gets feedback redacted to the tier.
 */
import { Effect, Schema } from "effect"
import { Attestation, notVerified, type Verdict, type Verification } from "../attestation/Attestation.js"
import * as Privacy from "../attestation/Privacy.js"
import { TeeType } from "../attestation/AttestationReport.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import {
  AttestationInvalid,
  AttestationRequired,
  type CapabilitiesIncoherent,
  type CompetitionInvalid,
  EgressDenied,
  type KnobsIncoherent,
  type RewardInvalid,
  type UnsupportedReward
} from "../domain/Errors.js"
import type { Scorer } from "../scorer/Scorer.js"
import { type OneShotError, type OneShotOutcome, type OneShotSpec, runOneShot, validateSpec } from "./OneShot.js"

/**
 * The `privacy` block of a competition file:
 * `{"tier","requiredTee","egress":{"allowlist","defaultDeny"}}`. `requiredTee`
 * defaults to `none`; a missing `egress` is a missing policy (never silently the
 * tier's default). `capabilities` optionally replaces the tier's capabilities (an
 * operator's custom grant); it is checked for coherence like any other.
 */
export const PrivacySpec = Schema.Struct({
  tier: Privacy.Tier,
  requiredTee: Schema.optionalWith(TeeType, { default: () => "none" as const }),
  egress: Schema.optional(Privacy.EgressPolicy),
  capabilities: Schema.optional(Privacy.Capabilities)
}).annotations({ identifier: "PrivacySpec" })
export type PrivacySpec = typeof PrivacySpec.Type

/** One candidate's evidence commitment: the hash of the referee report that scored it. */
export interface EvidenceCommitment {
  readonly researcher: string
  readonly hash: string
}

/** The outcome of a private competition: the one-shot outcome plus what privacy adds. */
export interface PrivateOutcome extends OneShotOutcome {
  /** Per researcher, in entry order, redacted to the tier. */
  readonly feedback: ReadonlyArray<Privacy.Feedback>
  /** Per candidate, in entry order: the referee report hash its evidence commits. */
  readonly attestationHashes: ReadonlyArray<EvidenceCommitment>
  /** The referee report's verification: `unverified` when no tee was required. */
  readonly attestationVerdict: Verdict
}

/** Everything a private competition can fail with. */
export type PrivateError =
  | OneShotError
  | CapabilitiesIncoherent
  | AttestationRequired
  | EgressDenied
  | AttestationInvalid

/** What the guards established: the referee report's hash and its verification. */
export interface Cleared {
  readonly refereeReportHash: string
  readonly verification: Verification
}

/** Run every guard of a private competition, in SPEC order, without training anything. */
export const checkGuards = (
  spec: Pick<OneShotSpec, "knobs" | "reward" | "researchers">,
  privacy: PrivacySpec
): Effect.Effect<
  Cleared,
  | CompetitionInvalid
  | KnobsIncoherent
  | RewardInvalid
  | UnsupportedReward
  | CapabilitiesIncoherent
  | AttestationRequired
  | EgressDenied
  | AttestationInvalid,
  TrainingCluster | Attestation
> =>
  Effect.gen(function*() {
    yield* validateSpec(spec)
    const tierCapabilities = Privacy.capabilitiesOf[privacy.tier]
    const granted = yield* Privacy.validateCapabilities(privacy.capabilities ?? tierCapabilities)
    const needsAttestation = Privacy.requiresAttestation(privacy.tier)
    if (needsAttestation && privacy.requiredTee === "none") {
      return yield* new AttestationRequired({
        reason: `tier ${privacy.tier} requires attestation, but the required tee is none`
      })
    }
    const cluster = yield* TrainingCluster
    if (needsAttestation && cluster.isolation !== "sealed") {
      return yield* new AttestationRequired({
        reason: `tier ${privacy.tier} requires a sealed cluster, but cluster ${cluster.id} is not sealed`
      })
    }
    if (!tierCapabilities.freeEgress || !granted.freeEgress) {
      if (privacy.egress === undefined) {
        return yield* new EgressDenied({
          reason: `tier ${privacy.tier} has no free egress but no egress policy is set`
        })
      }
      if (!privacy.egress.defaultDeny) {
        return yield* new EgressDenied({
          reason: `tier ${privacy.tier} has no free egress but its egress policy is not deny-by-default`
        })
      }
    }
    const attestation = yield* Attestation
    const report = attestation.refereeReport
    const verification = privacy.requiredTee === "none" ? notVerified : attestation.verify(report, privacy.requiredTee)
    if (privacy.requiredTee !== "none" && !verification.structuralOk) {
      return yield* new AttestationInvalid({
        reason: `the referee's report (tee ${report.teeType}) does not structurally verify against ` +
          `required tee ${privacy.requiredTee}`
      })
    }
    return { refereeReportHash: attestation.hash(report), verification }
  })

/**
 * Run a private one-shot competition on the provided cluster, scorer and referee
 * attestation: the guards first, then the one-shot competition (with private
 * visibility), then tier-redacted feedback and evidence commitments.
 */
export const runPrivate = (
  spec: OneShotSpec,
  privacy: PrivacySpec
): Effect.Effect<PrivateOutcome, PrivateError, TrainingCluster | Scorer | Attestation> =>
  Effect.gen(function*() {
    const cleared = yield* checkGuards(spec, privacy)
    const outcome = yield* runOneShot({ ...spec, knobs: { ...spec.knobs, visibility: "private" } })
    return {
      ...outcome,
      feedback: outcome.candidates.map((candidate): Privacy.Feedback =>
        candidate._tag === "Failed"
          // a failed run clears nothing; its researcher learns which failure it was, not the backend's message
          ? { researcher: candidate.researcher, clears: false, failed: candidate.failure._tag }
          : Privacy.feedback(privacy.tier, {
            researcher: candidate.researcher,
            clears: candidate.clears,
            lift: candidate.lift,
            measurement: candidate.heldOut
          })
      ),
      attestationHashes: outcome.candidates.map((candidate) => ({
        researcher: candidate.researcher,
        hash: cleared.refereeReportHash
      })),
      attestationVerdict: cleared.verification.verdict
    }
  })
