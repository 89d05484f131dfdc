#!/usr/bin/env node
// Bundle the two executables into one ESM file each: they start several times faster
// than when Node resolves hundreds of modules of the Effect packages one by one.
// - src/bin.ts         -> dist/bin.js          (the `trainmarket` CLI) + dist/chunks/ (loaded on use)
// - src/trainer/bin.ts -> dist/trainer/bin.js  (the `trainmarket-trainer` the cpu-diloco cluster launches)
// The library itself (dist/**) stays the plain tsc output.
import { build } from "esbuild"
import { readFile, rm } from "node:fs/promises"

const shared = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  legalComments: "none",
  packages: "bundle"
}

// The CLI never trains: TensorFlow.js stays out of it. better-sqlite3 (the journal of
// `market serve`) is a native addon that finds its compiled binding on disk: it is
// loaded from node_modules at run time. Its start-up is what every
// command pays, so it is split (ESM chunks): the command tree and `--help` load only
// @effect/cli, Effect and the light command modules; each command's implementation
// (src/cli/handlers/) is a chunk loaded by `import()` when that command runs. The
// parsers @effect/cli imports for config files it can read (yaml, toml, ini) are never
// used by trainmarket: they are loaded from node_modules on first use instead of being
// compiled at every start.
const lazyParsers = {
  name: "lazy-config-parsers",
  setup(build) {
    build.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) =>
      args.importer.includes("@effect/cli") ? { path: args.path, namespace: "lazy-parser" } : undefined)
    build.onLoad({ filter: /.*/, namespace: "lazy-parser" }, (args) => ({
      loader: "js",
      contents: [
        "import { createRequire } from 'node:module';",
        "const requireOnUse = createRequire(import.meta.url);",
        `export const parse = (text) => requireOnUse(${JSON.stringify(args.path)}).parse(text);`
      ].join("\n")
    }))
  }
}
// Our sources import Effect through its barrel (`import { Effect, Schema } from "effect"`).
// With code splitting a barrel drags every module any chunk uses into the chunk the
// start-up loads (esbuild assigns modules to chunks by what imports them, and the
// barrel imports all of them), so for the bundle each such import is rewritten to the
// module it names (`import * as Schema from "effect/Schema"`), which is what the barrel
// re-exports. Type-only names are dropped (esbuild drops them anyway).
const FUNCTION_EXPORTS = new Set(["absurd", "flow", "hole", "identity", "pipe", "unsafeCoerce"])
const deepEffectImports = {
  name: "deep-effect-imports",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8")
      const contents = source.replace(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+"effect";?/g, (_, typeOnly, names) => {
        if (typeOnly !== undefined) return ""
        return names.split(",").map((name) => name.trim()).filter((name) => name !== "" && !name.startsWith("type "))
          .map((name) => {
            const [imported, local = imported] = name.split(/\s+as\s+/)
            return FUNCTION_EXPORTS.has(imported)
              ? `import { ${imported} as ${local} } from "effect/Function";`
              : `import * as ${local} from "effect/${imported}";`
          }).join(" ")
      })
      return { contents, loader: "ts" }
    })
  }
}
await rm("dist/chunks", { recursive: true, force: true })
await build({
  ...shared,
  external: ["@tensorflow/*", "better-sqlite3"],
  plugins: [lazyParsers, deepEffectImports],
  splitting: true,
  outdir: "dist",
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  banner: { js: "import { createRequire as __trainmarketRequire } from 'node:module'; const require = __trainmarketRequire(import.meta.url);" },
  entryPoints: ["src/bin.ts"]
})

// The trainer bundles TensorFlow.js's JavaScript too: importing its CommonJS builds from
// node_modules through the ESM loader (syntax detection, export scanning, compiling
// ~2 MB) cost more than its training steps on a small run. Everything TensorFlow.js
// needs is then evaluated only when training starts (a bad config is reported without
// it), and the cpu backend only if wasm cannot start. The .wasm files are still read
// from the installed @tensorflow/tfjs-backend-wasm package (`Backend.ts` points tfjs at
// them), so the trainer works offline. The emscripten glue reads `__dirname` and
// `__filename` (for a default it never uses), so the banner defines them as in CommonJS.
// `node-fetch` (tfjs's http model loader, never called here) stays a run-time import.
await build({
  ...shared,
  external: ["node-fetch"],
  banner: {
    js: [
      "import { createRequire as __trainmarketRequire } from 'node:module';",
      "import { fileURLToPath as __trainmarketFileURLToPath } from 'node:url';",
      "import { dirname as __trainmarketDirname } from 'node:path';",
      "const require = __trainmarketRequire(import.meta.url);",
      "const __filename = __trainmarketFileURLToPath(import.meta.url);",
      "const __dirname = __trainmarketDirname(__filename);"
    ].join(" ")
  },
  entryPoints: ["src/trainer/bin.ts"],
  outfile: "dist/trainer/bin.js"
})
