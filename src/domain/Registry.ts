/**
 * Registries of kinds: the table behind a family of JSON specs tagged by `kind`
 * (cluster specs, scorer specs). Each entry pairs a kind's schema with what a spec of
 * that kind can do (its operations), so the family's schema, its type and every
 * dispatch on the kind come from one list, and a new kind is one new entry. (The
 * family's schema is `Schema.Union(...entries.map((e) => e.schema))`, its type `SpecOf`.)
 */
import { Schema } from "effect"

/** A spec family's member: a JSON object tagged by `kind` (decoded and encoded forms are the same). */
export interface Tagged {
  readonly kind: string
}

/** One kind of a registry: its schema, and the operations of a spec of that kind. */
export interface Entry<S extends Tagged, Ops> {
  readonly kind: S["kind"]
  readonly schema: Schema.Schema<S>
  /** The operations of `spec` when it is of this kind; `undefined` when it is of another. */
  readonly bind: (spec: Tagged) => Ops | undefined
}

/** An entry of kind `kind`: `operations` receives specs of that kind only. */
export const entry = <S extends Tagged, Ops>(
  kind: S["kind"],
  schema: Schema.Schema<S>,
  operations: (spec: S) => Ops
): Entry<S, Ops> => {
  // Specs of a family are told apart by their `kind` alone (the family's schema is a tagged union).
  const isOfKind = (spec: Tagged): spec is S => spec.kind === kind
  return { kind, schema, bind: (spec) => (isOfKind(spec) ? operations(spec) : undefined) }
}

/** The spec type of a registry's entries (the union over its kinds). */
export type SpecOf<E> = E extends Entry<infer S, infer _Ops> ? S : never

/** The operations of `spec` from the first entry of its kind, or `fallback` when no entry has it. */
export const operations = <Ops>(
  entries: ReadonlyArray<{ readonly bind: (spec: Tagged) => Ops | undefined }>,
  spec: Tagged,
  fallback: (spec: Tagged) => Ops
): Ops => {
  for (const e of entries) {
    const bound = e.bind(spec)
    if (bound !== undefined) return bound
  }
  return fallback(spec)
}
