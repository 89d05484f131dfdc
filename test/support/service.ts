/**
 * A live market served in-process for the API tests: the simulator and its referee
 * under the test key, a journal in memory, and the API on a real listener on a free
 * port of 127.0.0.1, with an `HttpClient` (Node's fetch, as the CLI) pointed at it.
 * Tokens are plain strings here; the market only ever sees their sha256.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import { Layer, Option } from "effect"
import * as LocalSim from "../../src/cluster/LocalSimCluster.js"
import { TrainingCluster } from "../../src/cluster/TrainingCluster.js"
import * as Continuous from "../../src/market/ContinuousMarket.js"
import * as SimHeldOut from "../../src/scorer/HeldOutScorer.js"
import * as Server from "../../src/service/ServiceServer.js"
import { tokenSha256 } from "../../src/service/ServedMarket.js"
import * as Store from "../../src/store/MarketStore.js"
import { TestKey } from "./keys.js"
import { config as baseConfig, r } from "./market.js"

/** The tokens of the test market's callers (plaintext only in tests and docs). */
export const tokens = {
  operator: "operator-token-0123456789abcdef",
  alice: "alice-token-0123456789abcdef",
  bob: "bob-token-0123456789abcdef",
  carol: "carol-token-0123456789abcdef"
} as const

/** The market file's `access` block for those tokens. */
export const access = {
  operatorTokenSha256: tokenSha256(tokens.operator),
  researchers: (["alice", "bob", "carol"] as const).map((name) => ({ name, tokenSha256: tokenSha256(tokens[name]) }))
}

/** The recipe helper and the reference record-bounty market (SPEC §8) the store tests use too. */
export { baseConfig, r }

/** A cluster that trains with `train` and says it is the simulator (signed results: `signed(LocalSim.trainUnchecked(…))`). */
export const simCluster = (train: TrainingCluster["Type"]["train"]) =>
  Layer.succeed(
    TrainingCluster,
    TrainingCluster.of({ id: LocalSim.clusterId, isolation: "shared", attestation: Option.none(), train })
  )

/** The market (simulator, referee, memory journal, test key) as a layer. */
export const marketLayer = (config: Continuous.MarketConfig = baseConfig) =>
  Continuous.layer(config).pipe(
    Layer.provide(Layer.mergeAll(LocalSim.layer, SimHeldOut.layer, Store.layerMemory)),
    Layer.provide(TestKey)
  )

/** A listener on a free loopback port and an `HttpClient` whose requests go to it. */
export const testListener = HttpServer.layerTestClient.pipe(
  Layer.provide(FetchHttpClient.layer),
  Layer.provideMerge(Server.listen({ host: "127.0.0.1", port: 0 }))
)

/**
 * The API over that market on a test listener, with the market and the lifecycle
 * visible to the test (to drive it, or to stop it), and an `HttpClient` pointing at it.
 */
export const served = (config: Continuous.MarketConfig = baseConfig, options: Partial<Server.AppOptions> = {}) =>
  Server.serve({ access, ...options }).pipe(
    Layer.provideMerge(Layer.mergeAll(marketLayer(config), Server.layerLifecycle)),
    Layer.provideMerge(testListener)
  )
