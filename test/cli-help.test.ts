/**
 * Help pages and refused command lines, for every command of the tree (in-process):
 * each page names its full command path, marks required options, ends with examples,
 * has none of @effect/cli's boilerplate; a bad command line is one line naming the flag
 * (exit 2), or the JSON error document under --json.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Cli from "../src/cli/Cli.js"
import * as Help from "../src/cli/Help.js"
import * as Layers from "../src/Layers.js"
import { jsonOf, runInProcess } from "./support/cli.js"

const paths: ReadonlyArray<ReadonlyArray<string>> = await Effect.runPromise(
  Help.commandPaths(Cli.root, Cli.NAME).pipe(Effect.provide(Layers.platform))
)
const leaves = paths.filter((p) => !paths.some((q) => q.length > p.length && p.every((w, i) => q[i] === w)))

describe("help", () => {
  it("the tree has the documented commands", () => {
    assert.deepStrictEqual(leaves.map((p) => p.join(" ")), [
      "demo",
      "train",
      "score",
      "compete",
      "market replay",
      "market serve",
      "market submit",
      "market status",
      "market audit",
      "market token",
      "panel judge",
      "attest report",
      "attest hash",
      "attest verify",
      "backends check",
      "runs list",
      "runs clean"
    ])
  })

  it("every command's page names its full path, lists its options, ends with two or three examples", async () => {
    for (const path of leaves) {
      const full = `trainmarket ${path.join(" ")}`
      const result = await runInProcess([...path, "--help"])
      assert.strictEqual(result.code, 0, full)
      assert.strictEqual(result.stderr, "")
      const lines = result.stdout.trimEnd().split("\n")
      assert.isTrue(lines[0]!.startsWith(`${full}: `), lines[0])
      const usage = lines.indexOf("Usage:")
      assert.isTrue(lines[usage + 1]!.startsWith(`  ${full} `), `${full}: ${lines[usage + 1]}`)
      const examples = lines.slice(lines.indexOf("Examples:") + 1)
      assert.include([2, 3], examples.length, full)
      for (const example of examples) assert.match(example, new RegExp(`(^  | \\| )${full}( |$)`), example)
      // no @effect/cli boilerplate, no padding: every line but the examples fits 80 columns
      for (const word of ["A user-defined piece of text", "--wizard", "--completions", "This setting is optional"]) {
        assert.notInclude(result.stdout, word, full)
      }
      for (const line of lines.slice(0, lines.indexOf("Examples:"))) assert.isAtMost(line.length, 80, line)
      assert.isAtMost(lines.length, 45, full)
    }
  })

  it("required options are unbracketed in the usage and marked in the list", async () => {
    const page = (await runInProcess(["panel", "judge", "--help"])).stdout
    const usage = page.slice(page.indexOf("Usage:\n") + 7, page.indexOf("\n\n", page.indexOf("Usage:"))).replace(/\s+/g, " ")
    assert.strictEqual(
      usage,
      " trainmarket panel judge --artifact <json|file> --claim <value> [--shards <n,n,…>] [--quorum <m>] " +
        "[--majority <n>] [--base-shards <b>] [--consensus mean|median] [--key-file <path>] [--json]"
    )
    assert.match(page, /\n {2}--artifact <json\|file> +\(required\) the artifact/)
    assert.match(page, /\n {2}--quorum <m> +how many referees/)
    const score = (await runInProcess(["score", "-h"])).stdout
    assert.match(score, /--split held-out\|dev +the split to measure on \(default: held-out\)/)
  })

  it("the program's page lists every command once with its summary, and the options of every command once", async () => {
    const result = await runInProcess(["--help"])
    assert.strictEqual(result.code, 0)
    for (const path of leaves) assert.match(result.stdout, new RegExp(`\\n  ${path.join(" ")} +\\S`), path.join(" "))
    assert.include(result.stdout, "Options of every command:")
    for (const flag of ["--completions", "--log-level", "-h, --help", "--wizard", "--version"]) {
      assert.strictEqual(result.stdout.split(flag).length - 1, 1, flag)
    }
    assert.include(result.stdout, "backends check  check that the backends a cluster spec names are installed")
    assert.include((await runInProcess(["backends", "--help"])).stdout, "(prime, Psyche, cpu-diloco)")
  })

  it("a group named without a subcommand shows its page", async () => {
    const result = await runInProcess(["market"])
    assert.strictEqual(result.code, 0)
    assert.isTrue(result.stdout.startsWith("trainmarket market: "))
    assert.match(result.stdout, /\n {2}replay +replay a continuous market/)
  })
})

describe("refused command lines", () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["train", "--seed", "1.5"], "--seed: '1.5' is not an integer"],
    [["train", "--seed=-3"], "--seed: '-3' is outside 0..18446744073709551615 (a seed is an unsigned 64-bit integer)"],
    [["train", "--recipes", "x"], "unknown option --recipes (did you mean --recipe?)"],
    [["score", "--split", "test"], "--split: 'test' is not one of held-out, dev"],
    [["score", "--shards", "1.5"], "--shards: '1.5' is not an integer"],
    [["score", "--shards"], "--shards needs a value (<n>)"],
    [["panel", "judge", "--claim", "1"], "missing required option --artifact <json|file>"],
    [["compete"], "missing argument <competition.json>"],
    [["compete", "a.json", "b.json"], "unexpected argument 'b.json'"],
    [["comptee"], "unknown command 'comptee' for trainmarket (did you mean 'compete'?)"],
    [["market", "play"], "unknown command 'play' for trainmarket market (did you mean 'replay'?)"],
    [["runs", "clean", "--older-than", "soon"], "--older-than: 'soon' is not a duration (e.g. 7d, 12h, 30m, 1h30m)"],
    [["--json", "demo"], "--json goes after the command: trainmarket demo … --json"]
  ]

  it("is one line naming the flag, exit 2", async () => {
    for (const [args, message] of cases.filter(([args]) => !args.includes("--json"))) {
      const result = await runInProcess(args)
      assert.strictEqual(result.code, 2, args.join(" "))
      assert.strictEqual(result.stdout, "")
      assert.strictEqual(result.stderr, `trainmarket: BadInput: ${message}\n`)
    }
  })

  it("is the JSON error document with --json anywhere on the line", async () => {
    for (const [args, message] of cases) {
      // at the end, or before an option that wants a value and has none
      const result = await runInProcess(
        args.includes("--json")
          ? args
          : args.at(-1)?.startsWith("--") === true
          ? [...args.slice(0, -1), "--json", ...args.slice(-1)]
          : [...args, "--json"]
      )
      assert.strictEqual(result.code, 2, args.join(" "))
      assert.deepStrictEqual(jsonOf(result), { error: { _tag: "BadInput", message } })
      assert.strictEqual(result.stderr, "")
    }
  })
})
