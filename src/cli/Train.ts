/**
 * `trainmarket train`: train one recipe (`--recipe --seed`) or a JSON Lines stream
 * of `{"recipe","seed"}` (`--input file|-`) on a cluster, printing artifacts.
 */
import { Command, Options } from "@effect/cli"
import { Effect, Layer, Option, Schema } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import * as Artifact from "../domain/Artifact.js"
import { BadInput } from "../domain/Errors.js"
import { Seed } from "../domain/Money.js"
import { decodeRecipe, Recipe } from "../domain/Recipe.js"
import * as Json from "../files/Json.js"
import * as Layers from "../Layers.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import { json, keyFile, reported, transformJsonLines } from "./Shared.js"

const recipe = Options.text("recipe").pipe(
  Options.withDescription("the recipe as JSON: {\"islands\",\"innerSteps\",\"innerLr\",\"outerLr\",\"keepFraction\"}"),
  Options.optional
)
const seed = Options.text("seed").pipe(Options.withDescription("the training seed (u64, decimal)"), Options.optional)
const input = Options.text("input").pipe(
  Options.withDescription("a JSON Lines file of {\"recipe\",\"seed\"} objects, or - for stdin"),
  Options.optional
)
/** `--cluster`: a cluster spec, inline JSON or a path to a JSON file (default the simulator). */
export const cluster = Options.text("cluster").pipe(
  Options.withDescription("the cluster spec as JSON or a path to a JSON file (default {\"kind\":\"local-sim\"})"),
  Options.optional
)

/** Decode `--cluster` (default: the simulator). */
export const clusterSpec = (spec: Option.Option<string>) =>
  Option.match(spec, {
    onNone: () => Effect.succeed<ClusterSpec.ClusterSpec>({ kind: "local-sim" }),
    onSome: (text) => Json.readArgument(ClusterSpec.ClusterSpec, text, "--cluster")
  })

const TrainLine = Schema.Struct({ recipe: Recipe, seed: Seed })

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

const trainOne = (recipeText: string, seedText: string, asJson: boolean) =>
  Effect.gen(function*() {
    const parsed = yield* Json.parse(recipeText, "--recipe")
    const valid = yield* decodeRecipe(parsed)
    const trainSeed = yield* Json.decode(Seed, "--seed")(seedText)
    const trainer = yield* TrainingCluster
    const artifact = yield* trainer.train(valid, trainSeed).pipe(Effect.ensuring(Output.clearStatus))
    yield* Output.line(render(artifact, asJson))
  })

const trainStream = (path: string, asJson: boolean) =>
  Effect.flatMap(TrainingCluster, (trainer) =>
    transformJsonLines(path, (line, source) =>
      Json.decode(TrainLine, source)(line).pipe(
        Effect.flatMap((entry) => trainer.train(entry.recipe, entry.seed).pipe(Effect.ensuring(Output.clearStatus))),
        Effect.map((artifact) => render(artifact, asJson))
      )))

/** The `train` subcommand. */
export const command = Command.make(
  "train",
  { recipe, seed, input, cluster, keyFile, json },
  (options) =>
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
).pipe(Command.withDescription("train a recipe on a cluster and print the trained artifact"), reported)
