/** How messages and amounts are written for people: one line per message, wei with thousands separators. */

/** A message on one line: every line break (and the blanks around it) becomes one space. */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ")

/** An amount (wei, micros, counts) with thousands separators: `1,234,567`. */
export const grouped = (amount: bigint | number): string => amount.toLocaleString("en-US")
