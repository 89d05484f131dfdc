/**
 * Competition knobs (SPEC §6): how a competition is run. Some combinations make no
 * sense and are rejected before any work.
 */
import { Effect, Schema } from "effect"
import { KnobsIncoherent } from "../domain/Errors.js"

/** Competition knobs. */
export const Knobs = Schema.Struct({
  structure: Schema.optionalWith(Schema.Literal("competitive", "collaborative"), { default: () => "competitive" }),
  cadence: Schema.optionalWith(Schema.Literal("one-shot", "continuous"), { default: () => "one-shot" }),
  visibility: Schema.optionalWith(Schema.Literal("public", "private"), { default: () => "public" }),
  scorerKind: Schema.optionalWith(
    Schema.Literal("held-out-eval", "private-oracle", "privileged-hardware", "human-panel"),
    { default: () => "held-out-eval" }
  )
}).annotations({ identifier: "Knobs" })
export type Knobs = typeof Knobs.Type

/** The knobs of a public, competitive, one-shot held-out competition. */
export const defaults: Knobs = {
  structure: "competitive",
  cadence: "one-shot",
  visibility: "public",
  scorerKind: "held-out-eval"
}

/** Reject incoherent knobs: a collaborative competition cannot run continuously. */
export const validate = (knobs: Knobs): Effect.Effect<Knobs, KnobsIncoherent> =>
  knobs.structure === "collaborative" && knobs.cadence === "continuous"
    ? Effect.fail(new KnobsIncoherent({ reason: "a collaborative competition cannot have a continuous cadence" }))
    : Effect.succeed(knobs)
