/**
 * Help pages and command-line diagnoses for every command, read from the command tree
 * itself: a command's @effect/cli help document (its description, arguments and
 * options, as `CommandDescriptor.parse` returns it for `--help`) is turned into a
 * `CommandDoc`, which renders as a short page — the full command path, the usage with
 * required options unbracketed, one line per option, two or three examples — and which
 * explains a command line @effect/cli refused in one line naming the flag
 * (`--seed: '1.5' is not an integer`, `unknown option --recipes (did you mean --recipe?)`).
 *
 * Nothing here is specific to a command: a new command gets its help page and its
 * diagnoses from its options and from `describe` (summary, details, examples).
 */
import { AutoCorrect, CliConfig, type Command, CommandDescriptor, HelpDoc, type ValidationError } from "@effect/cli"
import type { Span } from "@effect/cli/HelpDoc/Span"
import { Effect } from "effect"

/** The heading `describe` puts before a command's examples. */
const EXAMPLES = "EXAMPLES"

/**
 * A command's description for `Command.withDescription`: a one-line summary, optional
 * paragraphs of details, and examples (whole command lines, shown at the end of its help).
 */
export const describe = (
  summary: string,
  options: { readonly details?: ReadonlyArray<string>; readonly examples?: ReadonlyArray<string> } = {}
): HelpDoc.HelpDoc => {
  const examples = options.examples ?? []
  const [first, ...rest] = examples.map((example) => HelpDoc.p(example))
  return HelpDoc.blocks([
    HelpDoc.p(summary),
    ...(options.details ?? []).map((text) => HelpDoc.p(text)),
    ...(first === undefined ? [] : [HelpDoc.h2(EXAMPLES), HelpDoc.enumeration([first, ...rest])])
  ])
}

/** What an option's value is, as far as the command line is concerned. */
export type ValueKind = "flag" | "integer" | "float" | "choice" | "text"

/** One option of a command, as its help shows it. */
export interface OptionDoc {
  /** Its names, long first (`--help`, `-h`). */
  readonly names: ReadonlyArray<string>
  /** What its value looks like (`<u64>`, `held-out|dev`); empty for a flag. */
  readonly placeholder: string
  readonly kind: ValueKind
  /** The accepted values of a choice. */
  readonly choices: ReadonlyArray<string>
  readonly required: boolean
  /** The default @effect/cli fills in, as text. */
  readonly fallback: string | undefined
  readonly description: string
}

/** One positional argument of a command. */
export interface ArgumentDoc {
  /** As written in usage: `<competition.json>`. */
  readonly name: string
  readonly required: boolean
  readonly description: string
}

/** A subcommand in a listing: its path below the command, and its summary. */
export interface CommandEntry {
  readonly path: ReadonlyArray<string>
  readonly summary: string
}

/** Everything a help page shows about one command. */
export interface CommandDoc {
  /** The full command path, the program first: `["trainmarket", "market", "replay"]`. */
  readonly path: ReadonlyArray<string>
  readonly summary: string
  readonly details: ReadonlyArray<string>
  readonly examples: ReadonlyArray<string>
  readonly args: ReadonlyArray<ArgumentDoc>
  /** The command's own options (the built-in ones are listed once, on the program's page). */
  readonly options: ReadonlyArray<OptionDoc>
  /** The built-in options @effect/cli adds to every command (`--help`, `--version`, …). */
  readonly builtIns: ReadonlyArray<OptionDoc>
  /** Every command below this one, in tree order (groups included). */
  readonly commands: ReadonlyArray<CommandEntry>
}

/** The plain text of a span. */
export const spanText = (span: Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
  }
}

/** The leaves of a span, in order. */
const spanLeaves = (span: Span): ReadonlyArray<Span> =>
  span._tag === "Sequence" ? [...spanLeaves(span.left), ...spanLeaves(span.right)] : [span]

/** A help document as a flat list of its blocks (sequences opened). */
const blocksOf = (doc: HelpDoc.HelpDoc): ReadonlyArray<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...blocksOf(doc.left), ...blocksOf(doc.right)] : doc._tag === "Empty" ? [] : [doc]

