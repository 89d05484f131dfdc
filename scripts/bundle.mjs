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
  // Packages with native or wasm payloads are loaded from node_modules at run time
  // (the trainer finds the tfjs wasm files there, so it trains offline).
  packages: "bundle",
  external: ["@tensorflow/*"],
  banner: { js: "import { createRequire as __trainmarketRequire } from 'node:module'; const require = __trainmarketRequire(import.meta.url);" }
}

await build({ ...shared, entryPoints: ["src/bin.ts"], outfile: "dist/bin.js" })
await build({ ...shared, entryPoints: ["src/trainer/bin.ts"], outfile: "dist/trainer/bin.js" })
