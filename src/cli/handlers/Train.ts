/** What `trainmarket train` does (loaded when it runs). */
import { Effect, Layer, Option, Schema } from "effect"
import * as ClusterSpec from "../../cluster/ClusterSpec.js"
import { TrainingCluster } from "../../cluster/TrainingCluster.js"
import * as Artifact from "../../domain/Artifact.js"
import { BadInput } from "../../domain/Errors.js"
import { SeedInput } from "../../domain/Money.js"
import { Recipe } from "../../domain/Recipe.js"
import * as Json from "../../files/Json.js"
import * as Layers from "../../Layers.js"
import * as Output from "../Output.js"
import * as Progress from "../Progress.js"
import type { TrainOptions } from "../Train.js"
import { readRecipe, transformJsonLines } from "./Input.js"

/** Decode `--cluster` (default: the simulator). */
export const clusterSpec = (spec: Option.Option<string>) =>
  Option.match(spec, {
    onNone: () => Effect.succeed<ClusterSpec.ClusterSpec>({ kind: "local-sim" }),
    onSome: (text) => Json.readArgument(ClusterSpec.ClusterSpec, text, "--cluster")
  })

/** One line of `train --input`: a recipe and its seed (a decimal string, or a number up to 2^53). */
const TrainLine = Schema.Struct({ recipe: Recipe, seed: SeedInput })

const human = (artifact: Artifact.TrainedArtifact): string => {
  const r = artifact.recipe
  const extra = [
    artifact.checkpoint === undefined ? "" : `  checkpoint=${artifact.checkpoint}`,
    artifact.notApplied === undefined || artifact.notApplied.length === 0
      ? ""
      : `  notApplied=${artifact.notApplied.join(",")}`
  ].join("")
  return `${Artifact.ref(artifact)}  loss=${artifact.trainLoss.toFixed(6)}  cluster=${artifact.clusterId}  ` +
    `islands=${r.islands} H=${r.innerSteps} innerLr=${r.innerLr} outerLr=${r.outerLr} keep=${r.keepFraction}${extra}`
}

const render = (artifact: Artifact.TrainedArtifact, asJson: boolean): string =>
  asJson ? Json.stringify(Artifact.toJson(artifact)) : human(artifact)

const trainOne = (recipeText: string, seed: bigint, asJson: boolean) =>
  Effect.gen(function*() {
    const valid = yield* readRecipe(recipeText)
    const trainer = yield* TrainingCluster
    const artifact = yield* trainer.train(valid, seed).pipe(Effect.ensuring(Output.clearStatus))
    yield* Output.line(render(artifact, asJson))
  })

const trainStream = (path: string, asJson: boolean) =>
  Effect.flatMap(TrainingCluster, (trainer) =>
    transformJsonLines(path, (line, source) =>
      Json.decode(TrainLine, source)(line).pipe(
        Effect.flatMap((entry) => trainer.train(entry.recipe, entry.seed).pipe(Effect.ensuring(Output.clearStatus))),
        Effect.map((artifact) => render(artifact, asJson))
      )))

/** Train what the options name and print the artifacts. */
export const train = (options: TrainOptions) =>
  Effect.gen(function*() {
    const spec = yield* clusterSpec(options.cluster)
    const body = Option.isSome(options.input)
      ? trainStream(options.input.value, options.json)
      : Option.isSome(options.recipe) && Option.isSome(options.seed)
      ? trainOne(options.recipe.value, options.seed.value, options.json)
      : Effect.fail(new BadInput({ source: "train", reason: "give --recipe and --seed, or --input <file.jsonl|->" }))
    return yield* Effect.provide(
      body,
      Layers.cluster(spec, { progress: Progress.layer }).pipe(Layer.provideMerge(Layers.operatorKey(options.keyFile)))
    )
  })
