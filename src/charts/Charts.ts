/**
 * The pictures a competition or a replay leaves in its results folder, as Observable
 * Plot charts: the lifts with their 95% intervals against the promotion gate, the
 * training loss curves of real runs against the data's entropy floor, and a continuous
 * market's frontier over its submissions. Each takes the `document` to render into (a
 * server-side one in Node, `Svg.document()`; the browser's on a web page) and returns
 * the chart's `<svg>` element. Imported as `trainmarket/charts` (not from the package's
 * main entry, so a program that draws nothing does not load Plot).
 */
import * as Plot from "@observablehq/plot"

/** How a candidate of a one-shot competition ended. */
export type Verdict = "paid" | "cleared, unpaid" | "gated" | "failed"

/** One candidate in the lift chart: a measured lift, or a failure (no lift). */
export interface LiftRow {
  readonly researcher: string
  readonly verdict: Verdict
  /** The lift and its 95% interval; absent for a failed candidate. */
  readonly lift?: { readonly delta: number; readonly ciLower: number; readonly ciUpper: number } | undefined
  /** What to print beside it (`paid 500,000 wei`, `failed: BackendFailed`). */
  readonly note: string
}

const VERDICTS: ReadonlyArray<Verdict> = ["paid", "cleared, unpaid", "gated", "failed"]
const VERDICT_COLORS = ["#1a7f37", "#74c476", "#8c8c8c", "#cf222e"]

const STYLE = { background: "white", fontSize: "12px", overflow: "visible" }

/** Text width in pixels of a label at 12px, roughly (no font metrics on a server). */
const textWidth = (text: string): number => Math.ceil(text.length * 7)

const title = (text: string) => Plot.text([text], { frameAnchor: "top-left", dy: -34, fontSize: 14, fontWeight: "bold", textAnchor: "start" })

/**
 * The lifts of a one-shot competition: each candidate's lift over the baseline as a dot
 * with its 95% interval, coloured by what it was paid; a dashed line at the gate (a
 * candidate is paid only when its whole interval is right of it) and a solid one at 0.
 */
export const lifts = (
  document: unknown,
  rows: ReadonlyArray<LiftRow>,
  options: { readonly gate: number; readonly heading: string }
): unknown => {
  const measured = rows.flatMap((row) =>
    row.lift === undefined ? [] : [{ researcher: row.researcher, verdict: row.verdict, ...row.lift }]
  )
  const failed = rows.filter((row) => row.lift === undefined)
  const xs = [0, options.gate, ...measured.flatMap((row) => [row.ciLower, row.ciUpper])]
  const span = Math.max(...xs) - Math.min(...xs)
  const pad = span === 0 ? 0.05 : span * 0.06
  return Plot.plot({
    document,
    width: 860,
    height: 110 + 30 * rows.length,
    marginTop: 56,
    marginBottom: 44,
    marginLeft: Math.max(90, ...rows.map((row) => textWidth(row.researcher) + 16)),
    marginRight: Math.max(150, ...rows.map((row) => textWidth(row.note) + 16)),
    style: STYLE,
    x: {
      domain: [Math.min(...xs) - pad, Math.max(...xs) + pad],
      label: "lift over the baseline on the held-out split (higher is better) →",
      grid: true
    },
    y: { domain: rows.map((row) => row.researcher), label: null },
    color: { domain: [...VERDICTS], range: VERDICT_COLORS },
    marks: [
      title(options.heading),
      Plot.ruleX([0], { stroke: "#57606a" }),
      Plot.ruleX([options.gate], { stroke: "#cf222e", strokeDasharray: "6,4" }),
      Plot.text([options.gate], {
        x: (gate: number) => gate,
        frameAnchor: "top",
        dy: -8,
        fill: "#cf222e",
        text: (gate: number) => `gate: CI lower end ≥ ${gate}`
      }),
      Plot.ruleY(measured, { y: "researcher", x1: "ciLower", x2: "ciUpper", stroke: "verdict", strokeWidth: 3 }),
      Plot.dot(measured, { y: "researcher", x: "delta", fill: "verdict", r: 4.5 }),
      Plot.text(failed, { y: "researcher", x: 0, text: () => "×", fill: "#cf222e", fontSize: 16 }),
      Plot.text(rows, {
        y: "researcher",
        frameAnchor: "right",
        dx: 10,
        textAnchor: "start",
        text: "note",
        fill: (row: LiftRow) => row.verdict
      })
    ]
  })
}

