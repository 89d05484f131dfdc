/**
 * `trainmarket score`: the referee measures an artifact (`--artifact`) or a JSON
 * Lines stream of artifacts (`--input file|-`) on a split.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Layer, Option, Schema } from "effect"
import * as Artifact from "../domain/Artifact.js"
import { BadInput } from "../domain/Errors.js"
import type { Measurement, Split } from "../domain/Measurement.js"
import * as Json from "../files/Json.js"
import * as Layers from "../Layers.js"
import { DEFAULT_SHARDS } from "../scorer/HeldOutScorer.js"
import { Scorer } from "../scorer/Scorer.js"
import * as ScorerSpec from "../scorer/ScorerSpec.js"
import * as Output from "./Output.js"
import { json, keyFile, reported, transformJsonLines } from "./Shared.js"

const artifact = Options.text("artifact").pipe(
  Options.withDescription("the artifact as JSON (as printed by `train --json`) or a path to a JSON file"),
  Options.optional
)
const input = Options.text("input").pipe(
  Options.withDescription("a JSON Lines file of artifacts, or - for stdin"),
  Options.optional
)
const split = Options.choice("split", ["held-out", "dev"]).pipe(
  Options.withDescription("the split to measure on"),
  Options.withDefault("held-out" as const)
)
const shards = Options.integer("shards").pipe(
  Options.withDescription(`evaluation shards (default ${DEFAULT_SHARDS})`),
  Options.optional
)
/** `--scorer`: a scorer spec, inline JSON or a path (default the simulated held-out scorer). */
export const scorer = Options.text("scorer").pipe(
  Options.withDescription("the scorer spec as JSON or a path to a JSON file (default {\"kind\":\"sim-held-out\"})"),
  Options.optional
)

/** Decode `--scorer` (default: simulated held-out). */
export const scorerSpec = (spec: Option.Option<string>) =>
  Option.match(spec, {
    onNone: () => Effect.succeed(ScorerSpec.defaultSpec),
    onSome: (text) => Json.readArgument(ScorerSpec.ScorerSpec, text, "--scorer")
  })

const human = (m: Measurement): string =>
  `value=${m.value}  ci=[${m.ciLower}, ${m.ciUpper}]  n=${m.n}  cost=${m.cost}`

const render = (m: Measurement, asJson: boolean): string =>
  asJson ? Json.stringify({ value: m.value, ciLower: m.ciLower, ciUpper: m.ciUpper, n: m.n, cost: m.cost }) : human(m)

const scoreOne = (text: string, on: Split, asJson: boolean) =>
  Effect.gen(function*() {
    const referee = yield* Scorer
    const raw = yield* Json.readArgument(Schema.Unknown, text, "--artifact")
    const value = yield* Artifact.decodeJson(raw, "--artifact")
    const measured = yield* referee.measure(value, on)
    yield* Output.line(render(measured, asJson))
  })

const scoreStream = (path: string, on: Split, asJson: boolean) =>
  Effect.flatMap(Scorer, (referee) =>
    transformJsonLines(path, (line, source) =>
      Artifact.decodeJson(line, source).pipe(
        Effect.flatMap((value) => referee.measure(value, on)),
        Effect.map((measured) => render(measured, asJson))
      )))

/** The `score` subcommand. */
export const command = Command.make(
  "score",
  { artifact, input, split, shards, scorer, keyFile, json },
  (options) =>
    Effect.gen(function*() {
      const spec = yield* scorerSpec(options.scorer)
      const body = Option.isSome(options.input)
        ? scoreStream(options.input.value, options.split, options.json)
        : Option.isSome(options.artifact)
        ? scoreOne(options.artifact.value, options.split, options.json)
        : Effect.fail(new BadInput({ source: "score", reason: "give --artifact <json> or --input <file.jsonl|->" }))
      return yield* Effect.provide(
        body,
        Layers.scorer(spec, Option.getOrElse(options.shards, () => DEFAULT_SHARDS)).pipe(
          Layer.provideMerge(Layers.operatorKey(options.keyFile))
        )
      )
    })
).pipe(Command.withDescription("re-score a trained artifact on a split (the referee's measurement)"), reported)
