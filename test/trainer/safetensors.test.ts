import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { decodeCheckpoint, encodeCheckpoint } from "../../src/trainer/Checkpoint.js"
import { CheckpointInvalid } from "../../src/trainer/Errors.js"
import { initWeights, paramSpecs } from "../../src/trainer/Mlp.js"
import { decodeSafetensors, encodeSafetensors } from "../../src/trainer/Safetensors.js"

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A safetensors file assembled by hand, the way another writer might lay it out. */
const handMade = (header: string, data: ReadonlyArray<number>): Uint8Array => {
  const json = bytesOf(header)
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}

/** The success of an `Either`; a failure fails the test with the error itself. */
const right = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (error) => error)

const throwsCheckpointInvalid = (f: () => Either.Either<unknown, CheckpointInvalid>, fragment: string): void => {
  const result = f()
  if (Either.isRight(result)) return assert.fail(`expected CheckpointInvalid mentioning "${fragment}"`)
  assert.instanceOf(result.left, CheckpointInvalid)
  assert.strictEqual(result.left._tag, "CheckpointInvalid")
  assert.include(result.left.message, fragment)
}

describe("safetensors", () => {
  it("lays out the header length, JSON header and little-endian data byte by byte", () => {
    const bytes = right(encodeSafetensors(
      [
        { name: "b", shape: [2], data: Float32Array.of(1.5, -2) },
        { name: "a", shape: [1, 1], data: Float32Array.of(0.25) }
      ],
      { z: "last", k: "first" }
    ))
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const headerLength = Number(view.getBigUint64(0, true))
    // bytes 0..7: the header length as u64 little-endian, so byte 0 is its low byte
    assert.strictEqual(bytes[0], headerLength & 0xff)
    assert.strictEqual(bytes[1], (headerLength >> 8) & 0xff)
    assert.deepStrictEqual([...bytes.subarray(2, 8)], [0, 0, 0, 0, 0, 0])
    assert.strictEqual(headerLength % 8, 0)
    assert.strictEqual(bytes.length, 8 + headerLength + 12)
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))
    assert.strictEqual(headerText[0], "{")
    // padding is spaces after the JSON object
    const trimmed = headerText.trimEnd()
    assert.match(headerText.slice(trimmed.length), /^ *$/)
    assert.strictEqual(
      trimmed,
      '{"__metadata__":{"k":"first","z":"last"},' +
        '"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},' +
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    )
    // 0.25 = 0x3E800000, 1.5 = 0x3FC00000, -2 = 0xC0000000, each little-endian
    assert.deepStrictEqual(
      [...bytes.subarray(8 + headerLength)],
      [0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0]
    )
  })

  it("round-trips tensors and metadata", () => {
    const tensors = [
      { name: "w", shape: [2, 3], data: Float32Array.of(1, -0, 3.5, Number.MIN_VALUE, 1e30, -7) },
      { name: "empty", shape: [0], data: new Float32Array(0) },
      { name: "s", shape: [], data: Float32Array.of(42) }
    ]
    const decoded = right(decodeSafetensors(right(encodeSafetensors(tensors, { note: "ünïcode ✓" }))))
    assert.deepStrictEqual(decoded.metadata, { note: "ünïcode ✓" })
    const byName = new Map(decoded.tensors.map((t) => [t.name, t] as const))
    for (const t of tensors) {
      const got = byName.get(t.name)
      assert.isDefined(got)
      assert.deepStrictEqual(got?.shape, t.shape)
      assert.deepStrictEqual([...(got?.data ?? [])], [...Float32Array.from(t.data)])
    }
  })

  it("reads a file another writer laid out (unsorted keys, no padding, no metadata)", () => {
    const file = handMade(
      '{"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
      [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40]
    )
    const decoded = right(decodeSafetensors(file))
    const byName = new Map(decoded.tensors.map((t) => [t.name, [...t.data]] as const))
    assert.deepStrictEqual(byName.get("x"), [1])
    assert.deepStrictEqual(byName.get("y"), [2])
    assert.deepStrictEqual(decoded.metadata, {})
  })

  it("rejects malformed files", () => {
    throwsCheckpointInvalid(() => decodeSafetensors(new Uint8Array(4)), "shorter")
    const tooLong = handMade("{}", [])
    new DataView(tooLong.buffer).setBigUint64(0, 1000n, true)
    throwsCheckpointInvalid(() => decodeSafetensors(tooLong), "exceeds")
    throwsCheckpointInvalid(() => decodeSafetensors(handMade("{nope", [])), "JSON")
    throwsCheckpointInvalid(
      () => decodeSafetensors(handMade('{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      "dtype"
    )
    throwsCheckpointInvalid(
      () =>
        decodeSafetensors(
          handMade(
            '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
            [0, 0, 0, 0, 0, 0, 0, 0]
          )
        ),
      "overlap"
    )
    throwsCheckpointInvalid(
      () => decodeSafetensors(handMade('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      "shape needs"
    )
  })

  it("a checkpoint carries its model config in __metadata__ and decodes back to the same weights", () => {
    const model = { context: 3, embed: 2, hidden: 5, vocab: 4 }
    const weights = initWeights(model, 11n)
    const bytes = right(encodeCheckpoint({
      model,
      data: { kind: "markov", order: 2, alphabet: 4, seed: 9n },
      vocabulary: undefined,
      weights,
      training: { seed: "11" }
    }))
    const raw = right(decodeSafetensors(bytes))
    assert.strictEqual(raw.metadata["context"], "3")
    assert.strictEqual(raw.metadata["hidden"], "5")
    assert.strictEqual(raw.metadata["embed"], "2")
    assert.strictEqual(raw.metadata["vocab"], "4")
    assert.deepStrictEqual(JSON.parse(raw.metadata["data"] ?? "null"), { kind: "markov", order: 2, alphabet: 4, seed: "9" })
    const back = right(decodeCheckpoint(bytes))
    assert.deepStrictEqual(back.model, model)
    assert.strictEqual(back.training["seed"], "11")
    paramSpecs(model).forEach((p, i) => assert.deepStrictEqual([...(back.weights[i] ?? [])], [...(weights[i] ?? [])], p.name))
    assert.deepStrictEqual(right(encodeCheckpoint(back)), bytes)
  })

  it("refuses to encode tensors that do not fit (a bug in the caller, as a TensorMismatch)", () => {
    const short = encodeSafetensors([{ name: "x", shape: [2, 2], data: new Float32Array(3) }], {})
    assert.isTrue(Either.isLeft(short) && short.left._tag === "TensorMismatch" && short.left.message.includes("needs 4 values"))
    const reserved = encodeSafetensors([{ name: "__metadata__", shape: [1], data: new Float32Array(1) }], {})
    assert.isTrue(Either.isLeft(reserved) && reserved.left._tag === "TensorMismatch")
    const model = { context: 1, embed: 1, hidden: 1, vocab: 2 }
    const missing = encodeCheckpoint({
      model,
      data: { kind: "markov", order: 1, alphabet: 2, seed: 0n },
      vocabulary: undefined,
      weights: initWeights(model, 0n).slice(0, 4),
      training: {}
    })
    assert.isTrue(Either.isLeft(missing) && missing.left._tag === "TensorMismatch" && missing.left.message.startsWith("encodeCheckpoint:"))
  })
})
