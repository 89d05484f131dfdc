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

/** Everything `Scorer.measure` can fail with. */
export const ScoreError = Schema.Union(ScorerRefused, CheckpointMalformed)
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
