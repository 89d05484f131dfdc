import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import * as fc from "fast-check"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Hierarchical from "../src/cluster/HierarchicalCluster.js"
import * as LocalSim from "../src/cluster/LocalSimCluster.js"
import * as Sealed from "../src/cluster/SealedCluster.js"
import { TrainingCluster } from "../src/cluster/TrainingCluster.js"
import type { TrainedArtifact } from "../src/domain/Artifact.js"
import { BackendFailed, type ClusterError, type ClusterInvalid, InnerClusterFailed } from "../src/domain/Errors.js"
import type { Recipe } from "../src/domain/Recipe.js"
import type { OperatorKey } from "../src/integrity/OperatorKey.js"
import { jsonOf, runInProcess } from "./support/cli.js"
import { type RefRecipe, trainLossRef } from "./support/referenceModel.js"
import { NodeWithKey, signed, TestKey, testKey } from "./support/keys.js"
import { receiptOf } from "./support/receipts.js"
import { close, vectors } from "./support/vectors.js"

const M64 = (1n << 64n) - 1n
const scaleIslands: Recipe = vectors.hierarchical.recipe

/** SPEC §10 written out again here: the merge of inner losses. */
const mergeRef = (losses: ReadonlyArray<number>, interval: number): number => {
  const k = losses.length
  let sum = 0
  for (const loss of losses) sum += loss
  const drift = Math.log(interval) - Math.log(4)
  return sum / k - 0.2 * Math.log(k) + 0.06 * (drift > 0 ? drift : 0) * (1 + 0.3 * (k - 1))
}

/** A composition tree, as the test models it independently of the library. */
type Tree =
  | { readonly kind: "local-sim" }
  | { readonly kind: "sealed"; readonly inner: Tree }
  | { readonly kind: "hierarchical"; readonly crossSyncInterval: number; readonly inner: ReadonlyArray<Tree> }

/** The loss a composition tree must produce, from the SPEC §3 model and the §10 merge rule. */
const expectedLoss = (tree: Tree, recipe: RefRecipe, seed: bigint): number => {
  switch (tree.kind) {
    case "local-sim":
      return trainLossRef(recipe, seed)
    case "sealed":
      return expectedLoss(tree.inner, recipe, seed)
    case "hierarchical":
      return mergeRef(
        tree.inner.map((inner, i) => expectedLoss(inner, recipe, (seed + BigInt(i) * 0x9e3779b97f4a7c15n) & M64)),
        tree.crossSyncInterval
      )
  }
}

const expectedSealed = (tree: Tree): boolean =>
  tree.kind === "sealed" ? true : tree.kind === "local-sim" ? false : tree.inner.every(expectedSealed)

const trainWith = <E>(layer: Layer.Layer<TrainingCluster, E, OperatorKey>, recipe: Recipe, seed: bigint) =>
  Effect.flatMap(TrainingCluster, (cluster) => cluster.train(recipe, seed)).pipe(
    Effect.provide(layer),
    Effect.provide(TestKey)
  )

const hierarchyOf = (k: number, crossSyncInterval: number) =>
  Hierarchical.layer({ crossSyncInterval, inner: Array.from({ length: k }, () => LocalSim.layer) })

const clusterDouble = (
  id: string,
  train: TrainingCluster["Type"]["train"],
  isolation: "shared" | "sealed" = "shared"
): TrainingCluster["Type"] => TrainingCluster.of({ id, isolation, attestation: Option.none(), train })

const layerOf = (cluster: TrainingCluster["Type"]) => Layer.succeed(TrainingCluster, cluster)

/** What a cluster double returns: a signed artifact with the SPEC §3 loss. */
const simArtifact = (recipe: Recipe, seed: bigint, extra: Partial<TrainedArtifact> = {}): TrainedArtifact =>
  signed({
    recipe,
    trainSeed: seed,
    trainLoss: trainLossRef(recipe, seed),
    clusterId: "double",
    ...extra
  })

