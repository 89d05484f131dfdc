#!/usr/bin/env node
// Bundle the two executables into one ESM file each: they start several times faster
// than when Node resolves hundreds of modules of the Effect packages one by one.
// - src/bin.ts         -> dist/bin.js          (the `trainmarket` CLI)
// - src/trainer/bin.ts -> dist/trainer/bin.js  (the `trainmarket-trainer` the cpu-diloco cluster launches)
// The library itself (dist/**) stays the plain tsc output.
import { build } from "esbuild"

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
// loaded from node_modules at run time.
await build({
  ...shared,
  external: ["@tensorflow/*", "better-sqlite3"],
  banner: { js: "import { createRequire as __trainmarketRequire } from 'node:module'; const require = __trainmarketRequire(import.meta.url);" },
  entryPoints: ["src/bin.ts"],
  outfile: "dist/bin.js"
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