/** The paragraphs of a block, as text. */
const paragraphsOf = (doc: HelpDoc.HelpDoc): ReadonlyArray<string> =>
  blocksOf(doc).flatMap((block) =>
    block._tag === "Paragraph" || block._tag === "Header"
      ? [spanText(block.value).trim()]
      : block._tag === "Enumeration"
      ? block.elements.flatMap(paragraphsOf)
      : []
  )

const OPTIONAL = "This setting is optional."
const DEFAULTS_TO = "This setting is optional. Defaults to: "

/** What the first paragraph of an option's help (its primitive's description) says the value is. */
const kindOf = (primitive: string): { readonly kind: ValueKind; readonly choices: ReadonlyArray<string> } => {
  if (primitive.startsWith("A true or false value")) return { kind: "flag", choices: [] }
  if (primitive.startsWith("An integer")) return { kind: "integer", choices: [] }
  if (primitive.startsWith("A floating point number")) return { kind: "float", choices: [] }
  if (primitive.startsWith("One of the following: ")) {
    return { kind: "choice", choices: primitive.slice("One of the following: ".length).split(",").map((s) => s.trim()) }
  }
  return { kind: "text", choices: [] }
}

/** An option entry of a help document (`--split held-out | dev`, with its block) as an `OptionDoc`. */
const optionOf = (span: Span, block: HelpDoc.HelpDoc): OptionDoc => {
  // `--split held-out | dev`, `(-h, --help)`: the names, then what the value looks like
  const text = spanText(span).trim()
  const namesEnd = text.startsWith("(") ? text.indexOf(")") + 1 : text.search(/\s|$/)
  const names = text.slice(0, namesEnd).replace(/[(),]/g, " ").split(/\s+/).filter((w) => w.startsWith("-"))
    .sort((a, b) => b.length - a.length)
  const value = text.slice(namesEnd).trim()
  const [primitive = "", ...rest] = paragraphsOf(block)
  const last = rest.at(-1)
  const optional = last !== undefined && last.startsWith(OPTIONAL)
  const description = (optional ? rest.slice(0, -1) : rest).join(" ")
  const { kind, choices } = kindOf(primitive)
  const placeholder = kind === "flag" ? "" : value.replace(/\s*\|\s*/g, "|")
  // a long list of choices is named in the description, not in the usage
  const longChoice = kind === "choice" && choices.join("|").length > 20
  return {
    names,
    placeholder: kind !== "choice" ? placeholder : longChoice ? `<${(names[0] ?? "").replace(/^-+/, "")}>` : choices.join("|"),
    kind,
    choices,
    required: !optional,
    fallback: optional && last.startsWith(DEFAULTS_TO) ? last.slice(DEFAULTS_TO.length) : undefined,
    description: longChoice ? `${description} (one of: ${choices.join(", ")})` : description
  }
}

/** An argument entry (`<market.json>`, with its block) as an `ArgumentDoc`. */
const argumentOf = (span: Span, block: HelpDoc.HelpDoc): ArgumentDoc => {
  const [, ...rest] = paragraphsOf(block)
  const optional = rest.some((text) => text.startsWith("This argument is optional") || text.startsWith(OPTIONAL))
  return {
    name: spanText(span).trim(),
    required: !optional,
    description: rest.filter((text) => !text.startsWith("This argument is optional") && !text.startsWith(OPTIONAL))
      .join(" ")
  }
}

/**
 * A subcommand line of a COMMANDS listing: its usage (whose leading words are its path),
 * the padding @effect/cli puts after it, then its summary.
 */
