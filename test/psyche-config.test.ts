/**
 * Psyche's recipe -> state.toml mapping (pure): for random recipes the generated TOML
 * parses back and every knob lands on its field; DisTrO's top-k comes from
 * keepFraction and the chunk; what Psyche cannot express is `RecipeUnsupported` unless
 * ignored; identity keys are 64 hex digits, deterministic and distinct per client.
 */
import { Path } from "@effect/platform"
import { NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as Toml from "smol-toml"
import * as ClusterSpec from "../src/cluster/ClusterSpec.js"
import * as Psyche from "../src/cluster/PsycheCluster.js"
import type { Recipe } from "../src/domain/Recipe.js"

const path = Effect.runSync(Effect.provide(Path.Path, NodePath.layer))
const settingsOf = (options: Psyche.PsycheOptions) => Psyche.settings(options, path)

const Int = Schema.BigIntFromSelf
/** The shape Psyche's server reads, with TOML integers and floats told apart (unknown keys rejected). */
const Parsed = Schema.Struct({
  run_id: Schema.String,
  run_state: Schema.Literal("WaitingForMembers"),
  config: Schema.Struct({
    warmup_time: Int,
    cooldown_time: Int,
    rounds_per_epoch: Int,
    max_round_train_time: Int,
    round_witness_time: Int,
    min_clients: Int,
    init_min_clients: Int,
    verification_percent: Int,
    witness_nodes: Int,
    global_batch_size_start: Int,
    global_batch_size_end: Int,
    global_batch_size_warmup_tokens: Int,
    total_steps: Int
  }),
  model: Schema.Struct({
    LLM: Schema.Struct({
      architecture: Schema.Literal("HfLlama"),
      data_type: Schema.Literal("Pretraining"),
      max_seq_len: Int,
      cold_start_warmup_steps: Int,
      checkpoint: Schema.Struct({ Hub: Schema.Struct({ repo_id: Schema.String }) }),
      data_location: Schema.Struct({
        Http: Schema.Struct({
          token_size_in_bytes: Schema.Literal("TwoBytes"),
          shuffle: Schema.Struct({ Seeded: Schema.Array(Int) }),
          location: Schema.Struct({ Gcp: Schema.Struct({ bucket_name: Schema.String, filter_directory: Schema.String }) })
        })
      }),
      lr_schedule: Schema.Struct({
        Constant: Schema.Struct({ base_lr: Schema.Number, warmup_steps: Int, warmup_init_lr: Schema.Number })
      }),
      optimizer: Schema.Struct({
        Distro: Schema.Struct({
          clip_grad_norm: Schema.Number,
          compression_decay: Schema.Number,
          compression_chunk: Int,
          compression_topk: Int,
          quantize_1bit: Schema.Boolean
        })
      })
    })
  })
})
const parse = (text: string) =>
  Schema.decodeUnknownSync(Parsed, { onExcessProperty: "error" })(Toml.parse(text, { integersAsBigInt: true }))

const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  islands: fc.integer({ min: 1, max: 100 }),
  innerSteps: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 1000 })),
  innerLr: fc.double({ min: 1e-7, max: 10, noNaN: true }),
  outerLr: fc.double({ min: 1e-4, max: 5, noNaN: true }),
  keepFraction: fc.double({ min: 1e-6, max: 1, noNaN: true })
})

