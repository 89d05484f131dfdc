/**
 * Failures of the trainer and of checkpoint evaluation. They are plain tagged errors
 * (throwable, and yieldable in Effect) because the trainer runs as its own process
 * and the scorer wraps these synchronous calls at its own boundary.
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
