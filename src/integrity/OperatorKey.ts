/**
 * The operator's secret key (SPEC §15.1): 32 bytes that sign every artifact a cluster
 * makes (receipts), derive a market's seeds when it names no seed key (§15.3) and the
 * checkpoint referee's held-out shards (§15.6). Researchers never see it.
 *
 * Where it comes from: `--key-file`, else `TRAINMARKET_KEY_FILE`, else
 * `$XDG_DATA_HOME/trainmarket/secret` (default `~/.local/share/trainmarket/secret`),
 * created with random bytes and mode 0600 on first use. A key file holds the 32 bytes
 * raw, or as 64 hex digits (what `openssl rand -hex 32` writes).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { bytesToHex, hexToBytes, randomBytes } from "@noble/hashes/utils.js"
import { Config, Context, Effect, Layer, Option } from "effect"
import { KeyInvalid } from "../domain/Errors.js"

/** The operator's key and where it came from. */
export class OperatorKey extends Context.Tag("trainmarket/OperatorKey")<
  OperatorKey,
  {
    /** The 32 secret bytes. */
    readonly key: Uint8Array
    /** Where the key was read from (a path), or `ephemeral`. */
    readonly source: string
  }
>() {}

/** The length of a key in bytes. */
export const KEY_BYTES = 32

/** Decode a key file's bytes: 32 raw bytes, or 64 hex digits (whitespace around them ignored). */
export const decodeKeyFile = (bytes: Uint8Array, path: string): Effect.Effect<Uint8Array, KeyInvalid> => {
  if (bytes.length === KEY_BYTES) return Effect.succeed(bytes)
  const text = new TextDecoder().decode(bytes).trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Effect.succeed(hexToBytes(text.toLowerCase()))
  return Effect.fail(
    new KeyInvalid({ path, reason: `holds ${bytes.length} bytes; a key is ${KEY_BYTES} raw bytes or 64 hex digits` })
  )
}

/** Read the key at `path`, creating it (random bytes, mode 0600, its directory 0700) when there is no file yet. */
export const loadOrCreate = (path: string): Effect.Effect<Uint8Array, KeyInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const fail = (reason: string) => new KeyInvalid({ path, reason })
    const exists = yield* fs.exists(path).pipe(Effect.mapError((e) => fail(e.message)))
    if (!exists) {
      yield* fs.makeDirectory(paths.dirname(path), { recursive: true, mode: 0o700 }).pipe(
        Effect.mapError((e) => fail(`cannot create its directory (${e.message})`))
      )
      // exclusive create: two processes starting at once end up with one key
      yield* fs.writeFile(path, randomBytes(KEY_BYTES), { flag: "wx", mode: 0o600 }).pipe(
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "AlreadyExists",
          () => Effect.void
        ),
        Effect.mapError((e) => fail(`cannot be created (${e.message})`))
      )
    }
    const bytes = yield* fs.readFile(path).pipe(Effect.mapError((e) => fail(`cannot be read (${e.message})`)))
    return yield* decodeKeyFile(bytes, path)
  })

/** The default key path: `$XDG_DATA_HOME/trainmarket/secret`, with `~/.local/share` when XDG_DATA_HOME is unset. */
export const defaultPath: Effect.Effect<string, never, Path.Path> = Effect.gen(function*() {
  const path = yield* Path.Path
  const data = yield* Config.option(Config.nonEmptyString("XDG_DATA_HOME")).pipe(
    Effect.orElseSucceed(() => Option.none<string>())
  )
  const home = yield* Config.option(Config.nonEmptyString("HOME")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const base = Option.getOrElse(data, () => path.join(Option.getOrElse(home, () => "."), ".local", "share"))
  return path.join(base, "trainmarket", "secret")
})

/** Which key file to use: the given one, else `TRAINMARKET_KEY_FILE`, else the default path. */
export const resolvePath = (keyFile: Option.Option<string>): Effect.Effect<string, never, Path.Path> =>
  Option.match(keyFile, {
    onSome: Effect.succeed,
    onNone: () =>
      Config.option(Config.nonEmptyString("TRAINMARKET_KEY_FILE")).pipe(
        Effect.orElseSucceed(() => Option.none<string>()),
        Effect.flatMap((fromEnv) => Option.match(fromEnv, { onSome: Effect.succeed, onNone: () => defaultPath }))
      )
  })

/** The key from a file (created on first use). */
export const layerFile = (path: string): Layer.Layer<OperatorKey, KeyInvalid, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(OperatorKey, Effect.map(loadOrCreate(path), (key) => ({ key, source: path })))

/** The key the SPEC's resolution finds: `keyFile` when given, else `TRAINMARKET_KEY_FILE`, else the default path. */
export const layerFrom = (
  keyFile: Option.Option<string>
): Layer.Layer<OperatorKey, KeyInvalid, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(
    OperatorKey,
    Effect.flatMap(resolvePath(keyFile), (path) => Effect.map(loadOrCreate(path), (key) => ({ key, source: path })))
  )

/** The key from `TRAINMARKET_KEY_FILE` or the default path (created on first use). */
export const layer: Layer.Layer<OperatorKey, KeyInvalid, FileSystem.FileSystem | Path.Path> = layerFrom(Option.none())

/** A given key (32 bytes). */
export const layerBytes = (key: Uint8Array): Layer.Layer<OperatorKey, KeyInvalid> =>
  Layer.effect(
    OperatorKey,
    key.length === KEY_BYTES
      ? Effect.succeed({ key, source: `key ${bytesToHex(key).slice(0, 8)}…` })
      : Effect.fail(new KeyInvalid({ path: "(in memory)", reason: `${key.length} bytes; a key is ${KEY_BYTES}` }))
  )

/**
 * A fresh random key that lives as long as the layer: for a program whose clusters and
 * referees all run in one process (the demo, tests). Artifacts it signs cannot be
 * scored by any other process.
 */
export const layerEphemeral: Layer.Layer<OperatorKey> = Layer.sync(OperatorKey, () => ({
  key: randomBytes(KEY_BYTES),
  source: "ephemeral"
}))
