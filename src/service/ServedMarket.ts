/**
 * The market file of a served market (SPEC §16): SPEC §14's market file without
 * `submissions` (they arrive over HTTP) and with `access`, the sha256 of each bearer
 * token (never a token). What the journal keeps is the file without `access`: the
 * market's rules and services, which a store refuses to change, while tokens may be
 * rotated and researchers added between restarts.
 */
import * as NodeOs from "node:os"
import * as FileSystem from "@effect/platform/FileSystem"
import { textSha256 } from "../domain/CheckpointHash.js"
import { Effect, Schema } from "effect"
import { BadInput, type RecipeInvalid } from "../domain/Errors.js"
import * as Json from "../files/Json.js"
import * as MarketFile from "../files/MarketFile.js"
import { constantTimeEqual } from "../integrity/Receipt.js"
import type * as Continuous from "../market/ContinuousMarket.js"

/** A served market file: the market file's settings, `access` required, no submissions. */
export const ServedMarketFile = Schema.Struct({ ...MarketFile.fields, access: MarketFile.Access }).annotations({
  identifier: "ServedMarketFile"
})
export type ServedMarketFile = typeof ServedMarketFile.Type

const encodeHead = Schema.encodeSync(Schema.Struct(MarketFile.fields))

/** The file as the journal keeps it: everything but `access`, encoded (seeds and wei as strings). */
export const journaled = (file: ServedMarketFile): unknown => {
  const { access: _access, ...head } = file
  return encodeHead(head)
}

/**
 * The live market's config for a served file: its rules, the file for the journal, and
 * this process's name in the journal's `started` events (host and pid: several
 * processes may share a PostgreSQL store).
 */
export const toConfig = (file: ServedMarketFile): Continuous.MarketConfig => ({
  ...MarketFile.toRules(file),
  file: journaled(file),
  worker: `${NodeOs.hostname()}:${process.pid}`
})

/** The sha256 of a token, as the `access` block stores it. */
export const tokenSha256 = (token: string): string => textSha256(token)

/**
 * Who a bearer token belongs to: its sha256 is compared with every digest of `access`
 * in constant time (all of them, whatever matched), so the time taken says nothing
 * about which digest, or how much of one, a guess got right.
 */
export const identify = (access: MarketFile.Access, token: string): Continuous.Viewer | undefined => {
  const digest = tokenSha256(token)
  let found: Continuous.Viewer | undefined
  if (constantTimeEqual(digest, access.operatorTokenSha256)) found = { role: "operator" }
  for (const entry of access.researchers) {
    if (constantTimeEqual(digest, entry.tokenSha256) && found === undefined) found = { role: "researcher", name: entry.name }
  }
  return found
}

/** Every token digest once, every researcher name once: otherwise a token could mean two callers. */
const checkAccess = (access: MarketFile.Access, source: string): Effect.Effect<void, BadInput> => {
  const digests = [access.operatorTokenSha256, ...access.researchers.map((r) => r.tokenSha256)]
  const names = access.researchers.map((r) => r.name)
  if (new Set(digests).size !== digests.length) {
    return Effect.fail(new BadInput({ source, reason: "at access: two callers share a token digest (give each its own token)" }))
  }
  if (new Set(names).size !== names.length) {
    return Effect.fail(new BadInput({ source, reason: "at access.researchers: two researchers share a name" }))
  }
  return Effect.void
}

/**
 * Read a served market file: `submissions` is refused (a served market takes them over
 * HTTP), `access` is required, unknown fields are refused by name.
 */
export const load = (path: string): Effect.Effect<ServedMarketFile, BadInput | RecipeInvalid, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const raw = yield* Effect.flatMap(Json.readText(path), (text) => Json.parse(text, path))
    if (typeof raw === "object" && raw !== null && "submissions" in raw) {
      return yield* new BadInput({
        source: path,
        reason: "at submissions: a served market takes its submissions over HTTP (market submit); remove the field " +
          "(market replay replays a file with submissions)"
      })
    }
    if (typeof raw === "object" && raw !== null && !("access" in raw)) {
      return yield* new BadInput({
        source: path,
        reason: "at access: is missing (a served market needs the sha256 of the operator's and each researcher's " +
          "token: make them with market token)"
      })
    }
    const file = yield* Json.decode(ServedMarketFile, path)(raw)
    yield* checkAccess(file.access, path)
    return file
  })
