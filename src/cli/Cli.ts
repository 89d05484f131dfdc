/**
 * The `trainmarket` command tree. Each subcommand lives in its own module.
 */
import { Command } from "@effect/cli"
import * as Attest from "./Attest.js"
import * as Backends from "./Backends.js"
import * as Compete from "./Compete.js"
import * as Demo from "./Demo.js"
import * as Market from "./Market.js"
import * as Panel from "./Panel.js"
import * as Score from "./Score.js"
import * as Train from "./Train.js"

/** The root command. */
export const root = Command.make("trainmarket").pipe(
  Command.withDescription("markets that pay for certified improvements to distributed-training recipes"),
  Command.withSubcommands([
    Demo.command,
    Train.command,
    Score.command,
    Compete.command,
    Attest.command,
    Market.command,
    Panel.command,
    Backends.command
  ])
)

/** Parse argv and run (argv as `process.argv`: node, script, args…). */
export const run = Command.run(root, { name: "trainmarket", version: "0.1.0" })
