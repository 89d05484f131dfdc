/**
 * The checkpoint hash of SPEC §15.1: what binds an artifact to the bytes its cluster
 * left on disk, so a scorer can tell that a checkpoint changed after training.
 *
 * - a file: the sha256 of its bytes;
 * - a directory: the sha256 of the lines `<relative path> <sha256 of file>\n`, one per
 *   regular file below it (recursively; paths relative to the directory with `/`
 *   separators), sorted by the path string.
 *
 * Digests are lower-case hex. Files are streamed, so a checkpoint of any size hashes in
 * constant memory. A symbolic link to a file counts as that file; links to directories
 * are not followed.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Schema, Stream } from "effect"

/** A sha256 digest as 64 lower-case hex digits. */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "must be a sha256 digest: 64 lower-case hex digits" })
)

/** The sha256 of a text (its UTF-8 bytes), as lower-case hex: token digests, commitments. */
export const textSha256 = (text: string): string => bytesToHex(sha256(utf8ToBytes(text)))

/** The sha256 of one file's bytes, read as a stream. */
export const fileSha256 = (file: string): Effect.Effect<string, PlatformError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => {
    const hash = sha256.create()
    return Stream.runForEach(fs.stream(file), (chunk) => Effect.sync(() => hash.update(chunk))).pipe(
      Effect.map(() => bytesToHex(hash.digest()))
    )
  })

/** The manifest a directory's hash is taken over: `<relative path> <sha256>\n` per regular file, sorted by path. */
export const directoryManifest = (
  directory: string
): Effect.Effect<string, PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const entries = yield* fs.readDirectory(directory, { recursive: true })
    const files: Array<string> = []
    for (const entry of entries) {
      if ((yield* fs.stat(path.join(directory, entry))).type === "File") files.push(entry.split(path.sep).join("/"))
    }
    files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const lines = yield* Effect.forEach(files, (file) =>
      Effect.map(fileSha256(path.join(directory, ...file.split("/"))), (digest) => `${file} ${digest}\n`))
    return lines.join("")
  })

/** The checkpoint hash of a file or a directory (see the module doc). */
export const checkpointSha256 = (
  checkpoint: string
): Effect.Effect<string, PlatformError, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(checkpoint)).pipe(
    Effect.flatMap((info) =>
      info.type === "Directory"
        ? Effect.map(directoryManifest(checkpoint), (manifest) => textSha256(manifest))
        : fileSha256(checkpoint)
    )
  )
