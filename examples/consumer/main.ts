/**
 * A program of your own on trainmarket, as a separate package would write it:
 * load a competition file, run it on the built-in simulator, then run the same file
 * on a hierarchy of two simulated clusters (a cluster layer swapped, nothing else
 * changed), and print both leaderboards.
 *
 *   npm install && npm start            (npm start = tsc && node dist/main.js competition.json)
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer } from "effect"
import { CompetitionFile, HeldOutScorer, HierarchicalCluster, Layers, LocalSimCluster, Market, OperatorKey } from "trainmarket"

const path = process.argv[2] ?? "competition.json"

/** Two simulated clusters under one outer sync every 4 steps: itself a cluster. */
const hierarchy = HierarchicalCluster.layer({
  crossSyncInterval: 4,
  inner: [LocalSimCluster.layer, LocalSimCluster.layer]
})

const program = Effect.gen(function*() {
  const file = yield* CompetitionFile.load(path)
  const spec = CompetitionFile.toSpec(file)

  const simulated = yield* Market.runOneShot(spec).pipe(Effect.provide(Layers.simulated))
  yield* Console.log("on the simulator:")
  for (const line of CompetitionFile.leaderboard(simulated, file.poolWei)) yield* Console.log(line)

  const composed = yield* Market.runOneShot(spec).pipe(Effect.provide(Layer.merge(hierarchy, HeldOutScorer.layer)))
  yield* Console.log("\non a hierarchy of two simulated clusters:")
  for (const line of CompetitionFile.leaderboard(composed, file.poolWei)) yield* Console.log(line)
})

program.pipe(
  Effect.catchAll((error) => Effect.zipRight(Console.error(`${error._tag}: ${error.message}`), Effect.fail(error))),
  // clusters sign their artifacts and referees check them with the operator's key: here
  // $TRAINMARKET_KEY_FILE, else ~/.local/share/trainmarket/secret (created on first use)
  Effect.provide(OperatorKey.layer),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
