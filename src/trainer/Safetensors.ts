/**
 * A small reader and writer for the safetensors format (Hugging Face), float32 only:
 * an 8-byte little-endian u64 header length, a JSON header mapping each tensor name
 * to {dtype, shape, data_offsets} plus an optional `__metadata__` string map, then the
 * raw little-endian tensor bytes. PyTorch and Hugging Face tools read what this
 * writes. Output bytes are deterministic: `__metadata__` first with sorted keys, then
 * tensors sorted by name, data laid out in that order, the header padded with spaces
 * to a multiple of 8 bytes (as the reference implementation does).
 */
import * as Either from "effect/Either"
import { CheckpointInvalid, TensorMismatch } from "./Errors.js"

/** A named float32 tensor. */
export interface NamedTensor {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyArray<NamedTensor>
  readonly metadata: Readonly<Record<string, string>>
}

const byName = (a: { readonly name: string }, b: { readonly name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0

/**
 * Encode tensors and a metadata string map as safetensors bytes; `TensorMismatch` when
 * a tensor's data does not fill its shape or a name is duplicated or reserved.
 */
export const encodeSafetensors = (
  tensors: ReadonlyArray<NamedTensor>,
  metadata: Readonly<Record<string, string>>
): Either.Either<Uint8Array, TensorMismatch> => {
  const sorted = [...tensors].sort(byName)
  const header: Record<string, unknown> = {}
  const metaKeys = Object.keys(metadata).sort()
  if (metaKeys.length > 0) header["__metadata__"] = Object.fromEntries(metaKeys.map((k) => [k, metadata[k]]))
  let offset = 0
  for (const t of sorted) {
    const elements = t.shape.reduce((a, b) => a * b, 1)
    if (elements !== t.data.length) {
      return Either.left(
        new TensorMismatch({
          message: `tensor ${t.name}: shape [${t.shape.join(", ")}] needs ${elements} values, has ${t.data.length}`
        })
      )
    }
    if (t.name === "__metadata__" || t.name in header) {
      return Either.left(new TensorMismatch({ message: `duplicate or reserved tensor name ${t.name}` }))
    }
    header[t.name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + 4 * t.data.length] }
    offset += 4 * t.data.length
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const headerLength = Math.ceil(json.length / 8) * 8
  const out = new Uint8Array(8 + headerLength + offset)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(headerLength), true)
  out.set(json, 8)
  out.fill(0x20, 8 + json.length, 8 + headerLength)
  let at = 8 + headerLength
  for (const t of sorted) {
    for (const value of t.data) {
      view.setFloat32(at, value, true)
      at += 4
    }
  }
  return Either.right(out)
}

const fail = (message: string): Either.Either<never, CheckpointInvalid> =>
  Either.left(new CheckpointInvalid({ message: `malformed safetensors: ${message}` }))

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isNonNegativeInt = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0

/**
 * Decode safetensors bytes (float32 tensors only). Validates the header length, the
 * JSON, every entry's dtype/shape/offsets, and that the data regions tile the buffer
 * exactly; `CheckpointInvalid` otherwise.
 */
export const decodeSafetensors = (bytes: Uint8Array): Either.Either<SafetensorsFile, CheckpointInvalid> => {
  if (bytes.length < 8) return fail("shorter than the 8-byte header length")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const declared = view.getBigUint64(0, true)
  if (declared > BigInt(bytes.length - 8)) return fail(`header length ${declared} exceeds the file`)
  const headerLength = Number(declared)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)))
  } catch (error) {
    return fail(`header is not UTF-8 JSON (${String(error)})`)
  }
  if (!isRecord(header)) return fail("header is not a JSON object")
  const dataStart = 8 + headerLength
  const dataLength = bytes.length - dataStart
  const metadata: Record<string, string> = {}
  const entries: Array<{ name: string; shape: Array<number>; begin: number; end: number }> = []
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isRecord(entry)) return fail("__metadata__ is not an object")
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") return fail(`__metadata__.${k} is not a string`)
        metadata[k] = v
      }
      continue
    }
    if (!isRecord(entry)) return fail(`entry ${name} is not an object`)
    const { data_offsets: offsets, dtype, shape } = entry
    if (dtype !== "F32") return fail(`tensor ${name} has dtype ${String(dtype)}, only F32 is supported`)
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) return fail(`tensor ${name} has an invalid shape`)
    if (!Array.isArray(offsets) || offsets.length !== 2) return fail(`tensor ${name} has invalid data_offsets`)
    const [begin, end] = offsets
    if (!isNonNegativeInt(begin) || !isNonNegativeInt(end) || begin > end || end > dataLength) {
      return fail(`tensor ${name} has data_offsets outside the data`)
    }
    const elements = shape.reduce((a: number, b: number) => a * b, 1)
    if (end - begin !== 4 * elements) return fail(`tensor ${name}: offsets span ${end - begin} bytes, shape needs ${4 * elements}`)
    entries.push({ name, shape, begin, end })
  }
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let expected = 0
  for (const e of ordered) {
    if (e.begin !== expected) return fail(`tensor ${e.name} does not start where the previous one ends (gap or overlap)`)
    expected = e.end
  }
  if (expected !== dataLength) return fail(`data section holds ${dataLength} bytes, tensors cover ${expected}`)
  const tensors = entries.map((e) => {
    const data = new Float32Array((e.end - e.begin) / 4)
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(dataStart + e.begin + 4 * i, true)
    return { name: e.name, shape: e.shape, data }
  })
  return Either.right({ tensors, metadata })
}
