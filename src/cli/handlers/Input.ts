/**
 * Reading a command's inputs the CLI way: JSON Lines from a file or from stdin (`-`),
 * transformed line by line with output written as it goes (memory stays flat however
 * long the input).
 */
import type { FileSystem } from "@effect/platform"
import { Chunk, Effect, Exit, Schema, Stream } from "effect"
import * as Artifact from "../../domain/Artifact.js"
import { decodeRecipe } from "../../domain/Recipe.js"
import type { BadInput } from "../../domain/Errors.js"
import * as Json from "../../files/Json.js"
import * as Output from "../Output.js"

/** Lines of a file, or of stdin for `-` (memory stays flat however long the input). */
export const inputLines = (path: string): Stream.Stream<string, BadInput, FileSystem.FileSystem | Output.Output> =>
  path === "-"
    ? Stream.unwrap(Effect.map(Output.Output, (output) => output.stdin)).pipe(Stream.decodeText(), Stream.splitLines)
    : Json.fileLines(path)

/** `--artifact <json|file>`: an artifact as `train --json` prints it, its ref checked. */
export const readArtifact = (text: string) =>
  Effect.flatMap(Json.readArgument(Schema.Unknown, text, "--artifact"), (raw) => Artifact.decodeJson(raw, "--artifact"))

/** `--recipe <json|file>`: a recipe, checked by the recipe's rules. */
export const readRecipe = (text: string) => Effect.flatMap(Json.readArgument(Schema.Unknown, text, "--recipe"), decodeRecipe)

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
