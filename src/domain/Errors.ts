/**
 * The typed error algebra of trainmarket. Every failure a caller can act on is one
 * of these values in the Effect error channel; each encodes to the CLI's JSON error
 * (`{"_tag","message"}`) and can be handled with `Effect.catchTag`.
 */
import { Schema } from "effect"

/** A recipe field broke its rule (SPEC §2). */
export class RecipeInvalid extends Schema.TaggedError<RecipeInvalid>()("RecipeInvalid", {
  field: Schema.String,
  rule: Schema.String,
  /** Where the recipe came from, when it was read from a file or flag (`runs.jsonl line 3`). */
  source: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.source === undefined ? "" : `${this.source}: `}recipe field "${this.field}" is invalid: ${this.rule}`
  }
}

/** A trained artifact a cluster returned (or a file held) cannot be trusted as given. */
export class ArtifactInvalid extends Schema.TaggedError<ArtifactInvalid>()("ArtifactInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `artifact is invalid: ${this.reason}`
  }
}

/** A file, flag or JSON document could not be read or decoded. */
export class BadInput extends Schema.TaggedError<BadInput>()("BadInput", {
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.source}: ${this.reason}`
  }
}

/** A reward definition is malformed (for example top-k weights over 10000 bps). */
export class RewardInvalid extends Schema.TaggedError<RewardInvalid>()("RewardInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `reward is invalid: ${this.reason}`
  }
}

/** A reward kind that this kind of market cannot settle. */
export class UnsupportedReward extends Schema.TaggedError<UnsupportedReward>()("UnsupportedReward", {
  reward: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `reward "${this.reward}" is not supported here: ${this.reason}`
  }
}

/** Competition knobs that contradict each other. */
export class KnobsIncoherent extends Schema.TaggedError<KnobsIncoherent>()("KnobsIncoherent", {
  reason: Schema.String
}) {
  override get message(): string {
    return `competition knobs are incoherent: ${this.reason}`
  }
}

/** A backend's executables or working directory are not installed. */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  backend: Schema.String,
  missing: Schema.String
}) {
  override get message(): string {
    return `backend ${this.backend} is unavailable: ${this.missing} not found`
  }
}

/** A backend process exited non-zero. */
export class BackendFailed extends Schema.TaggedError<BackendFailed>()("BackendFailed", {
  backend: Schema.String,
  exitCode: Schema.Number,
  stderrTail: Schema.String
}) {
  override get message(): string {
    const tail = this.stderrTail.trim()
    return `backend ${this.backend} exited with code ${this.exitCode}${tail === "" ? "" : `: ${tail}`}`
  }
}

/** A run's output could not be parsed, or its checkpoint is missing or unreadable. */
export class CheckpointMalformed extends Schema.TaggedError<CheckpointMalformed>()("CheckpointMalformed", {
  backend: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `backend ${this.backend} left no usable result: ${this.reason}`
  }
}

/** A training job ran past its deadline and was killed. */
export class TrainingTimeout extends Schema.TaggedError<TrainingTimeout>()("TrainingTimeout", {
  clusterId: Schema.String,
  deadlineMillis: Schema.Number
}) {
  override get message(): string {
    return `training on ${this.clusterId} passed its deadline of ${this.deadlineMillis} ms and was stopped`
  }
}

/** A recipe knob the backend cannot express (and the options did not allow to ignore). */
export class RecipeUnsupported extends Schema.TaggedError<RecipeUnsupported>()("RecipeUnsupported", {
  backend: Schema.String,
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `backend ${this.backend} cannot express recipe field "${this.field}": ${this.reason}`
  }
}

/** A cluster composition that cannot be built (empty hierarchy, bad sync interval, …). */
export class ClusterInvalid extends Schema.TaggedError<ClusterInvalid>()("ClusterInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cluster is invalid: ${this.reason}`
  }
}

/** A directory of training runs could not be listed or removed (`Runs.list`, `Runs.clean`). */
export class RunDirectoryUnavailable extends Schema.TaggedError<RunDirectoryUnavailable>()("RunDirectoryUnavailable", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `run directory ${this.path} is unavailable: ${this.reason}`
  }
}

/** The errors an inner cluster of a hierarchy can fail with (everything but a hierarchy failure). */
export const LeafClusterError = Schema.Union(
  RecipeInvalid,
  RecipeUnsupported,
  BackendUnavailable,
  BackendFailed,
  CheckpointMalformed,
  TrainingTimeout
)
export type LeafClusterError = typeof LeafClusterError.Type

/** An inner cluster of a hierarchy failed; `path` names it (`root/1/0`). */
export class InnerClusterFailed extends Schema.TaggedError<InnerClusterFailed>()("InnerClusterFailed", {
  path: Schema.String,
  error: LeafClusterError
}) {
  override get message(): string {
    return `inner cluster ${this.path} failed: ${this.error.message}`
  }
}

/** Everything `TrainingCluster.train` can fail with. */
export const ClusterError = Schema.Union(LeafClusterError, InnerClusterFailed)
export type ClusterError = typeof ClusterError.Type