describe("hierarchical cluster: reference figures", () => {
  for (const c of vectors.hierarchical.cases) {
    it.effect(`k=${c.k} interval=${c.crossSyncInterval} seed=${c.seed}`, () =>
      Effect.gen(function*() {
        const artifact = yield* trainWith(hierarchyOf(c.k, c.crossSyncInterval), scaleIslands, BigInt(c.seed))
        assert.isTrue(close(artifact.trainLoss, c.trainLoss), `${artifact.trainLoss} vs ${c.trainLoss}`)
        assert.strictEqual(artifact.trainSeed, BigInt(c.seed))
        assert.deepStrictEqual(artifact.recipe, scaleIslands)
      }))
  }

  it("the test's own model reproduces the reference figures (so it can judge new compositions)", () => {
    for (const c of vectors.hierarchical.cases) {
      const tree: Tree = {
        kind: "hierarchical",
        crossSyncInterval: c.crossSyncInterval,
        inner: Array.from({ length: c.k }, () => ({ kind: "local-sim" as const }))
      }
      assert.isTrue(close(expectedLoss(tree, scaleIslands, BigInt(c.seed)), c.trainLoss))
    }
  })
})

describe("hierarchical cluster: composition", () => {
  it.effect("a hierarchy of hierarchies merges level by level", () =>
    Effect.gen(function*() {
      const tree: Tree = {
        kind: "hierarchical",
        crossSyncInterval: 64,
        inner: [
          { kind: "hierarchical", crossSyncInterval: 16, inner: [{ kind: "local-sim" }, { kind: "local-sim" }] },
          { kind: "local-sim" },
          {
            kind: "hierarchical",
            crossSyncInterval: 2,
            inner: [{ kind: "local-sim" }, { kind: "sealed", inner: { kind: "local-sim" } }, { kind: "local-sim" }]
          }
        ]
      }
      const layer = Hierarchical.layer({
        crossSyncInterval: 64,
        inner: [
          Hierarchical.layer({ crossSyncInterval: 16, inner: [LocalSim.layer, LocalSim.layer] }),
          LocalSim.layer,
          Hierarchical.layer({ crossSyncInterval: 2, inner: [LocalSim.layer, Sealed.layer(LocalSim.layer), LocalSim.layer] })
        ]
      })
      for (const seed of [0n, 5n, M64, 0x9e3779b97f4a7c15n]) {
        const artifact = yield* trainWith(layer, scaleIslands, seed)
        assert.isTrue(close(artifact.trainLoss, expectedLoss(tree, scaleIslands, seed)))
      }
      // by hand for seed 0: inner 1 trains with 0x9E37…7C15, inner 2 with 2*0x9E37…7C15 mod 2^64
      const golden = 0x9e3779b97f4a7c15n
      const inner0 = mergeRef([trainLossRef(scaleIslands, 0n), trainLossRef(scaleIslands, golden)], 16)
      const inner1 = trainLossRef(scaleIslands, golden)
      const seed2 = (2n * golden) & M64
      const inner2 = mergeRef(
        [0n, 1n, 2n].map((i) => trainLossRef(scaleIslands, (seed2 + i * golden) & M64)),
        2
      )
      const artifact = yield* trainWith(layer, scaleIslands, 0n)
      assert.isTrue(close(artifact.trainLoss, mergeRef([inner0, inner1, inner2], 64)))
      assert.strictEqual(
        artifact.clusterId,
        "hierarchical[sync=64](hierarchical[sync=16](local-sim,local-sim),local-sim," +
          "hierarchical[sync=2](local-sim,sealed(local-sim),local-sim))"
      )
    }))

  it.effect("k = 1 with interval <= 4 reproduces its inner cluster exactly", () =>
    Effect.gen(function*() {
      const recipes = fc.record({
        islands: fc.integer({ min: 1, max: 4096 }),
        innerSteps: fc.integer({ min: 1, max: 100000 }),
        innerLr: fc.double({ min: 1e-6, max: 1, noNaN: true }),
        outerLr: fc.double({ min: 1e-3, max: 2, noNaN: true }),
        keepFraction: fc.double({ min: 1e-4, max: 1, noNaN: true })
      })
      const samples = fc.sample(
        fc.tuple(recipes, fc.bigInt({ min: 0n, max: M64 }), fc.double({ min: 1e-9, max: 4, noNaN: true })),
        { numRuns: 200, seed: 5 }
      )
      for (const [recipe, seed, interval] of samples) {
        const inner = yield* trainWith(LocalSim.layer, recipe, seed)
        const single = yield* trainWith(
          Hierarchical.layer({ crossSyncInterval: interval, inner: [LocalSim.layer] }),
          recipe,
          seed
        )
        assert.isTrue(Object.is(single.trainLoss, inner.trainLoss), `interval ${interval}`)
        assert.strictEqual(single.trainSeed, inner.trainSeed)
      }
    }))

  it.effect("inner i trains with s + i*0x9E3779B97F4A7C15, wrapping at 2^64", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<readonly [string, bigint]>>([])
      const recording = (id: string) =>
        layerOf(clusterDouble(id, (recipe, seed) =>
          Effect.as(Ref.update(seen, (all) => [...all, [id, seed] as const]), simArtifact(recipe, seed))))
      const layer = Hierarchical.layer({
        crossSyncInterval: 4,
        inner: [recording("a"), recording("b"), recording("c")]
      })
      const seed = M64 - 5n
      yield* trainWith(layer, scaleIslands, seed)
      const bySeed = new Map(yield* Ref.get(seen))
      assert.strictEqual(bySeed.get("a"), seed)
      assert.strictEqual(bySeed.get("b"), (seed + 0x9e3779b97f4a7c15n) % (1n << 64n))
      assert.strictEqual(bySeed.get("b"), 0x9e3779b97f4a7c0fn) // 2^64 - 6 + 0x9E37…7C15 - 2^64, by hand
      assert.strictEqual(bySeed.get("c"), (seed + 2n * 0x9e3779b97f4a7c15n) % (1n << 64n))
    }))

  it.effect("a composition tree trains to the merge rule and is sealed iff all its leaves' wrappers say so", () =>
    Effect.gen(function*() {
      const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
        tree: fc.oneof(
          { depthSize: "small", withCrossShrink: true },
          fc.constant<Tree>({ kind: "local-sim" }),
          fc.record({ kind: fc.constant("sealed" as const), inner: tie("tree") }),
          fc.record({
            kind: fc.constant("hierarchical" as const),
            crossSyncInterval: fc.oneof(fc.constantFrom(1, 4, 16, 4096), fc.double({ min: 0.01, max: 1e6, noNaN: true })),
            inner: fc.array(tie("tree"), { minLength: 1, maxLength: 3 })
          })
        )
      })).tree
      const samples = fc.sample(fc.tuple(tree, fc.bigInt({ min: 0n, max: M64 })), { numRuns: 150, seed: 11 })
      for (const [spec, seed] of samples) {
        const cluster = yield* Effect.provide(
          TrainingCluster,
          ClusterSpec.toLayer(spec).pipe(Layer.provide(NodeWithKey), Layer.orDie)
        )
        const artifact = yield* cluster.train(scaleIslands, seed)
        assert.isTrue(close(artifact.trainLoss, expectedLoss(spec, scaleIslands, seed)), JSON.stringify(spec))
        assert.strictEqual(cluster.isolation === "sealed", expectedSealed(spec), JSON.stringify(spec))
        assert.strictEqual(Option.isSome(cluster.attestation), expectedSealed(spec))
      }
    }))

  it("sealed iff all inner clusters are sealed (property over flat hierarchies of doubles)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (sealedFlags) => {
        const inner = sealedFlags.map((sealed, i) =>
          clusterDouble(`c${i}`, (recipe, seed) => Effect.succeed(simArtifact(recipe, seed)), sealed ? "sealed" : "shared")
        )
        const cluster = await Effect.runPromise(Hierarchical.make({ crossSyncInterval: 4, inner }).pipe(Effect.provide(TestKey)))
        return (cluster.isolation === "sealed") === sealedFlags.every((s) => s)
      }),
      { numRuns: 200 }
    )
  })

  it.effect("a sealed hierarchy's report commits to every inner report; an unsealed one has none", () =>
    Effect.gen(function*() {
      const sealedOnly = yield* Effect.provide(
        TrainingCluster,
        Hierarchical.layer({ crossSyncInterval: 4, inner: [Sealed.layer(LocalSim.layer), Sealed.layer(LocalSim.layer)] })
      )
      const report = Option.getOrUndefined(sealedOnly.attestation)
      assert.isDefined(report)
      assert.strictEqual(report?.teeType, "none")
      const evidence = new TextDecoder().decode(report?.evidence)
      assert.match(evidence, /^tee-sim-hierarchy:[0-9a-f]{64},[0-9a-f]{64}$/)
      const mixed = yield* Effect.provide(
        TrainingCluster,
        Hierarchical.layer({ crossSyncInterval: 4, inner: [Sealed.layer(LocalSim.layer), LocalSim.layer] })
      )
      assert.strictEqual(mixed.isolation, "shared")
      assert.isTrue(Option.isNone(mixed.attestation))
    }).pipe(Effect.provide(TestKey)))

  it.effect("real inner artifacts: the merged artifact carries the first checkpoint and every ignored knob", () =>
    Effect.gen(function*() {
      const real = (id: string, checkpoint: string | undefined, notApplied: ReadonlyArray<string> | undefined) =>
        layerOf(clusterDouble(id, (recipe, seed) =>
          Effect.succeed(simArtifact(recipe, seed, {
            clusterId: id,
            ...(checkpoint === undefined ? {} : { checkpoint }),
            ...(notApplied === undefined ? {} : { notApplied })
          }))))
      const artifact = yield* trainWith(
        Hierarchical.layer({
          crossSyncInterval: 4,
          inner: [
            real("sim", undefined, undefined),
            real("prime", "/ckpt/prime/step_8", ["keepFraction"]),
            real("psyche", "/ckpt/psyche", ["innerSteps", "outerLr", "keepFraction"])
          ]
        }),
        scaleIslands,
        3n
      )
      assert.strictEqual(artifact.checkpoint, "/ckpt/prime/step_8")
      assert.deepStrictEqual(artifact.notApplied, ["keepFraction", "innerSteps", "outerLr"])
      // the merged artifact is the hierarchy's own: signed anew under the operator key (SPEC §15.1)
      assert.strictEqual(artifact.receipt, receiptOf(testKey, artifact))
      const simOnly = yield* trainWith(hierarchyOf(2, 4), scaleIslands, 3n)
      assert.isFalse("checkpoint" in simOnly)
      assert.isFalse("notApplied" in simOnly)
    }))
})

