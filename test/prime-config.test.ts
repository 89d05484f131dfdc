/**
 * prime's recipe -> config mapping (pure): for random recipes the generated TOML
 * parses back and every knob lands on its field with its value; knobs prime cannot
 * express are `RecipeUnsupported` unless ignored; the spec options decode strictly.
 */
import { Path } from "@effect/platform"
import { NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as fc from "fast-check"
import * as Toml from "smol-toml"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Prime from "../src/cluster/PrimeCluster.js"
import type { Recipe } from "../src/domain/Recipe.js"

const path = Effect.runSync(Effect.provide(Path.Path, NodePath.layer))

const settingsOf = (options: Prime.PrimeOptions): Prime.PrimeSettings => {
  const result = Prime.settings(options, path)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}

const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  islands: fc.integer({ min: 1, max: 64 }),
  innerSteps: fc.integer({ min: 1, max: 5000 }),
  innerLr: fc.double({ min: 1e-7, max: 10, noNaN: true }),
  outerLr: fc.double({ min: 1e-4, max: 5, noNaN: true }),
  keepFraction: fc.oneof(fc.constant(1), fc.double({ min: 1e-6, max: 1, noNaN: true, maxExcluded: true }))
})

const Int = Schema.BigIntFromSelf
/** The shape prime reads, with TOML integers and floats told apart (unknown keys rejected). */
const Parsed = Schema.Struct({
  name_model: Schema.String,
  type_model: Schema.String,
  project: Schema.String,
  run_name: Schema.String,
  metric_logger_type: Schema.String,
  diloco: Schema.Struct({ inner_steps: Int, outer_lr: Schema.Number, compression: Schema.String }),
  optim: Schema.Struct({
    batch_size: Int,
    warmup_steps: Int,
    total_steps: Int,
    optim: Schema.Struct({ lr: Schema.Number })
  }),
  train: Schema.Struct({ micro_bs: Int }),
  data: Schema.Struct({ dataset_name_or_paths: Schema.String, seq_length: Int, fake: Schema.Boolean }),
  ckpt: Schema.Struct({ path: Schema.String, interval: Int })
})
const parse = (text: string) =>
  Schema.decodeUnknownSync(Parsed, { onExcessProperty: "error" })(Toml.parse(text, { integersAsBigInt: true }))

