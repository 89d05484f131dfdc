/**
 * The `trainmarket` command tree, and `main`: run it on a command line and turn how
 * it ended into an exit code. Each subcommand lives in its own light module whose
 * handler loads its implementation (`handlers/`) when it runs, so `--help` and every
 * command start without the others. Every byte a command writes goes through the
 * `Output` service, so `main` runs the same in the binary (`bin.ts`, the Node streams)
 * and in-process in tests (a captured Output).
 *
 * Help pages and the one-line explanation of a refused command line are `Help`'s, read
 * from this tree: a command added here gets both.
 */
import { CliConfig, Command, Options, ValidationError } from "@effect/cli"
import { Cause, Console, Effect, Exit, Option } from "effect"
import * as Attest from "./Attest.js"
import * as Backends from "./Backends.js"
import * as Compete from "./Compete.js"
import * as Demo from "./Demo.js"
import * as Help from "./Help.js"
import * as Market from "./Market.js"
import * as Output from "./Output.js"
import * as Panel from "./Panel.js"
import * as Runs from "./Runs.js"
import * as Score from "./Score.js"
import { json, printError, showHelp } from "./Shared.js"
import * as Train from "./Train.js"

/** The program's name. */
export const NAME = "trainmarket"

/** The root command. */
export const root = Command.make(NAME, {}, showHelp).pipe(
  Command.withDescription(
    Help.describe("markets that pay for certified improvements to distributed-training recipes", {
      examples: [
        "trainmarket demo",
        "trainmarket compete examples/real-cpu-competition.json --out results",
        "trainmarket train --recipe examples/recipe.json --seed 7 --json"
      ]
    })
  ),
  Command.withSubcommands([
    Demo.command,
    Train.command,
    Score.command,
    Compete.command,
    Market.command,
    Panel.command,
    Attest.command,
    Backends.command,
    Runs.command
  ])
)

/** The package version `--version` prints. */
export const VERSION = "0.1.0"

const run = Command.run(root, { name: NAME, version: VERSION })

const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g")

/**
 * @effect/cli writes what it prints itself (`--version`, `--completions`) through
 * `Console.log`, and its multi-line parse errors through `Console.error`: the first goes
 * to stdout (plain text unless colour is allowed), the second is dropped, because `main`
 * reports a bad command line itself, in the one-line form every other error has.
 */
const throughOutput = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Output.Output> =>
  Effect.flatMap(Output.Output, (output) =>
    Console.consoleWith((current) =>
      Effect.withConsole(self, {
        ...current,
        log: (...args) => {
          // @effect/cli's rendered documents already end with a newline
          const text = args.map(String).join(" ").replace(/\n$/, "")
          return Effect.ignore(output.stdout(`${output.color ? text : text.replace(ANSI, "")}\n`))
        },
        error: () => Effect.void
      })
    ))

/** Was `--json` given anywhere on the command line (read by @effect/cli's own option parser)? */
const wantsJson = (args: ReadonlyArray<string>) =>
  Options.processCommandLine(json, args, CliConfig.defaultConfig).pipe(
    Effect.map(([, , value]) => value),
    Effect.orElseSucceed(() => false)
  )

/** Exit code of a command line that @effect/cli could not parse. */
export const USAGE_EXIT_CODE = 2

/** What is wrong with a refused command line, in one line. */
const commandLineProblem = (args: ReadonlyArray<string>, error: ValidationError.ValidationError) =>
  Effect.map(Help.diagnose(root, NAME, args), (found) => {
    if (found !== undefined) return found
    const text = Help.validationText(error)
    return text === "" ? "invalid command line" : text
  })

/**
 * Run the command line `args` (without `node` and the script) and return the exit
 * code: 0 on success (help included), the command's own code after a reported failure,
 * 2 for a bad command line (printed in the one-line or JSON error form), 1 for a defect.
 */
export const main = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const printHelp = Effect.flatMap(Help.page(root, NAME, args, VERSION), (text) =>
      Effect.ignore(Effect.flatMap(Output.Output, (output) => output.stdout(text))))
    if (Help.asksForHelp(args)) {
      yield* printHelp
      return 0
    }
    const exit = yield* Effect.exit(throughOutput(run(["node", NAME, ...args])))
    if (Exit.isSuccess(exit)) return 0
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      const error = failure.value
      if (ValidationError.isValidationError(error)) {
        if (ValidationError.isHelpRequested(error)) return 0
        const message = yield* commandLineProblem(args, error)
        yield* printError({ _tag: "BadInput", message }, yield* wantsJson(args))
        return USAGE_EXIT_CODE
      }
      // a group of commands named without a subcommand: its help page
      if (error._tag === "HelpWanted") {
        yield* printHelp
        return 0
      }
      if (error._tag === "Reported") return error.exitCode
    }
    if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
    const defect = Cause.squash(exit.cause)
    yield* printError(
      { _tag: "Defect", message: defect instanceof Error ? defect.message : String(defect) },
      yield* wantsJson(args)
    )
    return 1
  })