const entryOf = (doc: HelpDoc.HelpDoc): CommandEntry => {
  const leaves = blocksOf(doc).flatMap((block) => (block._tag === "Paragraph" ? spanLeaves(block.value) : []))
  let padding = -1
  leaves.forEach((leaf, i) => {
    if (leaf._tag === "Text" && leaf.value.length > 0 && leaf.value.trim() === "") padding = i
  })
  const usage = (padding < 0 ? leaves : leaves.slice(0, padding)).map(spanText).join("")
  const words = usage.trim().split(/\s+/)
  const end = words.findIndex((word) => /^[-[<(]/.test(word))
  return {
    path: end < 0 ? words : words.slice(0, end),
    summary: padding < 0 ? "" : leaves.slice(padding + 1).map(spanText).join("").trim()
  }
}

/** Names of the options @effect/cli adds to every command. */
const BUILT_IN_NAMES = new Set(["--completions", "--log-level", "--help", "-h", "--wizard", "--version"])
/** Those of them that take a value (`--log-level debug`). */
const BUILT_IN_WITH_VALUE = new Set(["--completions", "--log-level"])

/** Read a command's help document (as `CommandDescriptor.parse` returns it for `--help`). */
export const read = (path: ReadonlyArray<string>, doc: HelpDoc.HelpDoc): CommandDoc => {
  let section = ""
  let inExamples = false
  const description: Array<string> = []
  const examples: Array<string> = []
  const args: Array<ArgumentDoc> = []
  const options: Array<OptionDoc> = []
  const commands: Array<CommandEntry> = []
  for (const block of blocksOf(doc)) {
    if (block._tag === "Header") {
      const title = spanText(block.value).trim()
      if (block.level === 1) {
        section = title
        inExamples = false
      } else if (title === EXAMPLES) inExamples = true
      continue
    }
    if (section === "DESCRIPTION") {
      if (inExamples) examples.push(...paragraphsOf(block))
      else description.push(...paragraphsOf(block))
    } else if (section === "ARGUMENTS" && block._tag === "DescriptionList") {
      for (const [span, body] of block.definitions) args.push(argumentOf(span, body))
    } else if (section === "OPTIONS" && block._tag === "DescriptionList") {
      for (const [span, body] of block.definitions) options.push(optionOf(span, body))
    } else if (section === "COMMANDS" && block._tag === "Enumeration") {
      for (const element of block.elements) commands.push(entryOf(element))
    }
  }
  const [summary = "", ...details] = description
  const isBuiltIn = (option: OptionDoc) => option.names.some((name) => BUILT_IN_NAMES.has(name))
  return {
    path,
    summary,
    details,
    examples,
    args,
    options: options.filter((option) => !isBuiltIn(option)),
    builtIns: options.filter(isBuiltIn),
    commands
  }
}

// -----------------------------------------------------------------------------
// Rendering
// -----------------------------------------------------------------------------

/** Words of `text` in lines of at most `width` columns, every line after the first indented by `indent`. */
const wrap = (text: string, width: number, indent: number, firstIndent = indent): ReadonlyArray<string> => {
  const lines: Array<string> = []
  let line = ""
  let room = width - firstIndent
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > room) {
      lines.push(line)
      line = word
      room = width - indent
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines
}

/** Units of text (never broken inside) in lines of at most `width` columns, indented. */
const wrapUnits = (units: ReadonlyArray<string>, width: number, firstIndent: number, indent: number): ReadonlyArray<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const unit of units) {
    const room = width - (lines.length === 0 ? firstIndent : indent)
    if (line !== "" && line.length + 1 + unit.length > room) {
      lines.push(line)
      line = unit
    } else line = line === "" ? unit : `${line} ${unit}`
  }
  if (line !== "") lines.push(line)
  return lines.map((text, i) => `${" ".repeat(i === 0 ? firstIndent : indent)}${text}`)
}

/** A two-column list: names on the left, wrapped text on the right (or below, when a name is long). */
const table = (rows: ReadonlyArray<readonly [string, string]>, width: number): ReadonlyArray<string> => {
  const left = Math.min(31, Math.max(...rows.map(([name]) => name.length))) + 4
  return rows.flatMap(([name, text]) => {
    const wrapped = wrap(text, width, left)
    if (name.length + 4 > left) return [`  ${name}`, ...wrapped.map((l) => `${" ".repeat(left)}${l}`)]
    const [first = "", ...more] = wrapped
    return [`  ${name.padEnd(left - 2)}${first}`.trimEnd(), ...more.map((l) => `${" ".repeat(left)}${l}`)]
  })
}

