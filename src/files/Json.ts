/**
 * Reading the project's JSON files and arguments (SPEC §14): text to JSON, JSON to a
 * schema's type with unknown fields rejected by name, seeds and money as decimal
 * strings. Every failure is a typed `BadInput` naming its source (a file, a flag,
 * `runs.jsonl line 3`), or a `RecipeInvalid` naming the knob when a recipe is wrong.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, ParseResult, Schema, Stream } from "effect"
import { BadInput, RecipeInvalid } from "../domain/Errors.js"
import { oneLine } from "../domain/Text.js"

/** JSON text of a value, with bigints as decimal strings. */
export const stringify = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v))

/** Parse JSON text; failures name the source. */
export const parse = (text: string, source: string): Effect.Effect<unknown, BadInput> =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: (error) =>
      new BadInput({
        source,
        // JSON.parse quotes the text around the problem, newlines included: keep the message on one line
        reason: `not valid JSON (${oneLine(error instanceof Error ? error.message : String(error))})`
      })
  })

/** A file the platform could not open or read, as a `BadInput` naming it. */
export const fileError = (path: string) => (error: PlatformError): BadInput =>
  new BadInput({
    source: path,
    reason: error._tag === "SystemError" && error.reason === "NotFound"
      ? "file not found"
      : `cannot be read (${error.message})`
  })

/** Read a whole text file; a missing or unreadable file is a `BadInput` naming it. */
export const readText = (path: string): Effect.Effect<string, BadInput, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError(fileError(path))
  )

/** A schema failure as the typed error a person can act on: the knob of a bad recipe, else the path and rule. */
export const describe = (error: ParseResult.ParseError, source: string): BadInput | RecipeInvalid => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return new BadInput({ source, reason: "does not match the expected shape" })
  const path = issue.path.map(String)
  const at = path.length === 0 ? "" : `at ${path.join(".")}: `
  const recipeAt = path.lastIndexOf("recipe")
  if (recipeAt >= 0) {
    // a bad knob names the knob; a recipe that is not an object at all names "recipe"
    const field = path[recipeAt + 1] ?? "recipe"
    return new RecipeInvalid({
      source,
      field,
      rule: issue._tag === "Unexpected"
        ? "is not a recipe field (unknown field)"
        : issue._tag === "Missing"
        ? "is missing"
        : issue.message
    })
  }
  if (issue._tag === "Unexpected") return new BadInput({ source, reason: `${at}unknown field "${path.at(-1) ?? ""}"` })
  if (issue._tag === "Missing") return new BadInput({ source, reason: `${at}is missing` })
  return new BadInput({ source, reason: `${at}${issue.message}` })
}

/**
 * Decode unknown input with a schema, rejecting unknown fields by name. A bad recipe
 * knob anywhere in the input is a `RecipeInvalid` naming the field.
 */
export const decode = <A, I>(schema: Schema.Schema<A, I>, source: string) =>
(input: unknown): Effect.Effect<A, BadInput | RecipeInvalid> =>
  Schema.decodeUnknown(schema, { onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => describe(error, source))
  )

/** Read a JSON file and decode it. */
export const readFile = <A, I>(
  schema: Schema.Schema<A, I>,
  path: string
): Effect.Effect<A, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  readText(path).pipe(Effect.flatMap((text) => parse(text, path)), Effect.flatMap(decode(schema, path)))

/** Is this argument inline JSON (starts with `{` or `[`) rather than a path? */
export const isInline = (value: string): boolean => {
  const trimmed = value.trim()
  return trimmed.startsWith("{") || trimmed.startsWith("[")
}

/**
 * A JSON argument given inline (`'{"kind":"local-sim"}'`) or as a path to a JSON
 * file (anything not starting with `{` or `[`).
 */
export const readArgument = <A, I>(
  schema: Schema.Schema<A, I>,
  value: string,
  source: string
): Effect.Effect<A, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  isInline(value)
    ? parse(value.trim(), source).pipe(Effect.flatMap(decode(schema, source)))
    : readFile(schema, value.trim())

/** The lines of a text file, streamed (memory stays flat however long the file). */
export const fileLines = (path: string): Stream.Stream<string, BadInput, FileSystem.FileSystem> =>
  Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) => fs.stream(path))).pipe(
    Stream.mapError(fileError(path)),
    Stream.decodeText(),
    Stream.splitLines
  )
