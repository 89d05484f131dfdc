/** What `trainmarket panel judge` does (loaded when it runs). */
import { Effect, Option } from "effect"
import { BadInput } from "../../domain/Errors.js"
import { measurementJson } from "../../domain/Measurement.js"
import * as Layers from "../../Layers.js"
import * as Panel from "../../scorer/Panel.js"
import * as Output from "../Output.js"
import type { JudgeOptions } from "../Panel.js"
import { readArtifact } from "./Input.js"

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

/** Judge the claim and print the verdicts. */
export const judge = (options: JudgeOptions) =>
  Effect.gen(function*() {
    const claimed = options.claim
    const panel = Option.isSome(options.shards) && Option.isSome(options.quorum) && Option.isNone(options.majority)
      ? yield* Panel.ofShards(options.shards.value, options.quorum.value, options.consensus)
      : Option.isSome(options.majority) && Option.isSome(options.baseShards) && Option.isNone(options.shards)
      ? yield* Panel.majority(options.majority.value, options.baseShards.value, options.consensus)
      : yield* usage
    const value = yield* readArtifact(options.artifact)
    const judgement = yield* Panel.judge(panel, value, claimed)
    if (options.json) {
      return yield* Output.json({
        accepted: judgement.accepted,
        accepting: judgement.accepting,
        quorum: judgement.quorum,
        consensus: judgement.consensus,
        verdicts: judgement.verdicts.map((v) => ({
          evalShards: v.evalShards,
          measured: measurementJson(v.measured),
          accepts: v.accepts
        }))
      })
    }
    yield* Output.lines(human(judgement))
  }).pipe(Effect.provide(Layers.operatorKey(options.keyFile)))
