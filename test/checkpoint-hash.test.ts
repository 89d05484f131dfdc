/**
 * The checkpoint hash of SPEC §15.1 against digests computed here independently with
 * `node:crypto`: a file is the sha256 of its bytes; a directory is the sha256 of the
 * sorted lines `<relative path> <sha256 of file>\n` over every regular file below it.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as CheckpointHash from "../src/domain/CheckpointHash.js"
import { removeTempDirs, tempDir } from "./fixtures/standins.js"

afterAll(removeTempDirs)

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex")

const write = (file: string, data: string | Buffer): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, data)
}

layer(NodeContext.layer, { excludeTestServices: true })("checkpoint hash", (it) => {
  it.effect("a file: the sha256 of its bytes (empty, small, and larger than one read chunk)", () =>
    Effect.gen(function*() {
      const dir = tempDir("hash-file")
      const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0)
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) % 251
      const cases: ReadonlyArray<readonly [string, string | Buffer]> = [["empty", ""], ["small", "weights\n"], ["big", big]]
      for (const [name, data] of cases) {
        write(path.join(dir, name), data)
        assert.strictEqual(yield* CheckpointHash.checkpointSha256(path.join(dir, name)), sha256(data))
      }
      // sha256("") is the well-known constant
      assert.strictEqual(
        yield* CheckpointHash.checkpointSha256(path.join(dir, "empty")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
      )
    }))

  it.effect("a nested directory: sorted `<path> <sha256>` lines over every regular file, `/` separators", () =>
    Effect.gen(function*() {
      const dir = tempDir("hash-dir")
      const files: Record<string, string> = {
        "model.safetensors": "tensor bytes",
        "b/z.txt": "z",
        "a/deep/x.bin": "x",
        "a/deep/y.bin": "",
        "a-b": "dash sorts before slash",
        "a/c": "c"
      }
      for (const [name, data] of Object.entries(files)) write(path.join(dir, ...name.split("/")), data)
      fs.mkdirSync(path.join(dir, "empty-subdirectory"))
      // by the path string: "a-b" < "a/c" < "a/deep/x.bin" < "a/deep/y.bin" < "b/z.txt" < "model.safetensors"
      const manifest = ["a-b", "a/c", "a/deep/x.bin", "a/deep/y.bin", "b/z.txt", "model.safetensors"]
        .map((name) => `${name} ${sha256(files[name] ?? "")}\n`)
        .join("")
      assert.strictEqual(yield* CheckpointHash.directoryManifest(dir), manifest)
      assert.strictEqual(yield* CheckpointHash.checkpointSha256(dir), sha256(manifest))
      // an empty directory hashes the empty manifest
      assert.strictEqual(yield* CheckpointHash.checkpointSha256(path.join(dir, "empty-subdirectory")), sha256(""))
    }))

  it.effect("changing one byte of one file, or renaming it, changes the directory's hash", () =>
    Effect.gen(function*() {
      const dir = tempDir("hash-change")
      write(path.join(dir, "step_6", "a.distcp"), "aaaa")
      write(path.join(dir, "step_6", ".metadata"), "meta")
      const before = yield* CheckpointHash.checkpointSha256(dir)
      write(path.join(dir, "step_6", "a.distcp"), "aaab")
      const edited = yield* CheckpointHash.checkpointSha256(dir)
      fs.renameSync(path.join(dir, "step_6", "a.distcp"), path.join(dir, "step_6", "b.distcp"))
      const renamed = yield* CheckpointHash.checkpointSha256(dir)
      assert.strictEqual(new Set([before, edited, renamed]).size, 3)
    }))

  it.effect("a missing checkpoint fails with the platform's error naming it", () =>
    Effect.gen(function*() {
      const missing = path.join(tempDir("hash-missing"), "nope")
      const error = yield* Effect.flip(CheckpointHash.checkpointSha256(missing))
      assert.include(error.message, missing)
    }))

  it("the artifact field accepts 64 lower-case hex digits only", () => {
    const decode = Schema.decodeUnknownEither(CheckpointHash.Sha256Hex)
    assert.isTrue(Either.isRight(decode(sha256("x"))))
    assert.isTrue(Either.isLeft(decode(sha256("x").toUpperCase())))
    assert.isTrue(Either.isLeft(decode(sha256("x").slice(1))))
  })
})
