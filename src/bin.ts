#!/usr/bin/env node
/**
 * The `trainmarket` binary: runs the command tree (`Cli.main`) on Node's streams and
 * exits with its code. Ctrl-C interrupts the run (killing any training subprocess) and
 * exits 130, the shell convention for a run stopped by SIGINT. A command stopped by a
 * signal may set the code it ends with (`market serve` after SIGTERM: 0, a drained stop).
 * Only the light command tree is imported here; each command loads its implementation
 * when it runs.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer } from "effect"
import { main } from "./cli/Cli.js"
import * as Output from "./cli/Output.js"

main(process.argv.slice(2)).pipe(
  Effect.flatMap((code) => Effect.sync(() => void (process.exitCode = code))),
  // a command that set its own exit code on the way out stopped as it meant to (not "interrupted")
  Effect.onInterrupt(() => (process.exitCode === undefined ? Output.problem("interrupted") : Effect.void)),
  Effect.provide(Layer.merge(Output.layer, NodeContext.layer)),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) =>
      onExit(
        Exit.isSuccess(exit)
          ? Number(process.exitCode ?? 0)
          : Cause.isInterruptedOnly(exit.cause)
          ? Number(process.exitCode ?? 130)
          : 1
      )
  })
)
