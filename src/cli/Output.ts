/**
 * Where every command's output goes: one service for stdout (documents, tables,
 * streamed JSON Lines), stderr (one-line errors, the live status line) and stdin
 * (`--input -`). The Node layer writes to the process's streams with backpressure
 * (a slow reader pauses a fast producer instead of piling output up in memory) and
 * never ends stdout, so an error document can always follow; the test layer captures
 * everything in memory, so the whole CLI runs in-process in tests.
 */
import { Context, Effect, Layer, Ref, Stream } from "effect"
import { BadInput } from "../domain/Errors.js"
import { stringify } from "../files/Json.js"

/** The streams a command reads and writes. */
export class Output extends Context.Tag("trainmarket/cli/Output")<
  Output,
  {
    /** Write text to stdout as it is (the caller ends lines), waiting while the reader is slow. */
    readonly stdout: (text: string) => Effect.Effect<void, BadInput>
    /** Hand text to stdout without waiting for the reader (while stopping: never wait on a slow reader). */
    readonly stdoutNow: (text: string) => Effect.Effect<void>
    /** Write text to stderr as it is. */
    readonly stderr: (text: string) => Effect.Effect<void>
    /** The bytes of stdin (`--input -`). */
    readonly stdin: Stream.Stream<Uint8Array, BadInput>
    /** Is stderr a terminal (a status line can be redrawn in place)? */
    readonly stderrIsTerminal: boolean
    /** May colour codes be written (a terminal, and `NO_COLOR` not set)? */
    readonly color: boolean
    /** The terminal's width in columns (status lines are cut to it so they never wrap). */
    readonly columns: () => number
    /** Replace the status lines on stderr with `text` (one or more lines); nothing unless stderr is a terminal. */
    readonly status: (text: string) => Effect.Effect<void>
  }
>() {}

/**
 * The escape sequences that replace `drawn` status lines (the cursor at the end of the
 * last one) with `text`: each old line is cleared going up, then the new lines are
 * written, the cursor left at the end of the last one.
 */
export const redraw = (drawn: number, text: string): string =>
  `\r\x1b[2K${"\x1b[1A\x1b[2K".repeat(Math.max(0, drawn - 1))}${text}`

/** A status drawer on a stderr writer: remembers how many lines it drew, to replace them. */
const statusLines = (write: (text: string) => Effect.Effect<void>, terminal: boolean) => {
  let drawn = 0
  return (text: string): Effect.Effect<void> =>
    !terminal || (drawn === 0 && text === "") ? Effect.void : Effect.suspend(() => {
      const sequence = redraw(drawn, text)
      drawn = text === "" ? 0 : text.split("\n").length
      return write(sequence)
    })
}

/** Print one line on stdout. */
export const line = (text: string): Effect.Effect<void, BadInput, Output> =>
  Effect.flatMap(Output, (output) => output.stdout(`${text}\n`))

/** Print lines on stdout. */
export const lines = (texts: ReadonlyArray<string>): Effect.Effect<void, BadInput, Output> =>
  texts.length === 0 ? Effect.void : Effect.flatMap(Output, (output) => output.stdout(`${texts.join("\n")}\n`))

/** Print one JSON document on stdout (bigints as decimal strings). */
export const json = (value: unknown): Effect.Effect<void, BadInput, Output> => line(stringify(value))

/** Print one line on stderr. */
export const problem = (text: string): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (output) => output.stderr(`${text}\n`))

/** Redraw the status lines on stderr (lines separated by `\n`); nothing unless stderr is a terminal. */
export const status = (text: string): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (output) => output.status(text))

/** Clear the status lines so the next output starts on a fresh line; nothing unless stderr is a terminal. */
export const clearStatus: Effect.Effect<void, never, Output> = Effect.flatMap(Output, (output) => output.status(""))

/** Write to a Node stream, waiting for `drain` when its buffer is full. */
const writeWithBackpressure = (stream: NodeJS.WriteStream, text: string): Effect.Effect<void, BadInput> =>
  Effect.async<void, BadInput>((resume) => {
    if (stream.write(text)) return resume(Effect.void)
    const onDrain = () => {
      stream.off("error", onError)
      resume(Effect.void)
    }
    const onError = (error: Error) => {
      stream.off("drain", onDrain)
      resume(Effect.fail(new BadInput({ source: "stdout", reason: `cannot be written (${error.message})` })))
    }
    stream.once("drain", onDrain)
    stream.once("error", onError)
    return Effect.sync(() => {
      stream.off("drain", onDrain)
      stream.off("error", onError)
    })
  })

/** The process's own stdin, stdout and stderr. */
export const layer: Layer.Layer<Output> = Layer.sync(Output, () => {
  const stderr = (text: string) => Effect.sync(() => void process.stderr.write(text))
  const terminal = process.stderr.isTTY === true
  return Output.of({
    stdout: (text) => writeWithBackpressure(process.stdout, text),
    stdoutNow: (text) => Effect.sync(() => void process.stdout.write(text)),
    stderr,
    // loaded on first use: only `--input -` reads stdin
    stdin: Stream.unwrap(Effect.promise(() => import("@effect/platform-node/NodeStream")).pipe(Effect.map((m) => m.stdin))),
    stderrIsTerminal: terminal,
    color: process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined,
    // a terminal that does not say its width (0, e.g. under `script`) is taken as 80 columns
    columns: () => (process.stderr.columns !== undefined && process.stderr.columns > 0 ? process.stderr.columns : 80),
    status: statusLines(stderr, terminal)
  })
})

/** What a test run of the CLI wrote. */
export interface Captured {
  readonly stdout: string
  readonly stderr: string
}

/**
 * An in-memory Output for tests: stdin is `input`, stdout and stderr are captured
 * (read them with `captured`); `terminal` pretends stderr is a terminal `columns` wide
 * (default 120).
 */
export const makeTest = (
  options: { readonly input?: string; readonly terminal?: boolean; readonly columns?: number } = {}
) =>
  Effect.gen(function*() {
    const out = yield* Ref.make("")
    const err = yield* Ref.make("")
    const stderr = (text: string) => Ref.update(err, (all) => all + text)
    const service = Output.of({
      stdout: (text) => Ref.update(out, (all) => all + text),
      stdoutNow: (text) => Ref.update(out, (all) => all + text),
      stderr,
      stdin: options.input === undefined ? Stream.empty : Stream.make(new TextEncoder().encode(options.input)),
      stderrIsTerminal: options.terminal === true,
      color: false,
      columns: () => options.columns ?? 120,
      status: statusLines(stderr, options.terminal === true)
    })
    const captured: Effect.Effect<Captured> = Effect.all({ stdout: Ref.get(out), stderr: Ref.get(err) })
    return { layer: Layer.succeed(Output, service), captured }
  })