describe("primeConfig", () => {
  it("every knob lands on its field, for random recipes and options", () => {
    fc.assert(
      fc.property(
        recipeArb,
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        (recipe, seed, totalSteps, gpus, ignoreKeep) => {
          const options = settingsOf({
            totalSteps,
            gpusPerIsland: gpus,
            batchSize: 16 * gpus * 4,
            microBatch: 16,
            basePort: 20_000,
            ...(ignoreKeep ? { ignore: ["keepFraction"] } : {})
          })
          const result = Prime.primeConfig(recipe, seed, options, "/runs/r1")
          if (recipe.keepFraction < 1 && !ignoreKeep) {
            assert.isTrue(Either.isLeft(result))
            if (Either.isLeft(result)) {
              assert.strictEqual(result.left._tag, "RecipeUnsupported")
              assert.strictEqual(result.left.field, "keepFraction")
              assert.strictEqual(result.left.backend, "prime")
            }
            return
          }
          assert.isTrue(Either.isRight(result))
          if (Either.isLeft(result)) return
          const plan = result.right
          // every island's config is the run's, but for its own checkpoint directory
          const docs = plan.islands.map((island) => parse(island.toml))
          const doc = docs[0] ?? assert.fail("no island")
          docs.forEach((own, i) => assert.deepStrictEqual(own, { ...doc, ckpt: { ...doc.ckpt, path: `/runs/r1/ckpt/island-${i}` } }))
          // the knobs
          assert.strictEqual(doc.diloco.inner_steps, BigInt(recipe.innerSteps))
          assert.isTrue(Object.is(doc.diloco.outer_lr, recipe.outerLr))
          assert.isTrue(Object.is(doc.optim.optim.lr, recipe.innerLr))
          assert.strictEqual(doc.diloco.compression, "no")
          assert.strictEqual(plan.islands.length, recipe.islands)
          assert.deepStrictEqual(plan.notApplied, recipe.keepFraction < 1 ? ["keepFraction"] : [])
          // total steps: the smallest multiple of innerSteps that is >= the requested steps
          const H = BigInt(recipe.innerSteps)
          const T = BigInt(totalSteps)
          const total = doc.optim.total_steps
          assert.strictEqual(total % H, 0n)
          assert.isTrue(total >= T && total - H < T)
          assert.strictEqual(doc.ckpt.interval, total)
          assert.strictEqual(doc.optim.warmup_steps, total / 10n < 1000n ? total / 10n : 1000n)
          // the options
          assert.strictEqual(doc.optim.batch_size, BigInt(16 * gpus * 4))
          assert.strictEqual(doc.train.micro_bs, 16n)
          assert.strictEqual(doc.data.seq_length, 2048n)
          assert.strictEqual(doc.metric_logger_type, "dummy")
          // islands: env, ranks, ports
          const ports = new Set<number>()
          plan.islands.forEach((island, i) => {
            assert.strictEqual(island.command, "torchrun")
            assert.strictEqual(island.env.GLOBAL_RANK, String(i))
            assert.strictEqual(island.env.GLOBAL_UNIQUE_ID, String(i))
            assert.strictEqual(island.env.GLOBAL_WORLD_SIZE, String(recipe.islands))
            assert.strictEqual(island.env.GLOBAL_PORT, "20000")
            // exactly SPEC §12's launch line
            assert.deepStrictEqual(island.args, [
              "--nproc_per_node",
              String(gpus),
              "--rdzv-endpoint",
              `localhost:${island.rendezvousPort}`,
              "src/zeroband/train.py",
              `@/runs/r1/config-island-${i}.toml`,
              "--data.data_rank",
              String(i),
              "--data.data_world_size",
              String(recipe.islands)
            ])
            assert.strictEqual(plan.finalCheckpoints[i], `/runs/r1/ckpt/island-${i}/step_${total}`)
            assert.isTrue(island.rendezvousPort >= 20_000 + gpus)
            ports.add(island.rendezvousPort)
          })
          assert.strictEqual(ports.size, recipe.islands)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("writes this exact TOML for the worked example of docs/backends.md", () => {
    const plan = Prime.primeConfig(
      { islands: 2, innerSteps: 50, innerLr: 0.0004, outerLr: 0.7, keepFraction: 1 },
      7n,
      settingsOf({ model: "debugmodel", totalSteps: 1000, batchSize: 64, microBatch: 16, fakeData: true }),
      "/srv/runs/prime-abc"
    )
    assert.isTrue(Either.isRight(plan))
    if (Either.isLeft(plan)) return
    const name = plan.right.runName
    assert.match(name, /^trainmarket-[0-9a-f]{16}$/)
    assert.strictEqual(
      plan.right.islands[1]?.toml,
      [
        `name_model = "debugmodel"`,
        `type_model = "llama3"`,
        `project = "trainmarket"`,
        `run_name = "${name}"`,
        `metric_logger_type = "dummy"`,
        ``,
        `[diloco]`,
        `inner_steps = 50`,
        `outer_lr = 0.7`,
        `compression = "no"`,
        ``,
        `[optim]`,
        `batch_size = 64`,
        `warmup_steps = 100`,
        `total_steps = 1000`,
        ``,
        `[optim.optim]`,
        `lr = 0.0004`,
        ``,
        `[train]`,
        `micro_bs = 16`,
        ``,
        `[data]`,
        `dataset_name_or_paths = "datasets/fineweb-edu"`,
        `seq_length = 2048`,
        `fake = true`,
        ``,
        `[ckpt]`,
        `path = "/srv/runs/prime-abc/ckpt/island-1"`,
        `interval = 1000`,
        ``
      ].join("\n")
    )
    assert.deepStrictEqual(plan.right.islands[1], {
      island: 1,
      command: "torchrun",
      args: [
        "--nproc_per_node",
        "1",
        "--rdzv-endpoint",
        "localhost:10002",
        "src/zeroband/train.py",
        "@/srv/runs/prime-abc/config-island-1.toml",
        "--data.data_rank",
        "1",
        "--data.data_world_size",
        "2"
      ],
      env: {
        GLOBAL_ADDR: "localhost",
        GLOBAL_PORT: "10000",
        GLOBAL_WORLD_SIZE: "2",
        GLOBAL_RANK: "1",
        GLOBAL_UNIQUE_ID: "1",
        CUDA_VISIBLE_DEVICES: "1",
        GLOO_SOCKET_IFNAME: "lo"
      },
      cwd: path.resolve("."),
      configPath: "/srv/runs/prime-abc/config-island-1.toml",
      toml: plan.right.islands[1]?.toml ?? "",
      checkpointPath: "/srv/runs/prime-abc/ckpt/island-1",
      rendezvousPort: 10002
    })
  })

  it("rounds total steps up to whole outer steps so the last checkpoint lands on the last step", () => {
    // hand-computed: 1000 requested with H=300 -> 4 outer steps = 1200; H=5000 -> one outer step
    assert.strictEqual(Prime.roundedTotalSteps(1000, 300), 1200)
    assert.strictEqual(Prime.roundedTotalSteps(1000, 250), 1000)
    assert.strictEqual(Prime.roundedTotalSteps(1000, 5000), 5000)
    assert.strictEqual(Prime.roundedTotalSteps(1, 1), 1)
  })

  it("GPUs per island take consecutive devices and ports start past the global store's", () => {
    const plan = Prime.primeConfig(
      { islands: 3, innerSteps: 1, innerLr: 1, outerLr: 1, keepFraction: 1 },
      0n,
      settingsOf({ gpusPerIsland: 4, batchSize: 64, microBatch: 16, basePort: 30_000 }),
      "/r"
    )
    if (Either.isLeft(plan)) return assert.fail(plan.left.message)
    assert.deepStrictEqual(plan.right.islands.map((i) => i.env.CUDA_VISIBLE_DEVICES), ["0,1,2,3", "4,5,6,7", "8,9,10,11"])
    // the global store uses basePort..basePort+3 (one per local rank); islands follow
    assert.deepStrictEqual(plan.right.islands.map((i) => i.rendezvousPort), [30_004, 30_005, 30_006])
    // integer-valued learning rates stay TOML floats, integers stay integers
    assert.include(plan.right.islands[0]?.toml, "outer_lr = 1.0\n")
    assert.include(plan.right.islands[0]?.toml, "lr = 1.0\n")
    assert.include(plan.right.islands[0]?.toml, "inner_steps = 1\n")
  })

  it("islands that need ports past 65535 are RecipeUnsupported, whatever is ignored", () => {
    const plan = Prime.primeConfig(
      { islands: 40, innerSteps: 1, innerLr: 1, outerLr: 1, keepFraction: 1 },
      0n,
      settingsOf({ basePort: 65_500, ignore: ["islands"] }),
      "/r"
    )
    assert.isTrue(Either.isLeft(plan))
    if (Either.isLeft(plan)) {
      assert.strictEqual(plan.left.field, "islands")
      assert.include(plan.left.message, "65535")
    }
  })

  it("options prime would reject at startup are ClusterInvalid when the layer is built", () => {
    const notDivisible = Prime.settings({ batchSize: 30, gpusPerIsland: 4 }, path)
    assert.isTrue(Either.isLeft(notDivisible))
    const microTooBig = Prime.settings({ batchSize: 64, gpusPerIsland: 2, microBatch: 64 }, path)
    assert.isTrue(Either.isLeft(microTooBig))
    if (Either.isLeft(microTooBig)) {
      assert.strictEqual(microTooBig.left._tag, "ClusterInvalid")
      assert.include(microTooBig.left.message, "microBatch 64 does not divide the 32 samples on each GPU")
    }
  })

  it("defaults: sequence length 2048, micro-batch 16, launcher torchrun", () => {
    const s = settingsOf({})
    assert.strictEqual(s.seqLength, 2048)
    assert.strictEqual(s.microBatch, 16)
    assert.deepStrictEqual(s.launcher, ["torchrun"])
    assert.strictEqual(s.tee, "none")
    assert.strictEqual(s.deadlineMillis, 86_400_000)
  })
})

describe("prime spec options", () => {
  const decode = Schema.decodeUnknownEither(ClusterSpec.ClusterSpec, { onExcessProperty: "error" })

  it("decodes the SPEC §14 option names and rejects unknown ones", () => {
    const ok = decode({
      kind: "prime",
      launcher: ["uv", "run", "torchrun"],
      workdir: "/opt/prime",
      gpusPerIsland: 8,
      model: "1B",
      modelType: "llama2",
      batchSize: 512,
      microBatch: 8,
      totalSteps: 1000,
      seqLength: 1024,
      dataset: "PrimeIntellect/fineweb-edu",
      fakeData: false,
      basePort: 12000,
      deadlineSeconds: 3600,
      checkpointDir: "/data/ckpt",
      ignore: ["keepFraction"],
      tee: "aws-nitro"
    })
    assert.isTrue(Either.isRight(ok))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", gpus: 8 })))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(ClusterSpec.ClusterSpec)({ kind: "prime", gpus: 8 })))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", model: "3B" })))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", launcher: [] })))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", ignore: ["learningRate"] })))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", basePort: 70000 })))
    assert.isTrue(Either.isLeft(decode({ kind: "prime", deadlineSeconds: 0 })))
  })
})

