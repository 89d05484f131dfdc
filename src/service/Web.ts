/**
 * The market's web page (SPEC §17) on the service's own router: `GET /` (the page),
 * `GET /assets/page.js` (its script, bundled at build time with its charting library)
 * and `GET /assets/style.css`. Every byte the page needs comes from here, so it works
 * with no network but the market's. The files are read once, when the service starts,
 * from the package's `dist/web` (`npm run build` writes them).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Option } from "effect"
import { fileURLToPath } from "node:url"

/** The files of the page, and their content types. */
const FILES = [
  { path: "/", file: "index.html", contentType: "text/html; charset=utf-8" },
  { path: "/assets/page.js", file: "page.js", contentType: "text/javascript; charset=utf-8" },
  { path: "/assets/style.css", file: "style.css", contentType: "text/css; charset=utf-8" }
] as const

/**
 * Where the built page may be, seen from this module: `dist/web` beside the bundled CLI
 * (`dist/bin.js` and its chunks), from the library (`dist/service/Web.js`), and from the
 * source tree (`src/service/Web.ts`, under a test runner).
 */
export const webCandidates = (moduleUrl: string = import.meta.url): ReadonlyArray<string> =>
  ["./web/", "../web/", "../../dist/web/"].map((relative) => fileURLToPath(new URL(relative, moduleUrl)))

const NOT_BUILT = "<!doctype html><meta charset=utf-8><title>trainmarket</title>" +
  "<p>The market is running, but its web page was not built: run <code>npm run build</code> and restart." +
  " The API is at <a href=\"/openapi.json\">/openapi.json</a>.</p>"

/** Read the built page's files from the first place that has them all. */
const readPage = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  for (const directory of webCandidates()) {
    const contents = yield* Effect.forEach(FILES, (entry) => fs.readFileString(`${directory}${entry.file}`)).pipe(
      Effect.option
    )
    if (Option.isSome(contents)) return Option.some(contents.value)
  }
  return Option.none<ReadonlyArray<string>>()
})

/** The page's routes on the API's router. */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const page = yield* readPage
    for (const [i, entry] of FILES.entries()) {
      const body = Option.match(page, { onNone: () => undefined, onSome: (files) => files[i] })
      yield* router.get(
        entry.path,
        body === undefined
          ? entry.path === "/"
            ? HttpServerResponse.html(NOT_BUILT)
            : Effect.succeed(HttpServerResponse.text("not built", { status: 404 }))
          : Effect.succeed(
            HttpServerResponse.text(body, {
              contentType: entry.contentType,
              headers: { "cache-control": "no-cache", "x-content-type-options": "nosniff" }
            })
          )
      )
    }
  })
)
