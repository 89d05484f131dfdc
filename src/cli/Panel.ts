/**
 * `trainmarket panel judge`: an m-of-n panel of simulated held-out referees judges
 * a claimed held-out value of an artifact (SPEC §9, §14). The panel is given either
 * as explicit shard counts and a quorum (`--shards 12,16,64 --quorum 2`) or as a
 * majority panel (`--majority 5 --base-shards 13`).
 */
import { Command, Options } from "@effect/cli"
import { Effect, Option, Schema } from "effect"
import * as Artifact from "../domain/Artifact.js"
import { BadInput } from "../domain/Errors.js"
import * as Panel from "../scorer/Panel.js"
import * as Json from "../files/Json.js"
import * as Layers from "../Layers.js"
import * as Output from "./Output.js"
import { json, keyFile, reported } from "./Shared.js"

const artifact = Options.text("artifact").pipe(
  Options.withDescription("the artifact as JSON (as printed by `train --json`) or a path to a JSON file")
)
const claim = Options.text("claim").pipe(
  Options.withDescription("the claimed held-out value (a number; NaN and infinities are accepted by no referee)")
)
const shards = Options.text("shards").pipe(
  Options.withDescription("comma-separated shard counts, one referee each (e.g. 12,16,64); use with --quorum"),
  Options.optional
)
const quorum = Options.integer("quorum").pipe(
  Options.withDescription("how many referees must accept (1..n); use with --shards"),
  Options.optional
)
const majority = Options.integer("majority").pipe(
  Options.withDescription("a majority panel of N referees (quorum floor(N/2)+1); use with --base-shards"),
  Options.optional
)
const baseShards = Options.integer("base-shards").pipe(
  Options.withDescription("shard count of the first majority referee (the others: +1, +2, …)"),
  Options.optional
)
const consensus = Options.choice("consensus", ["mean", "median"]).pipe(
  Options.withDescription("how the referees' values combine: mean (the reference) or median (robust)"),
  Options.withDefault("mean" as const)
)

/** Parse a claim: a decimal number, or NaN / Infinity / -Infinity. */
export const parseClaim = (text: string): Effect.Effect<number, BadInput> => {
  const trimmed = text.trim()
  const value = Number(trimmed)
  if (trimmed === "" || (Number.isNaN(value) && trimmed.toLowerCase() !== "nan")) {
    return Effect.fail(new BadInput({ source: "--claim", reason: `"${text}" is not a number` }))
  }
  return Effect.succeed(value)
}

/** Parse `--shards 12,16,64` into integers. */
export const parseShards = (text: string): Effect.Effect<ReadonlyArray<number>, BadInput> => {
  const parts = text.split(",").map((part) => part.trim())
  const counts = parts.map(Number)
  return parts.some((part) => part === "") || counts.some((count) => !Number.isInteger(count))
    ? Effect.fail(new BadInput({ source: "--shards", reason: `"${text}" is not a comma-separated list of integers` }))
    : Effect.succeed(counts)
}

const usage = new BadInput({
  source: "panel judge",
  reason: "give either --shards <list> with --quorum <m>, or --majority <n> with --base-shards <b>"
})

const human = (judgement: Panel.Judgement): ReadonlyArray<string> => [
  `${judgement.accepted ? "accepted" : "rejected"}: ${judgement.accepting} of ${judgement.verdicts.length} referees accept (quorum ${judgement.quorum}); consensus ${judgement.consensus}`,
  ...judgement.verdicts.map((v) =>
    `  ${String(v.evalShards).padStart(5)} shards  value ${v.measured.value}  ci [${v.measured.ciLower}, ${v.measured.ciUpper}]  ${
      v.accepts ? "accepts" : "rejects"
    }`
  )
]

/** `panel judge`. */
export const judgeCommand = Command.make(
  "judge",
  { artifact, claim, shards, quorum, majority, baseShards, consensus, keyFile, json },
  (options) =>
    Effect.gen(function*() {
      const claimed = yield* parseClaim(options.claim)
      const panel = Option.isSome(options.shards) && Option.isSome(options.quorum) && Option.isNone(options.majority)
        ? yield* Panel.ofShards(yield* parseShards(options.shards.value), options.quorum.value, options.consensus)
        : Option.isSome(options.majority) && Option.isSome(options.baseShards) && Option.isNone(options.shards)
        ? yield* Panel.majority(options.majority.value, options.baseShards.value, options.consensus)
        : yield* usage
      const raw = yield* Json.readArgument(Schema.Unknown, options.artifact, "--artifact")
      const value = yield* Artifact.decodeJson(raw, "--artifact")
      const judgement = yield* Panel.judge(panel, value, claimed)
      if (options.json) {
        return yield* Output.json({
          accepted: judgement.accepted,
          accepting: judgement.accepting,
          quorum: judgement.quorum,
          consensus: judgement.consensus,
          verdicts: judgement.verdicts.map((v) => ({
            evalShards: v.evalShards,
            measured: {
              value: v.measured.value,
              ciLower: v.measured.ciLower,
              ciUpper: v.measured.ciUpper,
              n: v.measured.n,
              cost: v.measured.cost
            },
            accepts: v.accepts
          }))
        })
      }
      yield* Output.lines(human(judgement))
    }).pipe(Effect.provide(Layers.operatorKey(options.keyFile)))
).pipe(
  Command.withDescription("an m-of-n panel of held-out referees judges a claimed held-out value of an artifact"),
  reported
)

/** The `panel` subcommand. */
export const command = Command.make("panel").pipe(
  Command.withDescription("m-of-n re-score panels"),
  Command.withSubcommands([judgeCommand])
)
