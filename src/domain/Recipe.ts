/**
 * Training recipes (SPEC §2): the knobs a researcher submits. Decoding any input —
 * a JSON file, a CLI flag, or a value built in code — goes through `decodeRecipe`, so
 * a bad knob is always a `RecipeInvalid` naming the field and the rule it broke.
 */
import { Effect, ParseResult, Schema } from "effect"
import { RecipeInvalid } from "./Errors.js"
import { U32_MAX } from "./Money.js"
import * as Canonical from "../integrity/Canonical.js"

/** The recipe's knobs, in the order SPEC §2 lists them. */
export const FIELDS = ["islands", "innerSteps", "innerLr", "outerLr", "keepFraction"] as const
export type Field = typeof FIELDS[number]

/**
 * The rule of each knob (SPEC §2) as a plain predicate with its message: the schema
 * below is built from these, and hot paths that must not pay for a schema decode
 * (a million-line market file) check the same predicates.
 */
export const rules: { readonly [K in Field]: { readonly holds: (x: unknown) => boolean; readonly message: string } } = {
  islands: {
    holds: (x) => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= U32_MAX,
    message: `islands must be an integer in 1..${U32_MAX}`
  },
  innerSteps: {
    holds: (x) => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= U32_MAX,
    message: `innerSteps must be an integer in 1..${U32_MAX}`
  },
  innerLr: { holds: (x) => typeof x === "number" && Number.isFinite(x) && x > 0, message: "innerLr must be finite and > 0" },
  outerLr: { holds: (x) => typeof x === "number" && Number.isFinite(x) && x > 0, message: "outerLr must be finite and > 0" },
  keepFraction: {
    holds: (x) => typeof x === "number" && Number.isFinite(x) && x > 0 && x <= 1,
    message: "keepFraction must be in (0, 1]"
  }
}

const knob = (field: Field) => Schema.Number.pipe(Schema.filter((x) => rules[field].holds(x) || rules[field].message))

/** A distributed-training recipe: DiLoCo islands and sync interval, learning rates, compression. */
export const Recipe = Schema.Struct({
  /** Data-parallel islands (DiLoCo replicas). */
  islands: knob("islands"),
  /** Inner steps H between outer syncs. */
  innerSteps: knob("innerSteps"),
  /** Inner optimiser learning rate. */
  innerLr: knob("innerLr"),
  /** Outer (Nesterov SGD) learning rate. */
  outerLr: knob("outerLr"),
  /** Fraction of the pseudo-gradient kept per sync (DeMo-style compression). */
  keepFraction: knob("keepFraction")
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

/**
 * Is `x` exactly a recipe the schema decodes unchanged (an object with the five knobs,
 * no other field, every rule holding)? A fast check for hot paths; anything it refuses
 * goes through `decodeRecipe`, which names the problem.
 */
export const isRecipe = (x: unknown): x is Recipe => {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false
  const entries = Object.entries(x)
  if (entries.length !== FIELDS.length) return false
  for (const [key, value] of entries) {
    const holds = ruleOf.get(key)
    if (holds === undefined || !holds(value)) return false
  }
  return true
}

const ruleOf: ReadonlyMap<string, (x: unknown) => boolean> = new Map(FIELDS.map((field) => [field, rules[field].holds]))

/** The canonical JSON of a recipe (SPEC §15.1's form: keys sorted, no whitespace): commitments and duplicate checks. */
export const canonicalJson = (recipe: Recipe): string => Canonical.stringify(recipe)