const optionUsage = (option: OptionDoc): string => {
  const [name = ""] = option.names
  const shown = option.placeholder === "" ? name : `${name} ${option.placeholder}`
  return option.required ? shown : `[${shown}]`
}

const optionName = (option: OptionDoc): string => {
  const [name = "", ...aliases] = option.names
  const names = [...aliases, name].join(", ")
  return option.placeholder === "" ? names : `${names} ${option.placeholder}`
}

const optionText = (option: OptionDoc): string =>
  [
    option.required ? "(required)" : "",
    option.description,
    option.fallback === undefined || option.kind === "flag" ? "" : `(default: ${option.fallback})`
  ].filter((part) => part !== "").join(" ")

/** The commands a listing shows: runnable ones (a group's entry is left out when its subcommands are listed). */
const listed = (commands: ReadonlyArray<CommandEntry>): ReadonlyArray<CommandEntry> =>
  commands.filter((entry) =>
    !commands.some((other) =>
      other.path.length > entry.path.length && entry.path.every((word, i) => other.path[i] === word)
    )
  )

/** The help page of a command. `summaries` names the subcommands listed (by their path under this command). */
export const render = (
  doc: CommandDoc,
  options: { readonly width?: number; readonly version?: string; readonly summaries?: (path: ReadonlyArray<string>) => string } = {}
): string => {
  const width = options.width ?? 80
  const name = doc.path.join(" ")
  const isRoot = doc.path.length === 1
  const title = isRoot && options.version !== undefined ? `${name} ${options.version}` : name
  const out: Array<string> = [...wrap(`${title}: ${doc.summary}`, width, 2, 0), ""]
  for (const detail of doc.details) out.push(...wrap(detail, width, 0), "")
  const commands = listed(doc.commands)
  if (commands.length > 0) {
    out.push("Usage:", `  ${name} <command> [options]`, "", "Commands:")
    out.push(...table(
      commands.map((entry) => [entry.path.join(" "), entry.summary === "" ? options.summaries?.(entry.path) ?? "" : entry.summary]),
      width
    ))
    out.push("", `Run '${name} <command> --help' for a command's options.`, "")
  } else {
    const usage = [name, ...doc.args.map((arg) => (arg.required ? arg.name : `[${arg.name}]`)), ...doc.options.map(optionUsage)]
    out.push("Usage:", ...wrapUnits(usage, width, 2, 6), "")
    if (doc.args.length > 0) {
      out.push("Arguments:", ...table(doc.args.map((arg) => [arg.name, `${arg.required ? "" : "(optional) "}${arg.description}`]), width), "")
    }
    if (doc.options.length > 0) out.push("Options:", ...table(doc.options.map((o) => [optionName(o), optionText(o)]), width), "")
  }
  if (isRoot && doc.builtIns.length > 0) {
    out.push("Options of every command:", ...table(doc.builtIns.map((o) => [optionName(o), o.description]), width), "")
  }
  if (doc.examples.length > 0) out.push("Examples:", ...doc.examples.map((example) => `  ${example}`), "")
  return `${out.join("\n").trimEnd()}\n`
}

// -----------------------------------------------------------------------------
// The command tree, from its root
// -----------------------------------------------------------------------------

/** A command whose help can be read: anything `Command.make` and `Command.withSubcommands` build. */
export interface Tree {
  readonly descriptor: Command.Command<string, unknown, unknown, unknown>["descriptor"]
}

/** The help document @effect/cli gives for `path --help` (the root's name first). */
const helpDocument = (tree: Tree, path: ReadonlyArray<string>) =>
  CommandDescriptor.parse(tree.descriptor, [...path, "--help"], CliConfig.defaultConfig).pipe(
    Effect.map((directive) =>
      directive._tag === "BuiltIn" && directive.option._tag === "ShowHelp" ? directive.option.helpDoc : HelpDoc.empty
    ),
    Effect.orElseSucceed(() => HelpDoc.empty)
  )

