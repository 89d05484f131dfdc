/**
 * What every subcommand shares: the one `--json` flag, the one handler transform that
 * reports a command's typed failure the SPEC §14 way, and reading inputs the CLI way
 * (`-` for stdin). Output goes through the `Output` service.
 */
import { Command, Options } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Chunk, Data, Effect, Exit, Stream } from "effect"
import type { BadInput } from "../domain/Errors.js"
import * as Json from "../files/Json.js"
import * as Output from "./Output.js"

/** `--json`: print exactly one JSON document (or JSON Lines for streams) on stdout. */
export const json = Options.boolean("json").pipe(
  Options.withDescription("print machine-readable JSON on stdout (errors as {\"error\":{\"_tag\",\"message\"}})")
)

/**
 * `--key-file`: the operator's key (SPEC §15.1). Absent: `TRAINMARKET_KEY_FILE`, else
 * `$XDG_DATA_HOME/trainmarket/secret` (created with mode 0600 on first use).
 */
export const keyFile = Options.text("key-file").pipe(
  Options.withDescription(
    "the operator's 32-byte key file that signs and checks artifacts (default: $TRAINMARKET_KEY_FILE, else " +
      "~/.local/share/trainmarket/secret, created on first use)"
  ),
  Options.optional
)

/** A failure that has already been printed; the binary only turns it into its exit code. */
export class Reported extends Data.TaggedError("Reported")<{ readonly exitCode: number }> {}

/** Any typed error a command can end with. */
export interface TypedError {
  readonly _tag: string
  readonly message: string
}

/** Print a typed error: `{"error":{"_tag","message"}}` on stdout with --json, one line on stderr without. */
export const printError = (error: TypedError, asJson: boolean): Effect.Effect<void, never, Output.Output> =>
  asJson
    ? Effect.ignore(Output.json({ error: { _tag: error._tag, message: error.message } }))
    : Output.problem(`trainmarket: ${error._tag}: ${error.message.replace(/\s*\n\s*/g, " ")}`)

/** Run a command body, printing its typed failure and turning it into `Reported`. */
export const reporting = (asJson: boolean) =>
<A, E extends TypedError, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Reported, R | Output.Output> =>
  Effect.catchAll(self, (error) =>
    error instanceof Reported
      ? Effect.fail(error)
      : Effect.zipRight(printError(error, asJson), Effect.fail(new Reported({ exitCode: 1 }))))

/**
 * The handler transform every leaf command gets (`.pipe(Shared.reported)`): its typed
 * failure is printed once, as JSON when the command's own `--json` was given, and the
 * command ends with `Reported`. The status line is cleared first, so an error starts
 * on its own line.
 */
export const reported = <Name extends string, R, E extends TypedError, A extends { readonly json: boolean }>(
  self: Command.Command<Name, R, E, A>
) =>
  Command.transformHandler(
    self,
    (handler, options) => reporting(options.json)(Effect.ensuring(handler, Output.clearStatus))
  )

/** Lines of a file, or of stdin for `-` (memory stays flat however long the input). */
export const inputLines = (path: string): Stream.Stream<string, BadInput, FileSystem.FileSystem | Output.Output> =>
  path === "-"
    ? Stream.unwrap(Effect.map(Output.Output, (output) => output.stdin)).pipe(Stream.decodeText(), Stream.splitLines)
    : Json.fileLines(path)

/** The name of an input in errors: the path, or `stdin` for `-`. */
export const inputName = (path: string): string => (path === "-" ? "stdin" : path)

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
): Effect.Effect<void, E | BadInput, R | FileSystem.FileSystem | Output.Output> =>
  Effect.flatMap(Output.Output, (output) => {
    const name = inputName(path)
    let lineNumber = 0
    return inputLines(path).pipe(
      Stream.mapChunksEffect((chunk) =>
        Effect.suspend(() => {
          let text = ""
          return Effect.forEach(chunk, (line) => {
            lineNumber += 1
            if (line.trim() === "") return Effect.void
            const source = `${name} line ${lineNumber}`
            return Json.parse(line, source).pipe(
              Effect.flatMap((input) => handle(input, source)),
              Effect.map((result) => {
                text += `${result}\n`
              })
            )
          }, { discard: true }).pipe(
            Effect.map(() => Chunk.of(text)),
            // what the lines before a bad one (or before Ctrl-C) produced is still written
            Effect.onExit((exit) =>
              Exit.isSuccess(exit)
                ? Effect.void
                : Exit.isInterrupted(exit)
                // never wait on a reader while stopping: hand the text to the stream and go
                ? output.stdoutNow(text)
                : Effect.ignore(output.stdout(text))
            )
          )
        })
      ),
      Stream.runForEach(output.stdout)
    )
  })