describe("prime log lines", () => {
  it("parses rank 0 step lines and checkpoint lines in the framework's format", () => {
    assert.deepStrictEqual(
      Prime.parseStepLine("12:01:02 [INFO] [Rank 0] step: 12, loss: 2.3456, tokens_per_second: 1.00, mfu: 2.00, diloco_peers: 4"),
      { step: 12, loss: 2.3456 }
    )
    assert.deepStrictEqual(Prime.parseStepLine("12:01:02 [INFO] [Rank 0] step: 3, loss: 7.0000"), { step: 3, loss: 7 })
    assert.isTrue(Number.isNaN(Prime.parseStepLine("00:00:00 [INFO] [Rank 0] step: 3, loss: nan")?.loss))
    assert.isUndefined(Prime.parseStepLine("00:00:00 [INFO] [Rank 0] outer_step step: 3"))
    assert.isUndefined(Prime.parseStepLine("00:00:00 [INFO] [Rank 1] step: 3, loss: 1.0"))
    assert.isUndefined(Prime.parseStepLine("step: three, loss: many"))
    assert.strictEqual(
      Prime.parseCheckpointLine("00:00:00 [INFO] [Rank 0] Saved checkpoint to /ckpt/island-0/step_100 in 3.21 seconds"),
      "/ckpt/island-0/step_100"
    )
    assert.strictEqual(Prime.parseCheckpointLine("Saved checkpoint to /a b/step_2"), "/a b/step_2")
    assert.isUndefined(Prime.parseCheckpointLine("Saved nothing"))
  })
})
