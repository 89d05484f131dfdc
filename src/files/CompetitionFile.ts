/**
 * The competition file (SPEC §14): a one-shot competition as JSON — its cluster,
 * referee, gate, reward, pool, baseline, researchers and optional privacy block. A
 * library user loads one (`load`), runs it on the cluster and referee it names
 * (`run`), and prints the outcome as the CLI does (`toJson`, `leaderboard`).
 */
import type { FileSystem } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import * as Attestation from "../attestation/Attestation.js"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import * as Artifact from "../domain/Artifact.js"
import type { BadInput, ClusterInvalid, RecipeInvalid, ScorerInvalid } from "../domain/Errors.js"
import { defaultGate, Gate, measurementJson } from "../domain/Measurement.js"
import { Seed, Wei } from "../domain/Money.js"
import { type Recipe, Recipe as RecipeSchema } from "../domain/Recipe.js"
import * as Layers from "../Layers.js"
import * as Knobs from "../market/Knobs.js"
import { type OneShotError, type OneShotOutcome, type OneShotSpec, runOneShot } from "../market/OneShot.js"
import { PrivacySpec, type PrivateError, type PrivateOutcome, runPrivate } from "../market/PrivateMarket.js"
import * as Reward from "../market/Reward.js"
import { DEFAULT_SHARDS } from "../scorer/HeldOutScorer.js"
import * as ScorerSpec from "../scorer/ScorerSpec.js"
import { intIn } from "../domain/Checks.js"
import * as Json from "./Json.js"
import { grouped, oneLine } from "../domain/Text.js"

/** One researcher's entry in a competition file. */
export const Researcher = Schema.Struct({ name: Schema.String, seed: Seed, recipe: RecipeSchema })

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
  baseline: Schema.Struct({ recipe: RecipeSchema, seed: Seed }),
  researchers: Schema.Array(Researcher),
  knobs: Schema.optional(Knobs.Knobs),
  scorer: Schema.optional(ScorerSpec.ScorerSpec),
  privacy: Schema.optional(PrivacySpec),
  /** How many trainings run at once, the baseline's among them (default 1). */
  concurrency: Schema.optional(intIn(1, 1024, "concurrency"))
}).annotations({ identifier: "CompetitionFile" })
export type CompetitionFile = typeof CompetitionFile.Type

/** Read and decode a competition file; a bad field is a `BadInput` (or `RecipeInvalid`) naming it. */
export const load = (path: string): Effect.Effect<CompetitionFile, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Json.readFile(CompetitionFile, path)

/** The library spec of a decoded competition file. */
export const toSpec = (file: CompetitionFile): OneShotSpec => ({
  id: file.id,
  gate: file.gate,
  reward: file.reward,
  poolWei: file.poolWei,
  baseline: file.baseline,
  researchers: file.researchers,
  ...(file.knobs === undefined ? {} : { knobs: file.knobs }),
  ...(file.concurrency === undefined ? {} : { concurrency: file.concurrency })
})

/** What running a competition file produces: a public outcome, or a private one with its privacy fields. */
export type Outcome =
  | { readonly _tag: "Public"; readonly outcome: OneShotOutcome }
  | { readonly _tag: "Private"; readonly outcome: PrivateOutcome }

/** What running a competition file can fail with. */
export type RunError = OneShotError | PrivateError | ClusterInvalid | ScorerInvalid

/**
 * Run a decoded competition file on the cluster and referee it names (built by the
 * composition root); a `privacy` block makes it a private competition (SPEC §11). A
 * progress sink, when given, hears the cluster's training lines and the market's phases
 * (which job is scoring, which is done).
 */
export const run = <RP = never>(
  file: CompetitionFile,
  options: Layers.BuildOptions<RP> = {}
): Effect.Effect<Outcome, RunError, Layers.BuildContext | RP> => {
  const services = Layers.forFile(file)
  const privacy = file.privacy
  const outcome: Effect.Effect<Outcome, RunError, Layers.BuildContext> = privacy === undefined
    ? Effect.map(Effect.provide(runOneShot(toSpec(file)), services), (outcome) => ({ _tag: "Public", outcome }))
    : Effect.map(
      Effect.provide(runPrivate(toSpec(file), privacy), Layer.provideMerge(Attestation.layer, services)),
      (outcome) => ({ _tag: "Private", outcome })
    )
  // provided outside the services, so the cluster layer and the market share one sink
  return options.progress === undefined ? outcome : Effect.provide(outcome, options.progress)
}