describe("hierarchical cluster: typed failures", () => {
  const build = (settings: { crossSyncInterval: number; concurrency?: number; k: number }) =>
    Effect.either(
      Effect.provide(
        TrainingCluster,
        Hierarchical.layer({
          crossSyncInterval: settings.crossSyncInterval,
          concurrency: settings.concurrency,
          inner: Array.from({ length: settings.k }, () => LocalSim.layer)
        })
      )
    )

  it.effect("k = 0, a non-positive or non-finite interval, a bad concurrency: ClusterInvalid", () =>
    Effect.gen(function*() {
      const bad = [
        { crossSyncInterval: 4, k: 0 },
        { crossSyncInterval: 0, k: 2 },
        { crossSyncInterval: -4, k: 2 },
        { crossSyncInterval: Number.NaN, k: 2 },
        { crossSyncInterval: Number.POSITIVE_INFINITY, k: 2 },
        { crossSyncInterval: 4, concurrency: 0, k: 2 },
        { crossSyncInterval: 4, concurrency: 1.5, k: 2 }
      ]
      for (const settings of bad) {
        const result = yield* build(settings)
        assert.isTrue(Either.isLeft(result), JSON.stringify(settings))
        if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "ClusterInvalid")
      }
      assert.isTrue(Either.isRight(yield* build({ crossSyncInterval: 1e-9, k: 1 })))
    }).pipe(Effect.provide(TestKey)))

  it.effect("k = 0 fails before any inner layer is built", () =>
    Effect.gen(function*() {
      const builds = yield* Ref.make(0)
      const counted = Layer.effect(
        TrainingCluster,
        Effect.as(Ref.update(builds, (n) => n + 1), clusterDouble("x", (r, s) => Effect.succeed(simArtifact(r, s))))
      )
      const result = yield* Effect.either(
        Effect.provide(TrainingCluster, Hierarchical.layer({ crossSyncInterval: -1, inner: [counted, counted] }))
      )
      assert.isTrue(Either.isLeft(result))
      assert.strictEqual(yield* Ref.get(builds), 0)
    }).pipe(Effect.provide(TestKey)))

  const failing = (id: string) =>
    layerOf(clusterDouble(id, () => Effect.fail(new BackendFailed({ backend: id, exitCode: 7, stderrTail: "boom" }))))

  const failureOf = (exit: Exit.Exit<TrainedArtifact, ClusterError | ClusterInvalid>): InnerClusterFailed | undefined => {
    if (Exit.isSuccess(exit)) return undefined
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    return failure instanceof InnerClusterFailed ? failure : undefined
  }

  it.effect("an inner failure names the inner cluster's path; nested paths are re-rooted, not nested", () =>
    Effect.gen(function*() {
      const flat = yield* Effect.exit(trainWith(
        Hierarchical.layer({ crossSyncInterval: 4, inner: [LocalSim.layer, failing("broken")] }),
        scaleIslands,
        1n
      ))
      assert.strictEqual(failureOf(flat)?.path, "root/1")
      assert.strictEqual(failureOf(flat)?.error._tag, "BackendFailed")

      const nested = yield* Effect.exit(trainWith(
        Hierarchical.layer({
          crossSyncInterval: 4,
          inner: [
            LocalSim.layer,
            Sealed.layer(Hierarchical.layer({ crossSyncInterval: 4, inner: [failing("deep"), LocalSim.layer] }))
          ]
        }),
        scaleIslands,
        1n
      ))
      const failure = failureOf(nested)
      assert.strictEqual(failure?.path, "root/1/0")
      assert.strictEqual(failure?.error._tag, "BackendFailed")
      assert.match(failure?.message ?? "", /^inner cluster root\/1\/0 failed: backend deep exited with code 7: boom$/)
    }))

  it.effect("a bad recipe is RecipeInvalid from the hierarchy itself, before any inner job", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const counting = layerOf(clusterDouble("c", (r, s) => Effect.as(Ref.update(calls, (n) => n + 1), simArtifact(r, s))))
      const result = yield* Effect.either(trainWith(
        Hierarchical.layer({ crossSyncInterval: 4, inner: [counting, counting] }),
        { ...scaleIslands, keepFraction: 0 },
        1n
      ))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "RecipeInvalid")
      assert.strictEqual(yield* Ref.get(calls), 0)
    }))
})

