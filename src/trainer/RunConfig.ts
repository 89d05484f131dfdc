/**
 * The trainer's run config: one JSON document naming the recipe, the seed, where the
 * checkpoint goes, and (all optional, with defaults sized to train in seconds on two
 * cores) the budget, model, data and outer momentum. Unknown fields are rejected by
 * name, so a typo cannot silently change a run.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { DataSpec, defaultDataSpec, formatParseError, MAX_CONTEXT, U64 } from "./DataSource.js"
import { intIn } from "../domain/Checks.js"
import { Recipe } from "../domain/Recipe.js"
import { ConfigInvalid } from "./Errors.js"

/** Most islands one trainer process simulates (each holds weights, moments and a residual in memory). */
export const MAX_ISLANDS = 256

/** A DiLoCo recipe, as in SPEC §2: the domain's own schema. */
export const TrainerRecipe = Recipe
export type TrainerRecipe = Recipe

/** Defaults of every optional run-config field. */
export const runDefaults = {
  budget: 256,
  batchSize: 32,
  context: 4,
  hidden: 128,
  embed: 16,
  outerMomentum: 0.9,
  weightDecay: 0.01,
  devTokens: 2048,
  backend: "wasm"
} as const

/** The run config (decoded form: seed as bigint, defaults filled in). */
export const RunConfig = Schema.Struct({
  /** The recipe under test. */
  recipe: TrainerRecipe,
  /** Run seed: weight init and the order of each island's training data. */
  seed: U64,
  /** Directory for `model.safetensors` and `model.json` (created if missing). */
  outDir: Schema.String.pipe(Schema.minLength(1, { message: () => "outDir must be a non-empty path" })),
  /** Inner steps per island; rounds = ceil(budget / innerSteps), the last one possibly shorter. */
  budget: Schema.optionalWith(intIn(1, 1_000_000, "budget"), { default: () => runDefaults.budget }),
  /** Targets per inner step per island. */
  batchSize: Schema.optionalWith(intIn(1, 4096, "batchSize"), { default: () => runDefaults.batchSize }),
  /** Context window in symbols. */
  context: Schema.optionalWith(intIn(1, MAX_CONTEXT, "context"), { default: () => runDefaults.context }),
  /** Hidden ReLU units. */
  hidden: Schema.optionalWith(intIn(1, 4096, "hidden"), { default: () => runDefaults.hidden }),
  /** Embedding width per symbol. */
  embed: Schema.optionalWith(intIn(1, 1024, "embed"), { default: () => runDefaults.embed }),
  /** Training data (default: the seeded order-2 Markov chain over 8 symbols, data seed 0). */
  data: Schema.optionalWith(DataSpec, { default: () => defaultDataSpec }),
  /** Outer Nesterov momentum; 0 turns momentum off (plain outer SGD). */
  outerMomentum: Schema.optionalWith(
    Schema.Number.pipe(Schema.filter((x) => (Number.isFinite(x) && x >= 0 && x < 1) || "outerMomentum must be in [0, 1)")),
    { default: () => runDefaults.outerMomentum }
  ),
  /** AdamW decoupled weight decay on weight matrices (not biases). */
  weightDecay: Schema.optionalWith(
    Schema.Number.pipe(Schema.filter((x) => (Number.isFinite(x) && x >= 0 && x < 1) || "weightDecay must be in [0, 1)")),
    { default: () => runDefaults.weightDecay }
  ),
  /** Dev-split targets scored on the final weights (0: skip). */
  devTokens: Schema.optionalWith(intIn(0, 1_000_000, "devTokens"), { default: () => runDefaults.devTokens }),
  /** Preferred tensor backend; wasm falls back to cpu if it cannot start. */
  backend: Schema.optionalWith(Schema.Literal("wasm", "cpu"), { default: () => runDefaults.backend })
}).pipe(
  Schema.filter(
    (config) =>
      config.recipe.islands <= MAX_ISLANDS || {
        path: ["recipe", "islands"],
        message: `islands must be at most ${MAX_ISLANDS} for this trainer`
      }
  )
)
export type RunConfig = typeof RunConfig.Type
/** The JSON form of a run config (what a cluster writes to the file it passes with --config). */
export type RunConfigJson = typeof RunConfig.Encoded

/** Validate a parsed run config; every issue is named by its path. */
export const decodeRunConfig = (input: unknown): Either.Either<RunConfig, ConfigInvalid> =>
  Schema.decodeUnknownEither(RunConfig, { onExcessProperty: "error", errors: "all" })(input).pipe(
    Either.mapLeft((error) => new ConfigInvalid({ message: `invalid run config: ${formatParseError(error)}` }))
  )

/** Parse and validate run-config JSON text. */
export const parseRunConfig = (text: string): Either.Either<RunConfig, ConfigInvalid> => {
  let input: unknown
  try {
    input = JSON.parse(text)
  } catch (error) {
    return Either.left(new ConfigInvalid({ message: `run config is not JSON: ${error instanceof Error ? error.message : String(error)}` }))
  }
  return decodeRunConfig(input)
}

/** The JSON form of a decoded run config. */
export const encodeRunConfig = (config: RunConfig): RunConfigJson => Schema.encodeSync(RunConfig)(config)
