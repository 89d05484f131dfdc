/**
 * trainmarket: markets that pay researchers for certified improvements to
 * distributed-training recipes. Compute is delegated to `TrainingCluster` layers;
 * trust is not: the `Scorer` re-scores every artifact on a held-out split.
 */
export * as Artifact from "./domain/Artifact.js"
export * as CheckpointHash from "./domain/CheckpointHash.js"
export * as Errors from "./domain/Errors.js"
export * as Jitter from "./domain/Jitter.js"
export * as Measurement from "./domain/Measurement.js"
export * as Money from "./domain/Money.js"
export * as Recipe from "./domain/Recipe.js"

export * as Backends from "./cluster/Backends.js"
export * as ClusterKind from "./cluster/ClusterKind.js"
export * as ClusterSpec from "./cluster/ClusterSpec.js"
export * as CpuDilocoCluster from "./cluster/CpuDilocoCluster.js"
export * as HierarchicalCluster from "./cluster/HierarchicalCluster.js"
export * as LocalSimCluster from "./cluster/LocalSimCluster.js"
export * as PrimeCluster from "./cluster/PrimeCluster.js"
export * as PsycheCluster from "./cluster/PsycheCluster.js"
export * as Runs from "./cluster/Runs.js"
export * as SealedCluster from "./cluster/SealedCluster.js"
export { TrainingCluster, TrainingProgress } from "./cluster/TrainingCluster.js"
export type { Isolation, ProgressEvent } from "./cluster/TrainingCluster.js"

export * as CheckpointScorer from "./scorer/CheckpointScorer.js"
export * as HeldOutScorer from "./scorer/HeldOutScorer.js"
export * as Panel from "./scorer/Panel.js"
export { Scorer } from "./scorer/Scorer.js"
export * as ScorerSpec from "./scorer/ScorerSpec.js"

export * as ContinuousMarket from "./market/ContinuousMarket.js"
export * as Knobs from "./market/Knobs.js"
export * as Leaderboard from "./market/Leaderboard.js"
export * as Market from "./market/Market.js"
export * as Objective from "./market/Objective.js"
export * as PrivateMarket from "./market/PrivateMarket.js"
export * as Replay from "./market/Replay.js"
export * as Reward from "./market/Reward.js"

export * as CompetitionFile from "./files/CompetitionFile.js"
export * as Json from "./files/Json.js"
export * as MarketFile from "./files/MarketFile.js"

export * as Layers from "./Layers.js"

export * as Canonical from "./integrity/Canonical.js"
export * as OperatorKey from "./integrity/OperatorKey.js"
export * as Receipt from "./integrity/Receipt.js"

export * as Journal from "./market/Journal.js"
export * as RecordTest from "./market/RecordTest.js"
export * as Rules from "./market/Rules.js"
export * as Seeds from "./market/Seeds.js"
export * as Settlement from "./market/Settlement.js"
export * as MarketStore from "./store/MarketStore.js"
export * as PgStore from "./store/PgStore.js"
export * as SqliteStore from "./store/SqliteStore.js"

export * as ServiceApi from "./service/ServiceApi.js"
export * as ServiceClient from "./service/ServiceClient.js"
export * as ServiceServer from "./service/ServiceServer.js"
export * as ServedMarket from "./service/ServedMarket.js"

export * as Attestation from "./attestation/Attestation.js"
export * as AttestationReport from "./attestation/AttestationReport.js"
export * as Privacy from "./attestation/Privacy.js"
