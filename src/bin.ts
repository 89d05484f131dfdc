#!/usr/bin/env node
/**
 * The `trainmarket` binary: runs the command tree on Node. Failures were already
 * printed by the command (or by @effect/cli for bad flags); here they only become
 * a non-zero exit code, never a stack trace.
 */
import { HelpDoc, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { run } from "./cli/Cli.js"
import { printError } from "./cli/Shared.js"

const asJson = process.argv.includes("--json")

// @effect/cli draws help and usage errors with ANSI colours; a pipe, a file or
// NO_COLOR gets plain text
const ANSI = new RegExp(String.fromCharCode(27) + "\\[[0-9;]*m", "g")
const plain = (isTerminal: boolean) => !isTerminal || process.env["NO_COLOR"] !== undefined
const strip = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? arg.replace(ANSI, "") : arg))
/** Run with a console that drops colour codes on whichever stream is not a colour terminal. */
const plainWhereNeeded = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((current) =>
    Effect.withConsole(self, {
      ...current,
      log: (...args) => current.log(...(plain(process.stdout.isTTY === true) ? strip(args) : args)),
      error: (...args) => current.error(...(plain(process.stderr.isTTY === true) ? strip(args) : args))
    })
  )

/** What @effect/cli found wrong with the command line, as one plain line. */
const commandLineProblem = (error: ValidationError.ValidationError): string => {
  const text = "error" in error ? HelpDoc.toAnsiText(error.error).replace(ANSI, "").replace(/\s+/g, " ").trim() : ""
  return `invalid command line${text === "" ? "" : `: ${text}`} (see --help)`
}

run(process.argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, (error) =>
    ValidationError.isHelpRequested(error)
      ? Effect.void
      : Effect.zipRight(
        asJson ? printError({ _tag: "BadInput", message: commandLineProblem(error) }, true) : Effect.void,
        Effect.fail(error)
      )),
  Effect.catchAllDefect((defect) =>
    Effect.zipRight(
      printError({ _tag: "Defect", message: defect instanceof Error ? defect.message : String(defect) }, asJson),
      Effect.die(defect)
    )),
  Effect.onInterrupt(() => Console.error("interrupted")),
  plainWhereNeeded,
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    // Ctrl-C interrupts the run (killing any training subprocess); the shell convention
    // for a run stopped by SIGINT is exit code 130, not success
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) ? 0 : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
  })
)
