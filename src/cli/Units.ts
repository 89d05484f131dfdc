/**
 * Units a person reads and types: bytes in binary units (`888.8 KiB`, `13.2 MiB`),
 * durations as `1m 05s` / `3d 4h`, and durations typed on a command line (`7d`, `12h`,
 * `1h30m`).
 */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const

/** Bytes in the largest binary unit that keeps the figure at least 1 (`512 B`, `888.8 KiB`, `13.2 MiB`). */
export const formatBytes = (bytes: number): string => {
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`
}

/** A duration in whole seconds for a person: `42s`, `3m 05s`, `2h 10m`, `3d 4h`. */
export const formatDuration = (millis: number): string => {
  const seconds = Math.max(0, Math.round(millis / 1000))
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

const UNIT_MILLIS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

/**
 * A duration typed on a command line: one or more `<number><unit>` with units s, m, h,
 * d, w (`7d`, `12h`, `1h30m`, `90s`), in milliseconds; or what is wrong with it.
 */
export const parseDuration = (text: string): { readonly millis: number } | { readonly problem: string } => {
  const trimmed = text.trim()
  const problem = { problem: `'${text}' is not a duration (e.g. 7d, 12h, 30m, 1h30m)` }
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(trimmed)) return problem
  let millis = 0
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) {
    millis += Number(match[1]) * (UNIT_MILLIS[match[2] ?? ""] ?? Number.NaN)
  }
  return Number.isFinite(millis) ? { millis } : problem
}