describe("hierarchical cluster: concurrency on the Clock", () => {
  const sleeper = (recipe: Recipe, seed: bigint) => Effect.as(Effect.sleep(Duration.seconds(10)), simArtifact(recipe, seed))
  const sleepers = (k: number) => Array.from({ length: k }, (_, i) => clusterDouble(`s${i}`, sleeper))

  const timeToFinish = (k: number, concurrency: number | undefined) =>
    Effect.gen(function*() {
      const cluster = yield* Hierarchical.make({ crossSyncInterval: 4, concurrency, inner: sleepers(k) })
      const fiber = yield* Effect.fork(cluster.train(scaleIslands, 1n))
      let sleeps = 0
      while (Option.isNone(yield* Fiber.poll(fiber))) {
        assert.isBelow(sleeps, k + 1, "never finished")
        yield* TestClock.adjust(Duration.seconds(10))
        sleeps += 1
      }
      const artifact = yield* Fiber.join(fiber)
      return { sleeps, artifact }
    })

  it.effect("k = 8 with concurrency 8 finishes after one sleep", () =>
    Effect.gen(function*() {
      const { artifact, sleeps } = yield* timeToFinish(8, 8)
      assert.strictEqual(sleeps, 1)
      const expected = mergeRef(
        Array.from({ length: 8 }, (_, i) => trainLossRef(scaleIslands, (1n + BigInt(i) * 0x9e3779b97f4a7c15n) & M64)),
        4
      )
      assert.isTrue(close(artifact.trainLoss, expected))
    }).pipe(Effect.provide(TestKey)))

  it.effect("k = 8 with concurrency 4 finishes after two sleeps", () =>
    Effect.gen(function*() {
      const { sleeps } = yield* timeToFinish(8, 4)
      assert.strictEqual(sleeps, 2)
    }).pipe(Effect.provide(TestKey)))

  it.effect("without a concurrency setting all inner jobs run at once; concurrency 1 runs them one after another", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* timeToFinish(5, undefined)).sleeps, 1)
      assert.strictEqual((yield* timeToFinish(3, 1)).sleeps, 3)
    }).pipe(Effect.provide(TestKey)))

  it.effect("interrupting the hierarchy interrupts every running inner job", () =>
    Effect.gen(function*() {
      const started = yield* Ref.make(0)
      const interrupted = yield* Ref.make(0)
      const hanging = clusterDouble("hang", () =>
        Effect.zipRight(
          Ref.update(started, (n) => n + 1),
          Effect.never.pipe(Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1)))
        ))
      const cluster = yield* Hierarchical.make({
        crossSyncInterval: 4,
        concurrency: 8,
        inner: Array.from({ length: 8 }, () => hanging)
      })
      const fiber = yield* Effect.fork(cluster.train(scaleIslands, 1n))
      while ((yield* Ref.get(started)) < 8) yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* Ref.get(interrupted), 8)
    }).pipe(Effect.provide(TestKey)))

  it.effect("an inner failure interrupts the sibling jobs still running", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make(0)
      const hanging = clusterDouble("hang", () =>
        Effect.never.pipe(Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1))))
      const failsLater = clusterDouble("late", () =>
        Effect.zipRight(
          Effect.sleep(Duration.seconds(1)),
          Effect.fail(new BackendFailed({ backend: "late", exitCode: 1, stderrTail: "" }))
        ))
      const cluster = yield* Hierarchical.make({ crossSyncInterval: 4, inner: [hanging, failsLater, hanging, hanging] })
      const fiber = yield* Effect.fork(Effect.exit(cluster.train(scaleIslands, 1n)))
      yield* TestClock.adjust(Duration.seconds(1))
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* Ref.get(interrupted), 3)
    }).pipe(Effect.provide(TestKey)))
})

