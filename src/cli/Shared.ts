/**
 * What every subcommand shares: the `--json` flag, reading and decoding inputs into
 * typed `BadInput`/`RecipeInvalid` errors, printing JSON (bigints as decimal
 * strings), and reporting failures the way SPEC §14 asks.
 */
import { Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { NodeStream } from "@effect/platform-node"
import { Chunk, Console, Data, Effect, Exit, ParseResult, Schema, Stream } from "effect"
import { BadInput, RecipeInvalid } from "../domain/Errors.js"

/** `--json`: print exactly one JSON document (or JSON Lines for streams) on stdout. */
export const json = Options.boolean("json").pipe(
  Options.withDescription("print machine-readable JSON on stdout (errors as {\"error\":{\"_tag\",\"message\"}})")
)

/** JSON text of a value, with bigints as decimal strings. */
export const stringify = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v))

/** Print one JSON document on stdout. */
export const printJson = (value: unknown): Effect.Effect<void> => Console.log(stringify(value))

/** Parse JSON text; failures name the source. */
export const parseJson = (text: string, source: string): Effect.Effect<unknown, BadInput> =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: (error) =>
      new BadInput({
        source,
        // JSON.parse quotes the text around the problem, newlines included: keep the message on one line
        reason: `not valid JSON (${(error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")})`
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

const describe = (error: ParseResult.ParseError, source: string): BadInput | RecipeInvalid => {
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
export const readJsonFile = <A, I>(
  schema: Schema.Schema<A, I>,
  path: string
): Effect.Effect<A, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  readText(path).pipe(Effect.flatMap((text) => parseJson(text, path)), Effect.flatMap(decode(schema, path)))

/**
 * A JSON argument given inline (`'{"kind":"local-sim"}'`) or as a path to a JSON
 * file (anything not starting with `{` or `[`).
 */
export const readJsonArgument = <A, I>(
  schema: Schema.Schema<A, I>,
  value: string,
  flag: string
): Effect.Effect<A, BadInput | RecipeInvalid, FileSystem.FileSystem> => {
  const trimmed = value.trim()
  return trimmed.startsWith("{") || trimmed.startsWith("[")
    ? parseJson(trimmed, flag).pipe(Effect.flatMap(decode(schema, flag)))
    : readJsonFile(schema, trimmed)
}

/** Lines of a file, or of stdin for `-`, streamed (memory stays flat however long the input). */
export const inputLines = (path: string): Stream.Stream<string, BadInput, FileSystem.FileSystem> => {
  const bytes = path === "-"
    ? NodeStream.stdin
    : Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) => fs.stream(path))).pipe(Stream.mapError(fileError(path)))
  return bytes.pipe(Stream.decodeText(), Stream.splitLines)
}

/** A failure that has already been printed; the binary only turns it into a non-zero exit. */
export class Reported extends Data.TaggedError("Reported")<{ readonly exitCode: number }> {}

/** Any typed error a command can end with. */
export interface TypedError {
  readonly _tag: string
  readonly message: string
}

/** Print a typed error: `{"error":{"_tag","message"}}` on stdout with --json, one line on stderr without. */
export const printError = (error: TypedError, asJson: boolean): Effect.Effect<void> =>
  asJson
    ? printJson({ error: { _tag: error._tag, message: error.message } })
    : Console.error(`trainmarket: ${error._tag}: ${error.message.replace(/\s*\n\s*/g, " ")}`)

/** Run a command body, printing its typed failure and turning it into `Reported`. */
export const reporting = (asJson: boolean) =>
<A, E extends TypedError, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Reported, R> =>
  Effect.catchAll(self, (error) => Effect.zipRight(printError(error, asJson), Effect.fail(new Reported({ exitCode: 1 }))))

/** Is stderr a terminal (progress is shown only there, never on --json stdout)? */
export const stderrIsTerminal: Effect.Effect<boolean> = Effect.sync(() => process.stderr.isTTY === true)

/**
 * Write text to stdout with backpressure: when the pipe is full, wait for `drain`
 * before going on, so a fast producer never piles output up in memory. stdout is
 * never ended, so an error document can still follow.
 */
export const writeStdout = (text: string): Effect.Effect<void, BadInput> =>
  Effect.async<void, BadInput>((resume) => {
    const stdout = process.stdout
    if (stdout.write(text)) return resume(Effect.void)
    const onDrain = () => {
      stdout.off("error", onError)
      resume(Effect.void)
    }
    const onError = (error: Error) => {
      stdout.off("drain", onDrain)
      resume(Effect.fail(new BadInput({ source: "stdout", reason: `cannot be written (${error.message})` })))
    }
    stdout.once("drain", onDrain)
    stdout.once("error", onError)
    return Effect.sync(() => {
      stdout.off("drain", onDrain)
      stdout.off("error", onError)
    })
  })

/**
 * Transform a JSON Lines input (a file, or stdin for `-`) line by line, writing one
 * output line per non-blank input line to stdout as it goes. Lines are handled a
 * chunk at a time and written with backpressure, so memory stays flat for any
 * input length. A bad line fails the command with an error naming its line number,
 * after the output of every line before it has been written.
 */
export const transformJsonLines = <E, R>(
  path: string,
  handle: (input: unknown, source: string) => Effect.Effect<string, E, R>
): Effect.Effect<void, E | BadInput, R | FileSystem.FileSystem> => {
  const name = path === "-" ? "stdin" : path
  let lineNumber = 0
  return inputLines(path).pipe(
    Stream.mapChunksEffect((lines) =>
      Effect.suspend(() => {
        let output = ""
        return Effect.forEach(lines, (line) => {
          lineNumber += 1
          if (line.trim() === "") return Effect.void
          const source = `${name} line ${lineNumber}`
          return parseJson(line, source).pipe(
            Effect.flatMap((input) => handle(input, source)),
            Effect.map((text) => {
              output += `${text}\n`
            })
          )
        }, { discard: true }).pipe(
          Effect.map(() => Chunk.of(output)),
          // what the lines before a bad one (or before Ctrl-C) produced is still written
          Effect.onExit((exit) =>
            Exit.isSuccess(exit)
              ? Effect.void
              : Exit.isInterrupted(exit)
              // never wait on a reader while stopping: hand the text to the stream and go
              ? Effect.sync(() => void process.stdout.write(output))
              : Effect.ignore(writeStdout(output))
          )
        )
      })
    ),
    Stream.runForEach(writeStdout)
  )
}
