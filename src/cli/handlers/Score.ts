/** What `trainmarket score` does (loaded when it runs). */
import { Effect, Layer, Option } from "effect"
import * as Artifact from "../../domain/Artifact.js"
import { BadInput } from "../../domain/Errors.js"
import { type Measurement, measurementJson, type Split } from "../../domain/Measurement.js"
import * as Json from "../../files/Json.js"
import * as Layers from "../../Layers.js"
import { DEFAULT_SHARDS } from "../../scorer/HeldOutScorer.js"
import { Scorer } from "../../scorer/Scorer.js"
import * as ScorerSpec from "../../scorer/ScorerSpec.js"
import * as Output from "../Output.js"
import type { ScoreOptions } from "../Score.js"
import { readArtifact, transformJsonLines } from "./Input.js"

/** Decode `--scorer` (default: simulated held-out). */
export const scorerSpec = (spec: Option.Option<string>) =>
  Option.match(spec, {
    onNone: () => Effect.succeed(ScorerSpec.defaultSpec),
    onSome: (text) => Json.readArgument(ScorerSpec.ScorerSpec, text, "--scorer")
  })

const human = (m: Measurement): string =>
  `value=${m.value}  ci=[${m.ciLower}, ${m.ciUpper}]  n=${m.n}  cost=${m.cost}`

const render = (m: Measurement, asJson: boolean): string => asJson ? Json.stringify(measurementJson(m)) : human(m)

const scoreOne = (text: string, on: Split, asJson: boolean) =>
  Effect.gen(function*() {
    const referee = yield* Scorer
    const value = yield* readArtifact(text)
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

/** Measure what the options name and print the measurements. */
export const score = (options: ScoreOptions) =>
  Effect.gen(function*() {
    const spec = yield* scorerSpec(options.scorer)
    const body = Option.isSome(options.input)
      ? scoreStream(options.input.value, options.split, options.json)
      : Option.isSome(options.artifact)
      ? scoreOne(options.artifact.value, options.split, options.json)
      : Effect.fail(new BadInput({ source: "score", reason: "give --artifact <json|file> or --input <file.jsonl|->" }))
    return yield* Effect.provide(
      body,
      Layers.scorer(spec, Option.getOrElse(options.shards, () => DEFAULT_SHARDS)).pipe(
        Layer.provideMerge(Layers.operatorKey(options.keyFile))
      )
    )
  })