/** The JSON document `compete --json` prints for a public outcome (SPEC §14). */
export const outcomeJson = (outcome: OneShotOutcome) => ({
  ranked: outcome.ranked.map((r) => ({ researcher: r.researcher, lift: r.lift })),
  payouts: outcome.payouts,
  winners: outcome.winners,
  baseline: { artifact: Artifact.toJson(outcome.baseline.artifact), heldOut: measurementJson(outcome.baseline.heldOut) },
  candidates: outcome.candidates.map((c) =>
    c._tag === "Failed" ? { researcher: c.researcher, failed: c.failure } : {
      researcher: c.researcher,
      artifact: Artifact.toJson(c.artifact),
      heldOut: measurementJson(c.heldOut),
      lift: c.lift,
      clears: c.clears
    }
  )
})

/** The JSON document `compete --json` prints for any outcome (private ones add feedback and attestation). */
export const toJson = (result: Outcome) =>
  result._tag === "Public" ? outcomeJson(result.outcome) : {
    ...outcomeJson(result.outcome),
    feedback: result.outcome.feedback,
    attestationHashes: result.outcome.attestationHashes,
    attestationVerdict: result.outcome.attestationVerdict
  }

const pad = (text: string, width: number): string => text.padEnd(width)
const num = (x: number): string => (x >= 0 ? " " : "") + x.toFixed(4)

/** A failure's message on one line, cut at 160 characters (a table row). */
const shortLine = (text: string): string => {
  const flat = oneLine(text)
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat
}

/**
 * The leaderboard of a one-shot outcome as lines of text: every researcher, their lift
 * and what they were paid or why not (gated, or failed with the failure's tag).
 * `recipes` names failed researchers' recipes (they have no artifact to read it from).
 */
export const leaderboard = (
  outcome: OneShotOutcome,
  poolWei: bigint,
  recipes: ReadonlyMap<string, Recipe> = new Map()
): ReadonlyArray<string> => {
  const rankOf = new Map(outcome.ranked.map((r, i) => [r.researcher, i + 1]))
  const paid = new Map(outcome.payouts.map((p) => [p.researcher, p.wei]))
  const rows = [...outcome.candidates].sort((a, b) =>
    (rankOf.get(a.researcher) ?? Infinity) - (rankOf.get(b.researcher) ?? Infinity)
  )
  const nameWidth = Math.max(10, ...rows.map((c) => c.researcher.length))
  const lines = [
    `competition ${outcome.id}: pool ${poolWei} wei, baseline held-out ${outcome.baseline.heldOut.value.toFixed(4)}`,
    "",
    `${pad("rank", 5)}${pad("researcher", nameWidth + 2)}${pad("recipe (islands/H/keep/innerLr)", 32)}` +
    `${pad("held-out", 10)}${pad("lift [95% CI]", 28)}outcome`
  ]
  for (const c of rows) {
    const rank = rankOf.get(c.researcher)
    const name = `${pad(rank === undefined ? "-" : String(rank), 5)}${pad(c.researcher, nameWidth + 2)}`
    if (c._tag === "Failed") {
      const r = recipes.get(c.researcher)
      const recipe = r === undefined ? "" : `${r.islands}/${r.innerSteps}/${r.keepFraction}/${r.innerLr}`
      lines.push(`${name}${pad(recipe, 32)}${pad("-", 10)}${pad("-", 28)}failed: ${c.failure._tag}: ${shortLine(c.failure.message)}`)
      continue
    }
    const r = c.artifact.recipe
    const wei = paid.get(c.researcher)
    const outcomeText = !c.clears
      ? "gated (lift CI below the gate)"
      : wei === undefined
      ? "cleared, unpaid"
      : `paid ${grouped(wei)} wei`
    lines.push(
      name +
        `${pad(`${r.islands}/${r.innerSteps}/${r.keepFraction}/${r.innerLr}`, 32)}` +
        `${pad(c.heldOut.value.toFixed(4), 10)}` +
        `${pad(`${num(c.lift.delta)} [${num(c.lift.ciLower)}, ${num(c.lift.ciUpper)}]`, 28)}${outcomeText}`
    )
  }
  return lines
}

/** The leaderboard of any outcome; a private one ends with its attestation line. */
export const render = (result: Outcome, file: CompetitionFile): ReadonlyArray<string> => {
  const recipes = new Map(file.researchers.map((r) => [r.name, r.recipe]))
  return result._tag === "Public" ? leaderboard(result.outcome, file.poolWei, recipes) : [
    ...leaderboard(result.outcome, file.poolWei, recipes),
    `attestation: ${result.outcome.attestationVerdict}; every candidate's evidence commits referee report ` +
    (result.outcome.attestationHashes[0]?.hash ?? "(no candidates)")
  ]
}
