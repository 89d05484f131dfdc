// What the two commands in bin/ share: run a built entry point of dist/, or say how to
// build it when it is not built yet (a fresh clone before `npm run build`).
import { existsSync } from "node:fs"

/** Import `dist/<entry>` when it exists; otherwise print that `name` is not built yet and exit 1. */
export const launch = async (name, entry) => {
  const url = new URL(`../dist/${entry}`, import.meta.url)
  if (existsSync(url)) return import(url.href)
  process.stderr.write(`${name} is not built yet: run npm run build\n`)
  process.exitCode = 1
}
