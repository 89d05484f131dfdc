/**
 * Training recipes (SPEC §2): the knobs a researcher submits. Decoding any input —
 * a JSON file, a CLI flag, or a value built in code — goes through `decodeRecipe`, so
 * a bad knob is always a `RecipeInvalid` naming the field and the rule it broke.
 */
import { Effect, ParseResult, Schema } from "effect"
import { intIn, positiveFinite } from "./Checks.js"
import { RecipeInvalid } from "./Errors.js"
import { U32_MAX } from "./Money.js"

const u32 = (field: string) => intIn(1, U32_MAX, field)

/** A distributed-training recipe: DiLoCo islands and sync interval, learning rates, compression. */
export const Recipe = Schema.Struct({
  /** Data-parallel islands (DiLoCo replicas). */
  islands: u32("islands"),
  /** Inner steps H between outer syncs. */
  innerSteps: u32("innerSteps"),
  /** Inner optimiser learning rate. */
  innerLr: positiveFinite("innerLr"),
  /** Outer (Nesterov SGD) learning rate. */
  outerLr: positiveFinite("outerLr"),
  /** Fraction of the pseudo-gradient kept per sync (DeMo-style compression). */
  keepFraction: Schema.Number.pipe(
    Schema.filter((x) => (Number.isFinite(x) && x > 0 && x <= 1) || "keepFraction must be in (0, 1]")
  )
}).annotations({ identifier: "Recipe" })
export type Recipe = typeof Recipe.Type

/** The reference recipe every candidate must beat. */
export const baseline: Recipe = { islands: 1, innerSteps: 1, innerLr: 3e-3, outerLr: 0.7, keepFraction: 1.0 }

const firstIssue = (error: ParseResult.ParseError): { readonly field: string; readonly rule: string } => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const issue = issues[0]
  if (issue === undefined) return { field: "recipe", rule: "is not a recipe" }
  const field = issue.path.length > 0 ? String(issue.path[0]) : "recipe"
  if (issue._tag === "Unexpected") return { field, rule: "is not a recipe field (unknown field)" }
  if (issue._tag === "Missing") return { field, rule: "is missing" }
  return { field, rule: issue.message }
}

/** Decode and validate a recipe from any input; unknown fields are rejected by name. */
export const decodeRecipe = (input: unknown): Effect.Effect<Recipe, RecipeInvalid> =>
  Schema.decodeUnknown(Recipe, { onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => new RecipeInvalid(firstIssue(error)))
  )