/** The `CommandDoc` of the command at `path` (the root's name first). */
export const docOf = (tree: Tree, path: ReadonlyArray<string>) =>
  Effect.map(helpDocument(tree, path), (doc) => read(path, doc))

/** Every command path of the tree (below the root), in tree order. */
export const commandPaths = (tree: Tree, rootName: string) => Effect.map(docOf(tree, [rootName]), pathsOf)

/** The command paths a root's page lists. */
const pathsOf = (root: CommandDoc): ReadonlyArray<ReadonlyArray<string>> => root.commands.map((entry) => entry.path)

/** The root's page and the command paths it lists (one parse for both). */
const rootAndPaths = (tree: Tree, rootName: string) =>
  Effect.map(docOf(tree, [rootName]), (root) => ({ root, paths: pathsOf(root) }))

/** The page of the command at `path` (below the root), reusing the root's when `path` is empty. */
const docBelow = (tree: Tree, rootName: string, root: CommandDoc, path: ReadonlyArray<string>) =>
  path.length === 0 ? Effect.succeed(root) : docOf(tree, [rootName, ...path])

/**
 * The command a command line names: the longest command path its leading words spell
 * (options skipped), and how many arguments it took. `["market", "replay", "m.json"]`
 * names `market replay`.
 */
export const commandOf = (
  paths: ReadonlyArray<ReadonlyArray<string>>,
  args: ReadonlyArray<string>
): { readonly path: ReadonlyArray<string>; readonly consumed: number } => {
  let path: ReadonlyArray<string> = []
  let consumed = 0
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (arg === "--") break
    if (BUILT_IN_WITH_VALUE.has(arg)) i++
    if (arg.startsWith("-")) continue
    const next = [...path, arg]
    if (!paths.some((p) => p.length === next.length && p.every((word, j) => word === next[j]))) break
    path = next
    consumed = i + 1
  }
  return { path, consumed }
}

/** The words of a command line before `--` (after it, everything is an argument). */
const beforeDashDash = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const stop = args.indexOf("--")
  return stop < 0 ? args : args.slice(0, stop)
}

/** Does the command line ask for help (`--help` or `-h` before any `--`)? */
export const asksForHelp = (args: ReadonlyArray<string>): boolean => {
  const words = beforeDashDash(args)
  return words.includes("--help") || words.includes("-h")
}

/** The help page of the command a command line names (`trainmarket market replay --help`: `market replay`'s). */
export const page = (tree: Tree, rootName: string, args: ReadonlyArray<string>, version: string) =>
  Effect.gen(function*() {
    const { paths, root } = yield* rootAndPaths(tree, rootName)
    const { path } = commandOf(paths, beforeDashDash(args))
    const doc = yield* docBelow(tree, rootName, root, path)
    const summaries = new Map<string, string>()
    for (const entry of listed(doc.commands)) {
      if (entry.summary === "") {
        const child = yield* docOf(tree, [rootName, ...path, ...entry.path])
        summaries.set(entry.path.join(" "), child.summary)
      }
    }
    return render(doc, { version, summaries: (p) => summaries.get(p.join(" ")) ?? "" })
  })

// -----------------------------------------------------------------------------
// Diagnoses of a refused command line
// -----------------------------------------------------------------------------

