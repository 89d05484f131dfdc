/**
 * `trainmarket panel judge`: an m-of-n panel of simulated held-out referees judges a
 * claimed held-out value of an artifact (SPEC §9, §14). The panel is given either as
 * explicit shard counts and a quorum (`--shards 12,16,64 --quorum 2`) or as a majority
 * panel (`--majority 5 --base-shards 13`).
 */
import { Command, Options } from "@effect/cli"
import { Either } from "effect"
import { describe } from "./Help.js"
import { artifact, json, keyFile, lazily, parsedOption, reported, showHelp } from "./Shared.js"

/** A claim: a decimal number, or NaN / Infinity / -Infinity. */
export const readClaim = (text: string): Either.Either<number, string> => {
  const trimmed = text.trim()
  const value = Number(trimmed)
  return trimmed === "" || (Number.isNaN(value) && trimmed.toLowerCase() !== "nan")
    ? Either.left(`'${text}' is not a number`)
    : Either.right(value)
}

/** `12,16,64`: shard counts, integers. */
export const readShards = (text: string): Either.Either<ReadonlyArray<number>, string> => {
  const parts = text.split(",").map((part) => part.trim())
  const counts = parts.map(Number)
  return parts.some((part) => part === "") || counts.some((count) => !Number.isInteger(count))
    ? Either.left(`'${text}' is not a comma-separated list of integers`)
    : Either.right(counts)
}

const claim = parsedOption(
  Options.text("claim").pipe(
    Options.withPseudoName("<value>"),
    Options.withDescription("the claimed held-out value (a number; NaN and infinities are accepted by no referee)")
  ),
  "--claim",
  readClaim
)
const shards = parsedOption(
  Options.text("shards").pipe(
    Options.withPseudoName("<n,n,…>"),
    Options.withDescription("comma-separated shard counts, one referee each (e.g. 12,16,64); with --quorum")
  ),
  "--shards",
  readShards
).pipe(Options.optional)
const quorum = Options.integer("quorum").pipe(
  Options.withPseudoName("<m>"),
  Options.withDescription("how many referees must accept (1..n); with --shards"),
  Options.optional
)
const majority = Options.integer("majority").pipe(
  Options.withPseudoName("<n>"),
  Options.withDescription("a majority panel of n referees (quorum floor(n/2)+1); with --base-shards"),
  Options.optional
)
const baseShards = Options.integer("base-shards").pipe(
  Options.withPseudoName("<b>"),
  Options.withDescription("shard count of the first majority referee (the others: +1, +2, …)"),
  Options.optional
)
const consensus = Options.choice("consensus", ["mean", "median"]).pipe(
  Options.withDescription("how the referees' values combine: mean (the reference, the default) or median (robust to one liar)"),
  Options.withDefault("mean" as const)
)

const judgeConfig = { artifact, claim, shards, quorum, majority, baseShards, consensus, keyFile, json }

/** What the `judge` handler is given. */
export type JudgeOptions = Command.Command.ParseConfig<typeof judgeConfig>

/** `panel judge`. */
export const judgeCommand = Command.make(
  "judge",
  judgeConfig,
  (options) => lazily(() => import("./handlers/Panel.js"), (handler) => handler.judge(options))
).pipe(
  Command.withDescription(describe("an m-of-n panel of held-out referees judges a claimed held-out value", {
    details: [
      "Give --shards with --quorum, or --majority with --base-shards. Each referee checks the artifact's receipt, " +
      "measures it on the held-out split and accepts iff the claim lies in its 95% interval. A rejected claim " +
      "still exits 0."
    ],
    examples: [
      "trainmarket panel judge --artifact artifact.json --claim -2.2795 --shards 12,16,64 --quorum 2",
      "trainmarket panel judge --artifact artifact.json --claim -2.2795 --majority 5 --base-shards 13 --consensus median --json"
    ]
  })),
  reported
)

/** The `panel` group. */
export const command = Command.make("panel", {}, showHelp).pipe(
  Command.withDescription("m-of-n re-score panels"),
  Command.withSubcommands([judgeCommand])
)
