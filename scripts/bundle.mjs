#!/usr/bin/env node
// Bundle the CLI entry into one ESM file: the binary starts several times faster
// than when Node resolves hundreds of modules of the Effect packages one by one.
// The library itself (dist/**) stays the plain tsc output.
import { build } from "esbuild"

await build({
  entryPoints: ["src/bin.ts"],
  outfile: "dist/bin.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  legalComments: "none",
  // Packages with native or wasm payloads are loaded from node_modules at run time.
  packages: "bundle",
  external: ["@tensorflow/*"],
  banner: { js: "import { createRequire as __trainmarketRequire } from 'node:module'; const require = __trainmarketRequire(import.meta.url);" }
})