/** One training run's smoothed loss by step, and what the referee measured of its final weights. */
export interface LossSeries {
  readonly name: string
  readonly points: ReadonlyArray<{ readonly step: number; readonly loss: number }>
  /** The held-out loss of the final weights (minus the held-out value), when measured. */
  readonly heldOutLoss?: number | undefined
}

/**
 * Loss curves of real training: each run's smoothed training loss by step (nats per
 * symbol, the same unit as the held-out loss), its final held-out loss as a diamond at
 * the last step, and the data source's entropy floor, which no model can go below on
 * held-out data.
 */
export const losses = (
  document: unknown,
  series: ReadonlyArray<LossSeries>,
  options: { readonly entropyFloor: number | undefined; readonly heading: string }
): unknown => {
  const points = series.flatMap((s) => s.points.map((p) => ({ name: s.name, step: p.step, loss: p.loss })))
  const finals = series.flatMap((s) => {
    const last = s.points.at(-1)
    return last === undefined || s.heldOutLoss === undefined ? [] : [{ name: s.name, step: last.step, loss: s.heldOutLoss }]
  })
  const names = series.map((s) => s.name)
  const floor = options.entropyFloor
  return Plot.plot({
    document,
    width: 860,
    height: 480,
    marginTop: 56,
    marginLeft: 60,
    marginRight: Math.max(120, ...names.map((name) => textWidth(name) + 16)),
    style: STYLE,
    x: { label: "step (inner steps per island) →", grid: true },
    y: {
      label: "loss (nats per symbol)",
      labelAnchor: "center",
      grid: true,
      ...(floor === undefined ? {} : { domain: [Math.min(floor, ...points.map((p) => p.loss)) - 0.08, Math.max(...points.map((p) => p.loss))] })
    },
    color: { domain: names, scheme: "tableau10" },
    marks: [
      title(options.heading),
      ...(floor === undefined ? [] : [
        Plot.ruleY([floor], { stroke: "#cf222e", strokeDasharray: "6,4" }),
        Plot.text([floor], {
          y: (y: number) => y,
          frameAnchor: "left",
          dy: -8,
          dx: 6,
          textAnchor: "start",
          fill: "#cf222e",
          text: (y: number) => `entropy floor of the data: ${y.toFixed(3)} (no model goes below it on held-out data)`
        })
      ]),
      Plot.line(points, { x: "step", y: "loss", stroke: "name", strokeWidth: 1.6 }),
      Plot.dot(finals, { x: "step", y: "loss", fill: "name", symbol: "diamond", r: 5, stroke: "white" }),
      Plot.text(points, Plot.selectLast({ x: "step", y: "loss", z: "name", text: "name", fill: "name", dx: 10, textAnchor: "start" }))
    ]
  })
}

/** A record of a continuous market: the submission that set it and its lift in micros. */
export interface FrontierRecord {
  readonly index: number
  readonly researcher: string
  readonly micros: number
}

/**
 * The frontier of a continuous market: the best lift (micros) after each submission, a
 * step at every record, from the baseline (0) to the last submission.
 */
export const frontier = (
  document: unknown,
  records: ReadonlyArray<FrontierRecord>,
  options: { readonly submissions: number; readonly heading: string }
): unknown => {
  const last = Math.max(0, options.submissions - 1)
  const steps = [
    { index: 0, micros: 0 },
    ...records.map((r) => ({ index: r.index, micros: r.micros })),
    { index: last, micros: records.at(-1)?.micros ?? 0 }
  ]
  return Plot.plot({
    document,
    width: 860,
    height: 420,
    marginTop: 56,
    marginRight: 40,
    marginLeft: 80,
    style: STYLE,
    x: {
      label: "submission →",
      grid: true,
      domain: [0, Math.max(1, last)],
      // whole submissions only
      ...(last <= 12 ? { ticks: Array.from({ length: Math.max(1, last) + 1 }, (_, i) => i) } : {}),
      tickFormat: ","
    },
    y: { label: "best lift (micros)", labelAnchor: "center", grid: true },
    marks: [
      title(options.heading),
      Plot.ruleY([0], { stroke: "#57606a" }),
      Plot.line(steps, { x: "index", y: "micros", curve: "step-after", stroke: "#0969da", strokeWidth: 2 }),
      Plot.dot(records, { x: "index", y: "micros", fill: "#0969da", r: 4 }),
      ...(records.length <= 30
        ? [Plot.text(records, { x: "index", y: "micros", text: "researcher", dy: -10, fill: "#24292f" })]
        : [])
    ]
  })
}