describe("trainmarket train --cluster with compositions (real process)", () => {
  const recipeJson = JSON.stringify(scaleIslands)

  it("nested hierarchical and sealed specs train to the merge rule", async () => {
    const specs: ReadonlyArray<Tree> = [
      { kind: "sealed", inner: { kind: "local-sim" } },
      {
        kind: "hierarchical",
        crossSyncInterval: 32,
        inner: [
          {
            kind: "sealed",
            inner: { kind: "hierarchical", crossSyncInterval: 8, inner: [{ kind: "local-sim" }, { kind: "local-sim" }] }
          },
          { kind: "local-sim" },
          { kind: "hierarchical", crossSyncInterval: 1, inner: [{ kind: "local-sim" }] }
        ]
      },
      {
        kind: "sealed",
        inner: {
          kind: "hierarchical",
          crossSyncInterval: 4096,
          inner: [
            {
              kind: "hierarchical",
              crossSyncInterval: 3,
              inner: [{ kind: "local-sim" }, { kind: "sealed", inner: { kind: "local-sim" } }]
            },
            { kind: "hierarchical", crossSyncInterval: 5, inner: [{ kind: "local-sim" }] }
          ]
        }
      }
    ]
    const seeds = [0n, 123456789012345678n, M64]
    const input = seeds.map((seed) => JSON.stringify({ recipe: scaleIslands, seed: seed.toString() })).join("\n")
    const results = await Promise.all(
      specs.map((spec) => runInProcess(["train", "--input", "-", "--cluster", JSON.stringify(spec), "--json"], { input }))
    )
    for (const [index, spec] of specs.entries()) {
      const result = results[index]
      assert.isDefined(result)
      if (result === undefined) continue
      assert.strictEqual(result.code, 0, result.stderr)
      const docs = result.stdout.trim().split("\n").map((line) =>
        JSON.parse(line) as { trainLoss: number; trainSeed: string; clusterId: string }
      )
      assert.strictEqual(docs.length, seeds.length)
      seeds.forEach((seed, i) => {
        assert.isTrue(close(docs[i]?.trainLoss ?? NaN, expectedLoss(spec, scaleIslands, seed)), JSON.stringify(spec))
        assert.strictEqual(docs[i]?.trainSeed, seed.toString())
      })
    }
  })

  it("the reference figures through the binary, with a concurrency setting", async () => {
    for (const c of vectors.hierarchical.cases.filter((c) => c.k === 3 || c.crossSyncInterval === 1000000)) {
      const spec = {
        kind: "hierarchical",
        crossSyncInterval: c.crossSyncInterval,
        concurrency: 2,
        inner: Array.from({ length: c.k }, () => ({ kind: "local-sim" }))
      }
      const args = ["train", "--recipe", recipeJson, "--seed", c.seed, "--cluster", JSON.stringify(spec), "--json"]
      const result = await runInProcess(args)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.isTrue(close((jsonOf(result) as { trainLoss: number }).trainLoss, c.trainLoss))
    }
  })

  it("bad compositions are typed errors: empty hierarchy, bad interval, unknown fields and kinds", async () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [JSON.stringify({ kind: "hierarchical", crossSyncInterval: 4, inner: [] }), "ClusterInvalid"],
      ["{\"kind\":\"hierarchical\",\"crossSyncInterval\":1e999,\"inner\":[{\"kind\":\"local-sim\"}]}", "ClusterInvalid"],
      [JSON.stringify({ kind: "hierarchical", crossSyncInterval: 4, inner: [{ kind: "local-sim", gpus: 8 }] }), "BadInput"],
      [JSON.stringify({ kind: "sealed", inner: { kind: "local-sim" }, tee: "phala-tdx" }), "BadInput"],
      [JSON.stringify({ kind: "hierarchical", crossSyncInterval: 4, inner: [{ kind: "quantum" }] }), "BadInput"]
    ]
    const results = await Promise.all(
      cases.map(([spec]) => runInProcess(["train", "--recipe", recipeJson, "--seed", "1", "--cluster", spec, "--json"]))
    )
    for (const [index, [spec, tag]] of cases.entries()) {
      const result = results[index]
      assert.isDefined(result)
      if (result === undefined) continue
      assert.notStrictEqual(result.code, 0, spec)
      assert.strictEqual((jsonOf(result) as { error: { _tag: string } }).error._tag, tag, `${spec}: ${result.stdout}`)
    }
  })
})