describe("psycheConfig", () => {
  it("every knob lands on its field, for random recipes and options", () => {
    fc.assert(
      fc.property(
        recipeArb,
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 1, max: 255 }),
        fc.integer({ min: 4, max: 100_000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        (recipe, seed, chunk, totalSteps, batchSize, ignoreInner) => {
          const options = settingsOf({
            chunk,
            totalSteps,
            batchSize,
            port: 23_456,
            ignore: ignoreInner ? ["outerLr", "innerSteps"] : ["outerLr"]
          })
          const result = Psyche.psycheConfig(recipe, seed, options, "/runs/p1")
          if (recipe.innerSteps !== 1 && !ignoreInner) {
            assert.isTrue(Either.isLeft(result))
            if (Either.isLeft(result)) assert.strictEqual(result.left.field, "innerSteps")
            return
          }
          if (Either.isLeft(result)) return assert.fail(result.left.message)
          const plan = result.right
          const state = parse(plan.toml)
          const llm = state.model.LLM
          // the knobs
          assert.strictEqual(state.config.min_clients, BigInt(recipe.islands))
          assert.strictEqual(state.config.init_min_clients, BigInt(recipe.islands))
          assert.strictEqual(plan.clients.length, recipe.islands)
          assert.isTrue(Object.is(llm.lr_schedule.Constant.base_lr, recipe.innerLr))
          const topk = Number(llm.optimizer.Distro.compression_topk)
          assert.strictEqual(llm.optimizer.Distro.compression_chunk, BigInt(chunk))
          // topk is the nearest count to keepFraction·chunk² (at least 1)
          const target = recipe.keepFraction * chunk * chunk
          assert.isTrue(topk >= 1 && topk <= chunk * chunk)
          if (target >= 1) assert.isAtMost(Math.abs(topk - target), 0.5)
          else assert.strictEqual(topk, 1)
          assert.deepStrictEqual(
            plan.notApplied,
            recipe.innerSteps !== 1 ? ["innerSteps", "outerLr"] : ["outerLr"]
          )
          // the options and Psyche's own rules
          assert.strictEqual(state.config.total_steps, BigInt(totalSteps))
          assert.strictEqual(state.config.rounds_per_epoch, BigInt(totalSteps))
          assert.strictEqual(plan.finalStep, totalSteps)
          assert.strictEqual(state.config.global_batch_size_start, BigInt(recipe.islands * batchSize))
          assert.strictEqual(state.config.global_batch_size_end, BigInt(recipe.islands * batchSize))
          assert.isTrue(state.config.witness_nodes >= 1n && state.config.witness_nodes <= state.config.min_clients)
          assert.strictEqual(llm.max_seq_len, 2048n)
          assert.strictEqual(state.run_id, plan.runId)
          // the train seed reaches the data order: its 8 little-endian bytes, then zeros
          const bytes = llm.data_location.Http.shuffle.Seeded
          assert.strictEqual(bytes.length, 32)
          const fromBytes = bytes.slice(0, 8).reduce((acc, b, i) => acc + (b << BigInt(8 * i)), 0n)
          assert.strictEqual(fromBytes, seed)
          assert.isTrue(bytes.slice(8).every((b) => b === 0n))
          // launch: server, clients with distinct 64-hex keys in the environment only
          assert.deepStrictEqual(plan.server, {
            command: "psyche-centralized-server",
            args: ["run", "--state", "/runs/p1/state.toml", "--server-port", "23456", "--tui", "false"]
          })
          const keys = new Set<string>()
          plan.clients.forEach((client, i) => {
            assert.deepStrictEqual(client.args, [
              "train",
              "--run-id",
              plan.runId,
              "--server-addr",
              "localhost:23456",
              "--logs",
              "json",
              "--checkpoint-dir",
              `/runs/p1/client-${i}`
            ])
            const key = client.env.RAW_IDENTITY_SECRET_KEY ?? ""
            assert.match(key, /^[0-9a-f]{64}$/)
            assert.notInclude(client.args.join(" "), key)
            keys.add(key)
          })
          assert.strictEqual(keys.size, recipe.islands)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("outerLr is never expressible: it must be listed in ignore", () => {
    const result = Psyche.psycheConfig(
      { islands: 1, innerSteps: 1, innerLr: 3e-3, outerLr: 0.7, keepFraction: 1 },
      0n,
      settingsOf({}),
      "/r"
    )
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left.field, "outerLr")
      assert.strictEqual(result.left.backend, "psyche")
      assert.include(result.left.message, "no outer optimizer")
    }
  })

  it("top-k from keepFraction, by hand", () => {
    // 64² = 4096 values per tile
    assert.strictEqual(Psyche.compressionTopk(1, 64), 4096)
    assert.strictEqual(Psyche.compressionTopk(0.1, 64), 410) // 409.6
    assert.strictEqual(Psyche.compressionTopk(0.00195, 64), 8) // 7.9872: Psyche's own configs keep 8 of 4096
    assert.strictEqual(Psyche.compressionTopk(0.0001, 64), 1) // 0.4096 rounds to 0, kept at 1
    assert.strictEqual(Psyche.compressionTopk(0.25, 16), 64)
    assert.strictEqual(Psyche.compressionTopk(1, 255), 65025)
  })

  it("identity keys are SHA-256 of the tag, the seed (u64 LE) and the index (u32 LE)", () => {
    const expected = (seed: bigint, index: number): string => {
      const seedBytes = Buffer.alloc(8)
      seedBytes.writeBigUInt64LE(seed)
      const indexBytes = Buffer.alloc(4)
      indexBytes.writeUInt32LE(index)
      return createHash("sha256").update(Buffer.concat([Buffer.from("trainmarket.psyche.identity.v1"), seedBytes, indexBytes])).digest("hex")
    }
    for (const [seed, index] of [[0n, 0], [258n, 1], [(1n << 64n) - 1n, 99]] as const) {
      assert.strictEqual(Psyche.identityKey(seed, index), expected(seed, index))
    }
  })

  it("identity keys are deterministic per seed and index", () => {
    assert.strictEqual(Psyche.identityKey(5n, 0), Psyche.identityKey(5n, 0))
    assert.notStrictEqual(Psyche.identityKey(5n, 0), Psyche.identityKey(5n, 1))
    assert.notStrictEqual(Psyche.identityKey(5n, 0), Psyche.identityKey(6n, 0))
    assert.match(Psyche.identityKey((1n << 64n) - 1n, 99), /^[0-9a-f]{64}$/)
  })

  it("islands past Psyche's limits are RecipeUnsupported, whatever is ignored", () => {
    const tooMany = Psyche.psycheConfig(
      { islands: 101, innerSteps: 1, innerLr: 1, outerLr: 1, keepFraction: 1 },
      0n,
      settingsOf({ ignore: ["outerLr", "islands"] }),
      "/r"
    )
    assert.isTrue(Either.isLeft(tooMany) && tooMany.left.field === "islands")
    const batchTooBig = Psyche.psycheConfig(
      { islands: 100, innerSteps: 1, innerLr: 1, outerLr: 1, keepFraction: 1 },
      0n,
      settingsOf({ ignore: ["outerLr"], batchSize: 1000 }),
      "/r"
    )
    assert.isTrue(Either.isLeft(batchTooBig))
    if (Either.isLeft(batchTooBig)) assert.include(batchTooBig.left.message, "65535")
  })

  it("writes this exact state.toml for the worked example of docs/backends.md", () => {
    const plan = Psyche.psycheConfig(
      { islands: 2, innerSteps: 1, innerLr: 0.0004, outerLr: 0.7, keepFraction: 0.002 },
      258n,
      settingsOf({ ignore: ["outerLr"], totalSteps: 100, batchSize: 4, seqLength: 512 }),
      "/srv/runs/psyche-abc"
    )
    if (Either.isLeft(plan)) return assert.fail(plan.left.message)
    const id = plan.right.runId
    assert.strictEqual(
      plan.right.toml,
      [
        `run_id = "${id}"`,
        `run_state = "WaitingForMembers"`,
        ``,
        `[config]`,
        `warmup_time = 30`,
        `cooldown_time = 30`,
        `rounds_per_epoch = 100`,
        `max_round_train_time = 30`,
        `round_witness_time = 1`,
        `min_clients = 2`,
        `init_min_clients = 2`,
        `verification_percent = 0`,
        `witness_nodes = 1`,
        `global_batch_size_start = 8`,
        `global_batch_size_end = 8`,
        `global_batch_size_warmup_tokens = 0`,
        `total_steps = 100`,
        ``,
        `[model.LLM]`,
        `architecture = "HfLlama"`,
        `data_type = "Pretraining"`,
        `max_seq_len = 512`,
        `cold_start_warmup_steps = 0`,
        ``,
        `[model.LLM.checkpoint.Hub]`,
        `repo_id = "emozilla/llama2-20m-init"`,
        ``,
        `[model.LLM.data_location.Http]`,
        `token_size_in_bytes = "TwoBytes"`,
        ``,
        `[model.LLM.data_location.Http.shuffle]`,
        // 258 = 0x0102: little-endian bytes 2, 1, then zeros
        `Seeded = [ 2, 1, ${new Array(30).fill(0).join(", ")} ]`,
        ``,
        `[model.LLM.data_location.Http.location.Gcp]`,
        `bucket_name = "nous-pretraining-public-us"`,
        `filter_directory = "fineweb-edu-tokenized-llama2"`,
        ``,
        `[model.LLM.lr_schedule.Constant]`,
        `base_lr = 0.0004`,
        `warmup_steps = 10`,
        `warmup_init_lr = 0.0`,
        ``,
        `[model.LLM.optimizer.Distro]`,
        `clip_grad_norm = 1.0`,
        `compression_decay = 0.999`,
        `compression_chunk = 64`,
        // 0.002 × 4096 = 8.192
        `compression_topk = 8`,
        `quantize_1bit = false`,
        ``
      ].join("\n")
    )
  })
})

describe("psyche log lines", () => {
  it("parses JSON loss lines, flattened or nested, and Saving lines", () => {
    assert.deepStrictEqual(
      Psyche.parseLossLine(
        `{"timestamp":"t","level":"INFO","message":"client_loss","integration_test_log_marker":"loss","client_id":"ab","epoch":0,"step":7,"loss":2.75}`
      ),
      { step: 7, loss: 2.75 }
    )
    assert.deepStrictEqual(
      Psyche.parseLossLine(`{"fields":{"integration_test_log_marker":"loss","step":3,"loss":1.5},"target":"x"}`),
      { step: 3, loss: 1.5 }
    )
    assert.isTrue(Number.isNaN(Psyche.parseLossLine(`{"integration_test_log_marker":"loss","step":3,"loss":null}`)?.loss))
    assert.isUndefined(Psyche.parseLossLine(`{"integration_test_log_marker":"loaded_model","step":3}`))
    assert.isUndefined(Psyche.parseLossLine("not json"))
    assert.isUndefined(Psyche.parseLossLine("{broken"))
    assert.strictEqual(Psyche.parseSavingLine(`{"level":"INFO","message":"Saving to /c/run-step10"}`), "/c/run-step10")
    assert.strictEqual(Psyche.parseSavingLine(`{"fields":{"message":"Saving to /c/run-step10"}}`), "/c/run-step10")
    assert.strictEqual(Psyche.parseSavingLine("2025-01-01T00:00:00Z  INFO checkpointing: Saving to /c/run-step10"), "/c/run-step10")
    assert.isUndefined(Psyche.parseSavingLine(`{"message":"Uploading checkpoint"}`))
    assert.strictEqual(Psyche.checkpointStep("/c/trainmarket-00ff-step12", "trainmarket-00ff"), 12)
    assert.isUndefined(Psyche.checkpointStep("/c/other-run-step12", "trainmarket-00ff"))
  })
})

describe("psyche spec options", () => {
  const decode = Schema.decodeUnknownEither(ClusterSpec.ClusterSpec, { onExcessProperty: "error" })

  it("decodes the SPEC §14 option names and rejects unknown ones", () => {
    assert.isTrue(Either.isRight(decode({
      kind: "psyche",
      server: "/opt/psyche/bin/psyche-centralized-server",
      client: "psyche-centralized-client",
      modelRepo: "emozilla/llama2-20m-init",
      totalSteps: 2000,
      batchSize: 8,
      seqLength: 2048,
      chunk: 64,
      port: 20000,
      deadlineSeconds: 600,
      checkpointDir: "ckpt",
      ignore: ["outerLr"],
      tee: "none"
    })))
    assert.isTrue(Either.isLeft(decode({ kind: "psyche", topk: 8 })))
    assert.isTrue(Either.isLeft(decode({ kind: "psyche", chunk: 256 })))
    assert.isTrue(Either.isLeft(decode({ kind: "psyche", totalSteps: 3 })))
    assert.isTrue(Either.isLeft(decode({ kind: "psyche", tee: "sgx" })))
    const defaults = settingsOf({})
    assert.strictEqual(defaults.seqLength, 2048)
    assert.strictEqual(defaults.chunk, 64)
    assert.strictEqual(defaults.server, "psyche-centralized-server")
    assert.strictEqual(defaults.client, "psyche-centralized-client")
  })
})
