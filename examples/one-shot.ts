/**
 * Run the reference one-shot competition from your own Effect program:
 *   npm run build && npx tsx examples/one-shot.ts
 * The cluster and the referee are layers: swap `LocalSimCluster.layer` for any other.
 */
import { Console, Effect, Layer } from "effect"
import { HeldOutScorer, LocalSimCluster, Market, OperatorKey } from "trainmarket"

const program = Effect.gen(function*() {
  const outcome = yield* Market.runOneShot(Market.referenceCompetition)
  for (const { researcher, wei } of outcome.payouts) {
    yield* Console.log(`${researcher}: ${wei} wei`)
  }
  return outcome
})

program.pipe(
  Effect.provide(Layer.merge(LocalSimCluster.layer, HeldOutScorer.layer)),
  // the cluster signs what it trains and the referee checks it (SPEC §15.1): here both
  // live in this process, so a key of its own that is never written to disk will do
  Effect.provide(OperatorKey.layerEphemeral),
  Effect.catchTags({
    CompetitionInvalid: (error) => Console.error(error.message),
    RewardInvalid: (error) => Console.error(error.message)
  }),
  Effect.runPromise
)