const closest = (word: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let distance = Infinity
  for (const candidate of candidates) {
    const d = AutoCorrect.levensteinDistance(word, candidate, CliConfig.defaultConfig)
    if (d < distance) {
      best = candidate
      distance = d
    }
  }
  return best !== undefined && distance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

const suggestion = (word: string, candidates: ReadonlyArray<string>): string => {
  const match = closest(word, candidates)
  return match === undefined ? "" : ` (did you mean ${match}?)`
}

/** Why a value does not suit an option, if it does not. */
const badValue = (option: OptionDoc, value: string): string | undefined => {
  switch (option.kind) {
    case "integer":
      return /^[+-]?\d+$/.test(value.trim()) ? undefined : `'${value}' is not an integer`
    case "float":
      return value.trim() !== "" && Number.isFinite(Number(value)) ? undefined : `'${value}' is not a number`
    case "choice":
      return option.choices.includes(value) ? undefined : `'${value}' is not one of ${option.choices.join(", ")}`
    case "flag":
    case "text":
      return undefined
  }
}

/**
 * What is wrong with a command line for the command `doc`, given the words after its
 * path (`rest`), in one line naming the flag; `undefined` when nothing is found.
 */
export const diagnoseCommand = (doc: CommandDoc, rest: ReadonlyArray<string>): string | undefined => {
  const all = [...doc.options, ...doc.builtIns]
  const byName = new Map(all.flatMap((option) => option.names.map((name) => [name, option] as const)))
  const seen = new Set<OptionDoc>()
  const positional: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i] ?? ""
    if (word === "--") {
      positional.push(...rest.slice(i + 1))
      break
    }
    if (!word.startsWith("-") || word === "-") {
      positional.push(word)
      continue
    }
    const equals = word.indexOf("=")
    const name = equals > 0 ? word.slice(0, equals) : word
    const option = byName.get(name)
    if (option === undefined) {
      return `unknown option ${name}${suggestion(name, all.flatMap((o) => o.names.filter((n) => n.startsWith("--"))))}`
    }
    seen.add(option)
    if (option.kind === "flag") continue
    const value = equals > 0 ? word.slice(equals + 1) : rest[i + 1]
    if (value === undefined) return `${name} needs a value${option.placeholder === "" ? "" : ` (${option.placeholder})`}`
    if (equals < 0) i++
    const problem = badValue(option, value)
    if (problem !== undefined) return `${name}: ${problem}`
  }
  const missing = doc.options.find((option) => option.required && !seen.has(option))
  if (missing !== undefined) return `missing required option ${optionName(missing)}`
  const required = doc.args.filter((arg) => arg.required).length
  if (positional.length < required) return `missing argument ${doc.args[positional.length]?.name ?? ""}`
  if (positional.length > doc.args.length) return `unexpected argument '${positional[doc.args.length] ?? ""}'`
  return undefined
}

/**
 * Why @effect/cli refused `args`, in one line naming the flag or command; `undefined`
 * when the diagnosis finds nothing more precise than @effect/cli's own message.
 */
export const diagnose = (tree: Tree, rootName: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { paths, root } = yield* rootAndPaths(tree, rootName)
    const { path, consumed } = commandOf(paths, args)
    const children = paths.filter((p) => p.length === path.length + 1 && path.every((word, i) => p[i] === word))
    const doc = yield* docBelow(tree, rootName, root, path)
    if (children.length > 0) {
      const names = children.map((p) => p.at(-1) ?? "")
      const word = args.slice(consumed).find((arg) => !arg.startsWith("-"))
      if (word !== undefined) {
        const where = [rootName, ...path].join(" ")
        const hint = closest(word, names)
        return `unknown command '${word}' for ${where} (${
          hint === undefined ? `commands: ${names.join(", ")}` : `did you mean '${hint}'?`
        })`
      }
      return diagnoseCommand({ ...doc, args: [] }, args.slice(consumed))
    }
    // options before the command's last word belong to a group, which has only the built-in ones
    const where = [rootName, ...path].join(" ")
    const misplaced = args.slice(0, consumed).find((arg) =>
      arg.startsWith("-") && !BUILT_IN_NAMES.has(arg.split("=")[0] ?? arg) && doc.options.some((o) => o.names.includes(arg.split("=")[0] ?? arg))
    )
    if (misplaced !== undefined) {
      const name = misplaced.split("=")[0] ?? misplaced
      return `${name} goes after the command: ${where} … ${name}`
    }
    // the words of the command's path are not options or arguments of the command
    const rest = args.filter((_, i) => i >= consumed || !path.includes(args[i] ?? ""))
    return diagnoseCommand(doc, rest)
  })

/** @effect/cli's own message for a refused command line, flattened to one line. */
export const validationText = (error: ValidationError.ValidationError): string => {
  const text = "error" in error ? paragraphsOf(error.error).join(" ") : ""
  return text.replace(/\s+/g, " ").trim()
}
