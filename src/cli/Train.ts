/**
 * `trainmarket train`: train one recipe (`--recipe --seed`) or a JSON Lines stream
 * of `{"recipe","seed"}` (`--input file|-`) on a cluster, printing artifacts.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option, Schema } from "effect"
import * as ClusterSpec from "../cluster/ClusterSpec.js"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import * as Artifact from "../domain/Artifact.js"
import { BadInput } from "../domain/Errors.js"
import { Seed } from "../domain/Money.js"
import { decodeRecipe, Recipe } from "../domain/Recipe.js"
import * as Progress from "./Progress.js"
import { decode, json, parseJson, readJsonArgument, reporting, stringify, transformJsonLines } from "./Shared.js"

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

/** Decode `--cluster` (default: the simulator) into a cluster layer with terminal progress. */
export const clusterLayer = (spec: Option.Option<string>) =>
  Effect.map(
    Option.match(spec, {
      onNone: () => Effect.succeed<ClusterSpec.ClusterSpec>({ kind: "local-sim" }),
      onSome: (text) => readJsonArgument(ClusterSpec.ClusterSpec, text, "--cluster")
    }),
    (decoded) => ClusterSpec.toLayer(decoded).pipe(Layer.provide(Progress.layer))
  )

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
  asJson ? stringify(Artifact.toJson(artifact)) : human(artifact)

const trainOne = (recipeText: string, seedText: string, asJson: boolean) =>
  Effect.gen(function*() {
    const parsed = yield* parseJson(recipeText, "--recipe")
    const valid = yield* decodeRecipe(parsed)
    const trainSeed = yield* decode(Seed, "--seed")(seedText)
    const trainer = yield* TrainingCluster
    // the status line is cleared whether training succeeds or fails, so an error starts on its own line
    const artifact = yield* trainer.train(valid, trainSeed).pipe(Effect.ensuring(Progress.finish))
    yield* Console.log(render(artifact, asJson))
  })

const trainStream = (path: string, asJson: boolean) =>
  Effect.flatMap(TrainingCluster, (trainer) =>
    transformJsonLines(path, (input, source) =>
      decode(TrainLine, source)(input).pipe(
        Effect.flatMap((entry) => trainer.train(entry.recipe, entry.seed).pipe(Effect.ensuring(Progress.finish))),
        Effect.map((artifact) => render(artifact, asJson))
      )))

/** The `train` subcommand. */
export const command = Command.make(
  "train",
  { recipe, seed, input, cluster, json },
  (options) =>
    Effect.gen(function*() {
      const layer = yield* clusterLayer(options.cluster)
      const body = Option.isSome(options.input)
        ? trainStream(options.input.value, options.json)
        : Option.isSome(options.recipe) && Option.isSome(options.seed)
        ? trainOne(options.recipe.value, options.seed.value, options.json)
        : Effect.fail(new BadInput({ source: "train", reason: "give --recipe and --seed, or --input <file.jsonl|->" }))
      return yield* Effect.provide(body, layer)
    }).pipe(reporting(options.json))
).pipe(Command.withDescription("train a recipe on a cluster and print the trained artifact"))
