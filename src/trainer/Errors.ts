/**
 * Failures of the trainer and of checkpoint evaluation. They are tagged errors returned
 * in an `Either` (pure functions) or an `Effect`'s error channel (the trainer's run),
 * never thrown; the trainer executable maps them to its exit codes and a scorer maps
 * them to its own errors at its boundary.
 */
import * as Data from "effect/Data"

/** The run config is not valid JSON, breaks a rule, or names an unknown field (exit code 2). */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{ readonly message: string }> {}

/** A data source cannot be built: unreadable text file, too little text for a split, bad shard request. */
export class DataInvalid extends Data.TaggedError("DataInvalid")<{ readonly message: string }> {}

/** A checkpoint file is missing, malformed, or does not fit the data it is evaluated on. */
export class CheckpointInvalid extends Data.TaggedError("CheckpointInvalid")<{ readonly message: string }> {}

/** A training loss or the weights became NaN or infinite: the recipe diverged (exit code 1). */
export class TrainingDiverged extends Data.TaggedError("TrainingDiverged")<{ readonly message: string }> {}

/** The checkpoint files cannot be written (the output directory or the disk refused; exit code 1). */
export class CheckpointUnwritable extends Data.TaggedError("CheckpointUnwritable")<{ readonly message: string }> {}

/** Neither tensor backend could start (exit code 1). */
export class TensorBackendUnavailable extends Data.TaggedError("TensorBackendUnavailable")<{ readonly message: string }> {}

/**
 * Tensors that do not fit together (mismatched tensor lists, a shape that does not
 * match its data): a bug in the caller, never a user error (exit code 1).
 */
export class TensorMismatch extends Data.TaggedError("TensorMismatch")<{ readonly message: string }> {}

/** The trainer executable's command line is not usable: a missing or unknown argument (exit code 2). */
export class UsageInvalid extends Data.TaggedError("UsageInvalid")<{ readonly message: string }> {}

/**
 * The process that started the trainer is gone (its stdin pipe closed, or it was
 * re-parented): nobody will read its result, so it stops (exit code 1).
 */
export class ParentGone extends Data.TaggedError("ParentGone")<{ readonly message: string }> {}
