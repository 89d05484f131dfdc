/**
 * The `Scorer` service: the market's referee. It measures an artifact on a split;
 * only the referee runs HeldOut, and it never pays on a cluster's own claim.
 */
import { Context, type Effect } from "effect"
import type { TrainedArtifact } from "../domain/Artifact.js"
import type { ScoreError } from "../domain/Errors.js"
import type { Measurement, Split } from "../domain/Measurement.js"

/** A referee that measures artifacts. */
export class Scorer extends Context.Tag("trainmarket/Scorer")<
  Scorer,
  {
    readonly id: string
    /** Shards evaluated per measurement (the gate needs at least `minN`). */
    readonly shards: number
    readonly measure: (artifact: TrainedArtifact, split: Split) => Effect.Effect<Measurement, ScoreError>
  }
>() {}
