/**
 * The market's public face: one-shot competitions (`runOneShot`) and the
 * reference scenario. Continuous markets live in their own module.
 */
export * from "./OneShot.js"
export { referenceCompetition } from "./Reference.js"
