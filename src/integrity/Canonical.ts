/**
 * Canonical JSON (SPEC §15.1): object keys sorted at every depth, no whitespace,
 * numbers in JavaScript's shortest form, bigints as decimal strings, `undefined`
 * fields left out. Two parties that hold the same value write the same bytes, so an
 * HMAC or a hash over it means the same thing to both.
 */

/** The canonical JSON text of a JSON-like value (objects, arrays, strings, numbers, booleans, null, bigints). */
export const stringify = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "bigint") return JSON.stringify(value.toString())
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? "null" : stringify(item))).join(",")}]`
  if (typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stringify(v)}`).join(",")}}`
  }
  return "null"
}
