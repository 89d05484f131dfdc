/**
 * The number and text rules every file format and option shares, defined once: an
 * integer in a range, a finite positive number, a non-empty string. Messages name the
 * field when one is given (`islands must be an integer in 1..4294967295`).
 */
import * as Schema from "effect/Schema"

const named = (name: string | undefined, rule: string): string => (name === undefined ? rule : `${name} ${rule}`)

/** An integer in `min..max`. */
export const intIn = (min: number, max: number, name?: string) =>
  Schema.Number.pipe(
    Schema.filter((x) =>
      (Number.isInteger(x) && x >= min && x <= max) || named(name, `must be an integer in ${min}..${max}`)
    )
  )

/** A finite number above 0. */
export const positiveFinite = (name?: string) =>
  Schema.Number.pipe(
    Schema.filter((x) =>
      (Number.isFinite(x) && x > 0) || (name === undefined ? "must be a finite number above 0" : `${name} must be finite and > 0`)
    )
  )

/** A string that is not empty. */
export const NonEmpty = Schema.String.pipe(Schema.filter((s) => s.length > 0 || "must not be empty"))
