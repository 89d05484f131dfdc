/**
 * What every command module shares: the common options (`--json`, `--key-file`,
 * `--out`), options read into domain values at parse time (`seedOption`), the one handler
 * transform that reports a command's typed failure the SPEC §14 way (`reported`), and
 * `lazily`, which loads a command's implementation only when the command runs, so the
 * command tree (and `--help`) starts without it.
 *
 * Light by design: only @effect/cli, Effect and the `Output` service, so start-up
 * does not pay for what a command does not use.
 */
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Data, Effect, Either } from "effect"
import { parseSeed } from "../domain/Money.js"
import * as Output from "./Output.js"
import { oneLine } from "../domain/Text.js"

/** `--json`: print exactly one JSON document (or JSON Lines for streams) on stdout. */
export const json = Options.boolean("json").pipe(
  Options.withDescription("print one JSON document on stdout (errors too: {\"error\":{\"_tag\",\"message\"}})")
)

/** `--artifact`: an artifact as `train --json` prints it (`score`, `panel judge`). */
export const artifact = Options.text("artifact").pipe(
  Options.withPseudoName("<json|file>"),
  Options.withDescription("the artifact as `train --json` prints it, inline or a path to a JSON file")
)

/** `--recipe`: a recipe, inline or a file (`train`, `market submit`). */
export const recipe = Options.text("recipe").pipe(
  Options.withPseudoName("<json|file>"),
  Options.withDescription(
    "the recipe as JSON (islands, innerSteps, innerLr, outerLr, keepFraction) or a path to a JSON file"
  )
)

/**
 * `--key-file`: the operator's key (SPEC §15.1). Absent: `TRAINMARKET_KEY_FILE`, else
 * `$XDG_DATA_HOME/trainmarket/secret` (created with mode 0600 on first use).
 */
export const keyFile = Options.text("key-file").pipe(
  Options.withPseudoName("<path>"),
  Options.withDescription(
    "the operator's key that signs and checks artifacts (default: $TRAINMARKET_KEY_FILE, else " +
      "~/.local/share/trainmarket/secret, created on first use)"
  ),
  Options.optional
)

/** `--out <dir>`: a folder for the results (created; files in it are replaced). */
export const out = Options.text("out").pipe(
  Options.withPseudoName("<dir>"),
  Options.withDescription("also write the results into this folder: result.json, the printed text, pictures (SVG)"),
  Options.optional
)

/**
 * An option read at parse time: `read` turns its text into a value or says what is
 * wrong, and a wrong value is refused like any bad command line (exit 2), in one line
 * naming the flag (`--seed: '1.5' is not an integer`).
 */
export const parsedOption = <A>(
  option: Options.Options<string>,
  name: string,
  read: (text: string) => Either.Either<A, string>
): Options.Options<A> =>
  Options.mapEffect(option, (text) =>
    Either.match(read(text), {
      onLeft: (problem) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(`${name}: ${problem}`))),
      onRight: Effect.succeed
    }))

/** A `--seed`-like option: an unsigned 64-bit integer, checked at parse time. */
export const seedOption = (name: string, description: string): Options.Options<bigint> =>
  parsedOption(
    Options.text(name).pipe(Options.withPseudoName("<u64>"), Options.withDescription(description)),
    `--${name}`,
    (text) => {
      const parsed = parseSeed(text)
      return "seed" in parsed ? Either.right(parsed.seed) : Either.left(parsed.problem)
    }
  )

/**
 * A group of commands run without one of its subcommands (`trainmarket market`): `main`
 * prints the group's help page.
 */
export class HelpWanted extends Data.TaggedError("HelpWanted")<{}> {}

/** The handler of a group of commands: with no subcommand named, show the group's help. */
export const showHelp = (): Effect.Effect<void, HelpWanted> => Effect.fail(new HelpWanted())

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
    : Output.problem(`trainmarket: ${error._tag}: ${oneLine(error.message)}`)

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

/**
 * Run a command's implementation from a module loaded on first use (`import()`), so the
 * command tree, `--help` and every other command start without it.
 */
export const lazily = <M, A, E, R>(
  load: () => Promise<M>,
  use: (module: M) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.flatMap(Effect.promise(load), use)
