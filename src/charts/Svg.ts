/**
 * Charts as standalone SVG files, drawn in Node: Observable Plot renders into a
 * server-side DOM (linkedom) instead of a browser's, and the `<svg>` element is
 * serialized with its namespace so the file opens in any browser or image viewer. The
 * chart definitions (`Charts.ts`) take the document as a parameter, so a web page
 * passes the browser's own.
 */
import { parseHTML } from "linkedom"
import { Predicate } from "effect"

/** A fresh server-side document for Plot to render into. */
export const document = (): unknown => parseHTML("<!doctype html><html><head></head><body></body></html>").document

const SVG_NAMESPACE = "http://www.w3.org/2000/svg"

/** A rendered `<svg>` element as the text of a standalone SVG file; `undefined` if it is not one. */
export const serialize = (element: unknown): string | undefined => {
  if (
    !Predicate.hasProperty(element, "outerHTML") || typeof element.outerHTML !== "string" ||
    !Predicate.hasProperty(element, "setAttribute") || typeof element.setAttribute !== "function" ||
    !Predicate.hasProperty(element, "tagName") || String(element.tagName).toLowerCase() !== "svg"
  ) return undefined
  element.setAttribute("xmlns", SVG_NAMESPACE)
  return `<?xml version="1.0" encoding="UTF-8"?>\n${element.outerHTML}\n`
}
