/**
 * `trainmarket compete <competition.json>`: run a one-shot competition from a file
 * (SPEC §14) on the cluster and scorer it names.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect, Layer, Schema } from "effect"
import * as Attestation from "../attestation/Attestation.js"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { defaultGate, Gate } from "../domain/Measurement.js"
import { Seed, Wei } from "../domain/Money.js"
import { Recipe } from "../domain/Recipe.js"
import * as Knobs from "../market/Knobs.js"
import { type OneShotOutcome, type OneShotSpec, runOneShot } from "../market/OneShot.js"
import { PrivacySpec, type PrivateOutcome, runPrivate } from "../market/PrivateMarket.js"
import * as Reward from "../market/Reward.js"
import * as ScorerSpec from "../scorer/ScorerSpec.js"
import { DEFAULT_SHARDS } from "../scorer/HeldOutScorer.js"
import * as Progress from "./Progress.js"
import { leaderboard } from "./Render.js"
import { json, printJson, readJsonFile, reporting } from "./Shared.js"

/** A competition file (SPEC §14). */
export const CompetitionFile = Schema.Struct({
  id: Schema.Number.pipe(Schema.int()),
  cluster: ClusterSpec.ClusterSpec,
  evalShards: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.positive()), {
    default: () => DEFAULT_SHARDS
  }),
  gate: Schema.optionalWith(Gate, { default: () => defaultGate }),
  reward: Reward.Reward,
  poolWei: Wei,
  baseline: Schema.Struct({ recipe: Recipe, seed: Seed }),
  researchers: Schema.Array(Schema.Struct({ name: Schema.String, seed: Seed, recipe: Recipe })),
  knobs: Schema.optional(Knobs.Knobs),
  scorer: Schema.optional(ScorerSpec.ScorerSpec),
  privacy: Schema.optional(PrivacySpec)
}).annotations({ identifier: "CompetitionFile" })
export type CompetitionFile = typeof CompetitionFile.Type

/** The library spec of a decoded competition file. */
export const toSpec = (file: CompetitionFile): OneShotSpec => ({
  id: file.id,
  gate: file.gate,
  reward: file.reward,
  poolWei: file.poolWei,
  baseline: file.baseline,
  researchers: file.researchers,
  ...(file.knobs === undefined ? {} : { knobs: file.knobs })
})

/** The JSON document `compete --json` prints. */
export const outcomeJson = (outcome: OneShotOutcome) => ({
  ranked: outcome.ranked.map((r) => ({ researcher: r.researcher, lift: r.lift })),
  payouts: outcome.payouts,
  winners: outcome.winners
})

/** The JSON document `compete --json` prints for a private competition. */
export const privateOutcomeJson = (outcome: PrivateOutcome) => ({
  ...outcomeJson(outcome),
  feedback: outcome.feedback,
  attestationHashes: outcome.attestationHashes,
  attestationVerdict: outcome.attestationVerdict
})

/** The cluster (with terminal progress) and scorer layers a competition or market file names. */
export const layersOf = (
  file: Pick<CompetitionFile, "cluster" | "evalShards"> & { readonly scorer?: ScorerSpec.ScorerSpec | undefined }
) =>
  Layer.merge(
    ClusterSpec.toLayer(file.cluster).pipe(Layer.provide(Progress.layer)),
    ScorerSpec.toLayer(ScorerSpec.alongside(file.scorer ?? ScorerSpec.defaultSpec, file.cluster), file.evalShards)
  )

const file = Args.text({ name: "competition.json" }).pipe(Args.withDescription("the competition file"))

/** The `compete` subcommand. */
export const command = Command.make(
  "compete",
  { file, json },
  (options) =>
    Effect.gen(function*() {
      const competition = yield* readJsonFile(CompetitionFile, options.file)
      if (competition.privacy !== undefined) {
        const outcome = yield* runPrivate(toSpec(competition), competition.privacy).pipe(
          Effect.provide(Layer.provideMerge(Attestation.layer, layersOf(competition))),
          Effect.ensuring(Progress.finish)
        )
        if (options.json) return yield* printJson(privateOutcomeJson(outcome))
        for (const line of leaderboard(outcome, competition.poolWei)) yield* Console.log(line)
        return yield* Console.log(
          `attestation: ${outcome.attestationVerdict}; every candidate's evidence commits referee report ` +
            (outcome.attestationHashes[0]?.hash ?? "(no candidates)")
        )
      }
      const outcome = yield* runOneShot(toSpec(competition)).pipe(
        Effect.provide(layersOf(competition)),
        Effect.ensuring(Progress.finish)
      )
      if (options.json) return yield* printJson(outcomeJson(outcome))
      for (const line of leaderboard(outcome, competition.poolWei)) yield* Console.log(line)
    }).pipe(reporting(options.json))
).pipe(Command.withDescription("run a one-shot competition from a file and print the ranking and payouts"))