/** A researcher's training failed in a competition; names the researcher and keeps the cause. */
export class ClusterFailed extends Schema.TaggedError<ClusterFailed>()("ClusterFailed", {
  researcher: Schema.String,
  error: ClusterError
}) {
  override get message(): string {
    return `training for researcher "${this.researcher}" failed: ${this.error.message}`
  }
}

/** A scorer refused an artifact it cannot honestly score. */
export class ScorerRefused extends Schema.TaggedError<ScorerRefused>()("ScorerRefused", {
  scorer: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `scorer ${this.scorer} refused the artifact: ${this.reason}`
  }
}

/** A scorer's own configuration is impossible (for example zero shards). */
export class ScorerInvalid extends Schema.TaggedError<ScorerInvalid>()("ScorerInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `scorer is invalid: ${this.reason}`
  }
}

/** An artifact's provenance does not hold: no receipt, a receipt under another key, edited content or checkpoint bytes (SPEC §15.1). */
export class ProvenanceInvalid extends Schema.TaggedError<ProvenanceInvalid>()("ProvenanceInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `provenance is invalid: ${this.reason}`
  }
}

/** Everything `Scorer.measure` can fail with. */
export const ScoreError = Schema.Union(ScorerRefused, CheckpointMalformed, ProvenanceInvalid)
export type ScoreError = typeof ScoreError.Type

/** A re-score panel that cannot be built (empty, or an impossible quorum). */
export class PanelInvalid extends Schema.TaggedError<PanelInvalid>()("PanelInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `panel is invalid: ${this.reason}`
  }
}

/** A privacy tier needs an attestation the competition cannot have. */
export class AttestationRequired extends Schema.TaggedError<AttestationRequired>()("AttestationRequired", {
  reason: Schema.String
}) {
  override get message(): string {
    return `attestation required: ${this.reason}`
  }
}

/** An attestation report failed verification. */
export class AttestationInvalid extends Schema.TaggedError<AttestationInvalid>()("AttestationInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `attestation is invalid: ${this.reason}`
  }
}

/** The egress policy of a tier without free egress is missing or not deny-by-default. */
export class EgressDenied extends Schema.TaggedError<EgressDenied>()("EgressDenied", {
  reason: Schema.String
}) {
  override get message(): string {
    return `egress policy rejected: ${this.reason}`
  }
}

/** Researcher capabilities that no tier can grant at once. */
export class CapabilitiesIncoherent extends Schema.TaggedError<CapabilitiesIncoherent>()(
  "CapabilitiesIncoherent",
  { reason: Schema.String }
) {
  override get message(): string {
    return `researcher capabilities are incoherent: ${this.reason}`
  }
}

/** The operator's key cannot be read or created, or is not 32 bytes. */
export class KeyInvalid extends Schema.TaggedError<KeyInvalid>()("KeyInvalid", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `operator key ${this.path}: ${this.reason}`
  }
}

/** A competition that cannot be run as given: no researchers, or two with one name (SPEC §15.8). */
export class CompetitionInvalid extends Schema.TaggedError<CompetitionInvalid>()("CompetitionInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `competition is invalid: ${this.reason}`
  }
}

/** A market's rules that cannot hold together (a record test with one seed, a bad seed key, …). */
export class MarketInvalid extends Schema.TaggedError<MarketInvalid>()("MarketInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `market is invalid: ${this.reason}`
  }
}

/** A submission the market will not take now: over the researcher's budget, or the market is stopping (SPEC §15.5). */
export class SubmissionRefused extends Schema.TaggedError<SubmissionRefused>()("SubmissionRefused", {
  reason: Schema.String
}) {
  override get message(): string {
    return `submission refused: ${this.reason}`
  }
}

/** A reveal that does not hash to its commitment, or a commitment past its reveal window (SPEC §15.7). */
export class RevealMismatch extends Schema.TaggedError<RevealMismatch>()("RevealMismatch", {
  reason: Schema.String
}) {
  override get message(): string {
    return `reveal refused: ${this.reason}`
  }
}

/** A revealed recipe someone committed earlier (SPEC §15.7): not trained, not paid. */
export class DuplicateSubmission extends Schema.TaggedError<DuplicateSubmission>()("DuplicateSubmission", {
  reason: Schema.String
}) {
  override get message(): string {
    return `duplicate submission: ${this.reason}`
  }
}

/** A submission, commitment or resource that does not exist (or is not the caller's to see). */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  what: Schema.String
}) {
  override get message(): string {
    return `${this.what} not found`
  }
}

/** The market's journal disagrees with itself: a recomputed payout differs from the one written (SPEC §16). */
export class JournalCorrupt extends Schema.TaggedError<JournalCorrupt>()("JournalCorrupt", {
  reason: Schema.String
}) {
  override get message(): string {
    return `journal is corrupt: ${this.reason}`
  }
}

/** The market's store cannot be opened, read or written, or holds another market. */
export class StoreFailed extends Schema.TaggedError<StoreFailed>()("StoreFailed", {
  store: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `market store ${this.store}: ${this.reason}`
  }
}
