/**
 * The shell commands of the project's documentation: every fenced block tagged `sh`,
 * `bash` or `shell` in README.md and docs/*.md, split into commands (backslash
 * continuations joined, blank and comment lines dropped). A block preceded by
 * `<!-- not run: <reason> -->` is marked: it needs what a test machine does not have (a
 * GPU framework, a published package) and is listed, not run.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** One shell block of a document. */
export interface ShellBlock {
  readonly file: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly commands: ReadonlyArray<string>
  /** Why the block is not run, when it is marked. */
  readonly notRun: string | undefined
}

const SHELL = new Set(["sh", "bash", "shell"])
const MARKER = /^<!--\s*not run:\s*(.+?)\s*-->$/

/** The commands of a block's lines: continuations joined, blanks and comments dropped. */
export const commandsOf = (lines: ReadonlyArray<string>): ReadonlyArray<string> => {
  const commands: Array<string> = []
  let pending = ""
  for (const raw of lines) {
    const line = pending === "" ? raw.trim() : raw.trimEnd()
    if (pending === "" && (line === "" || line.startsWith("#"))) continue
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    commands.push((pending + line).trim())
    pending = ""
  }
  if (pending !== "") commands.push(pending.trim())
  return commands
}

/** Every fenced block of a Markdown text: its info string, opening line, body and the line before it. */
export const fencedBlocks = (text: string) => {
  const lines = text.split("\n")
  const blocks: Array<{ readonly info: string; readonly line: number; readonly body: ReadonlyArray<string>; readonly before: string }> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] ?? "")
    if (open === null) continue
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && !(lines[i] ?? "").startsWith("```"); i++) body.push(lines[i] ?? "")
    blocks.push({ info: (open[1] ?? "").trim(), line: start + 1, body, before: (lines[start - 1] ?? "").trim() })
  }
  return blocks
}

/** The shell blocks of one Markdown file. */
export const shellBlocks = (file: string, text: string): ReadonlyArray<ShellBlock> =>
  fencedBlocks(text)
    .filter((block) => SHELL.has(block.info))
    .map((block) => ({
      file,
      line: block.line,
      commands: commandsOf(block.body),
      notRun: MARKER.exec(block.before)?.[1]
    }))

/**
 * Lines of blocks that are not tagged as shell but read like commands (`npx …`,
 * `npm …`, `trainmarket …`, `$ …`): they would escape the test, so the docs must not have any.
 */
export const untaggedCommands = (file: string, text: string): ReadonlyArray<string> =>
  fencedBlocks(text)
    .filter((block) => !SHELL.has(block.info) && block.info !== "ts" && block.info !== "json" && block.info !== "toml")
    .flatMap((block) =>
      block.body
        .filter((line) => /^\s*(\$ |npx |npm |trainmarket(-trainer)? )/.test(line))
        .map((line) => `${file}:${block.line}: ${line.trim()}`)
    )

/** README.md and every docs/*.md of a checkout, in a stable order. */
export const documents = (root: string): ReadonlyArray<string> => [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((name) => name.endsWith(".md")).sort().map((name) => `docs/${name}`)
]
