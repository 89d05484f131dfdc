#!/usr/bin/env node
// Build the market's web page (SPEC §17) into dist/web: the page's script bundled with
// its charting library for the browser, its HTML and style copied. `market serve`
// serves these files itself, so the page needs no CDN and no network but the market's.
import { build } from "esbuild"
import { copyFileSync, mkdirSync } from "node:fs"

mkdirSync("dist/web", { recursive: true })
await build({
  entryPoints: ["src/web/page.ts"],
  outfile: "dist/web/page.js",
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none"
})
for (const file of ["index.html", "style.css"]) copyFileSync(`src/web/${file}`, `dist/web/${file}`)
