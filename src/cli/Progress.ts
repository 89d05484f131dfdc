/**
 * Live training progress for a person at a terminal: one status line per running job
 * on stderr, redrawn in place (`Output.status`):
 *
 *     researcher 2/4 scale-islands  cpu-diloco  step 103/256  40%  ETA 3s  EMA loss 1.243  sent 888.8 KiB
 *     baseline  scoring
 *
 * The loss is an exponential moving average of the trainer's batch losses (a single
 * batch's loss is noisy and dips below the data's entropy floor, which no model can
 * beat on held-out data); the same smoothed loss is recorded per run, so a competition
 * can draw each researcher's loss curve (`curves`). Never written to stdout, so `--json`
 * output stays clean, and nothing is drawn when stderr is not a terminal.
 */
import { Clock, Effect, Layer, Ref } from "effect"
import { type JobLabel, type ProgressEvent, TrainingProgress } from "../cluster/TrainingCluster.js"
import * as Output from "./Output.js"
import { formatBytes, formatDuration } from "./Units.js"

/** The weight of the past in the smoothed loss: about the last 1/(1-β) = 20 steps count. */
export const EMA_BETA = 0.95

/** The smoothed loss after `count` losses: a bias-corrected exponential moving average. */
export interface Smoothed {
  readonly average: number
  readonly count: number
}

/** Add one loss to a smoothed loss. */
export const smooth = (previous: Smoothed, loss: number): Smoothed => ({
  average: EMA_BETA * previous.average + (1 - EMA_BETA) * loss,
  count: previous.count + 1
})

/** The value of a smoothed loss (corrected for starting at zero, as Adam's moments are). */
export const smoothedValue = (s: Smoothed): number => s.average / (1 - EMA_BETA ** s.count)

/** One run's smoothed loss by step, for a loss chart. */
export interface Curve {
  readonly ref: string
  readonly job: JobLabel | undefined
  readonly clusterId: string
  readonly entropyFloor: number | undefined
  readonly points: ReadonlyArray<{ readonly step: number; readonly loss: number }>
}

/** At most this many points are kept per curve: past it every other point is dropped and the stride doubles. */
const MAX_POINTS = 2048

/** What is known about one running job. */
interface Job {
  readonly key: string
  readonly job: JobLabel | undefined
  readonly clusterId: string
  readonly ref: string | undefined
  readonly startedAt: number
  readonly step: number | undefined
  readonly total: number | undefined
  readonly smoothed: Smoothed
  readonly bytesSent: number | undefined
  readonly scoring: boolean
}

interface State {
  readonly jobs: ReadonlyMap<string, Job>
  readonly curves: ReadonlyMap<string, { curve: Curve; stride: number }>
  /** A line under the jobs' lines (`replayed k / n`), if any. */
  readonly footer: string | undefined
  readonly drawnAt: number
}

const keyOf = (event: ProgressEvent): string => `${event.job?.name ?? ""}\u0000${event.ref ?? event.clusterId}`

/** Who a line is for: `researcher 2/4 scale-islands`, `baseline`, or nothing. */
export const labelText = (job: JobLabel | undefined): string =>
  job === undefined
    ? ""
    : job.index !== undefined && job.count !== undefined
    ? `researcher ${job.index}/${job.count} ${job.name}`
    : job.name

/**
 * One job's status line at time `now`, at most `width` columns: fields two spaces apart;
 * on a narrow terminal one space apart, and the fields a person needs least dropped
 * until it fits (the cluster's name, the share done, then from the end), never cut
 * inside a field unless the first one alone is too long.
 */
export const render = (job: Job, now: number, width = Infinity): string => {
  const fields: Array<{ readonly text: string; readonly drop: number }> = []
  const add = (text: string, drop: number) => {
    if (text !== "") fields.push({ text, drop })
  }
  add(labelText(job.job), 0)
  if (job.scoring) add("scoring", 0)
  else {
    add(job.clusterId, 6)
    if (job.step === undefined) add("starting", 0)
    else if (job.total !== undefined && job.total > 0) {
      const elapsed = now - job.startedAt
      add(`step ${job.step}/${job.total}`, 0)
      add(`${Math.floor(Math.min(1, job.step / job.total) * 100)}%`, 5)
      add(job.step > 0 && elapsed > 0 ? `ETA ${formatDuration((elapsed / job.step) * (job.total - job.step))}` : "ETA -", 2)
    } else add(`step ${job.step}`, 0)
    if (job.smoothed.count > 0) add(`EMA loss ${smoothedValue(job.smoothed).toFixed(3)}`, 3)
    if (job.bytesSent !== undefined) add(`sent ${formatBytes(job.bytesSent)}`, 4)
  }
  const wide = fields.map((f) => f.text).join("  ")
  if (wide.length <= width) return wide
  let kept = fields
  for (let level = 6; level >= 1; level--) {
    const narrow = kept.map((f) => f.text).join(" ")
    if (narrow.length <= width) return narrow
    kept = kept.filter((f) => f.drop !== level)
  }
  return kept.map((f) => f.text).join(" ").slice(0, width)
}

/** Fold one event into the state; whether the lines changed in a way worth drawing at once. */
const update = (
  state: State,
  event: ProgressEvent,
  now: number,
  record: boolean
): { readonly state: State; readonly urgent: boolean } => {
  const key = keyOf(event)
  const jobs = new Map(state.jobs)
  const before = jobs.get(key)
  if (event.phase === "ended") {
    jobs.delete(key)
    return { state: { ...state, jobs }, urgent: before !== undefined }
  }
  const job: Job = before ?? {
    key,
    job: event.job,
    clusterId: event.clusterId,
    ref: event.ref,
    startedAt: now,
    step: undefined,
    total: undefined,
    smoothed: { average: 0, count: 0 },
    bytesSent: undefined,
    scoring: false
  }
  const smoothed = event.loss !== undefined && event.step !== undefined && event.step !== job.step
    ? smooth(job.smoothed, event.loss)
    : job.smoothed
  const next: Job = {
    ...job,
    step: event.step ?? job.step,
    total: event.total ?? job.total,
    smoothed,
    bytesSent: event.bytesSent ?? job.bytesSent,
    scoring: event.phase === "scoring" || job.scoring
  }
  jobs.set(key, next)
  let curves = state.curves
  if (record && event.ref !== undefined && (smoothed !== job.smoothed || event.entropyFloor !== undefined)) {
    const recorded = state.curves.get(event.ref) ?? {
      curve: { ref: event.ref, job: event.job, clusterId: event.clusterId, entropyFloor: undefined, points: [] },
      stride: 1
    }
    let { curve, stride } = recorded
    if (event.entropyFloor !== undefined) curve = { ...curve, entropyFloor: event.entropyFloor }
    if (smoothed !== job.smoothed && next.step !== undefined && next.step % stride === 0) {
      curve = { ...curve, points: [...curve.points, { step: next.step, loss: smoothedValue(smoothed) }] }
      if (curve.points.length > MAX_POINTS) {
        stride *= 2
        curve = { ...curve, points: curve.points.filter((p) => p.step % stride === 0) }
      }
    }
    curves = new Map(state.curves).set(event.ref, { curve, stride })
  }
  return { state: { ...state, jobs, curves }, urgent: before === undefined || next.scoring !== job.scoring }
}

/** How often the lines are redrawn at most (a phase change or a new job draws at once). */
const REDRAW_MILLIS = 100

/** The status lines of every job and the footer, each within the terminal's width (a wrapped line could not be redrawn). */
const lines = (state: State, now: number, columns: number): string => {
  const width = Math.max(20, columns - 1)
  const jobs = [...state.jobs.values()].map((job) => render(job, now, width))
  return (state.footer === undefined ? jobs : [...jobs, state.footer.slice(0, width)]).join("\n")
}

/**
 * A progress sink drawing the status lines on stderr (when it is a terminal), and the
 * loss curves it has recorded so far (only with `record`: a long replay would keep one
 * per submission).
 */
export const makeWith = (options: { readonly record: boolean }) => Effect.gen(function*() {
  const output = yield* Output.Output
  const state = yield* Ref.make<State>({
    jobs: new Map(),
    curves: new Map(),
    footer: undefined,
    drawnAt: Number.NEGATIVE_INFINITY
  })
  /** Fold a change into the state and redraw when it is urgent or the last drawing is old enough. */
  const change = (fold: (current: State, now: number) => { readonly state: State; readonly urgent: boolean }) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(
        Ref.modify(state, (current) => {
          const { state: next, urgent } = fold(current, now)
          const draw = output.stderrIsTerminal && (urgent || now - current.drawnAt >= REDRAW_MILLIS)
          return [draw ? lines(next, now, output.columns()) : undefined, draw ? { ...next, drawnAt: now } : next] as const
        }),
        (text) => (text === undefined ? Effect.void : output.status(text))
      ))
  const publish = (event: ProgressEvent): Effect.Effect<void> =>
    output.stderrIsTerminal || options.record
      ? change((current, now) => update(current, event, now, options.record))
      : Effect.void
  return {
    sink: TrainingProgress.of({ publish }),
    /** Set the line under the jobs' lines; `final` draws it at once (the last one of a run). */
    footer: (text: string, final = false): Effect.Effect<void> =>
      output.stderrIsTerminal ? change((current) => ({ state: { ...current, footer: text }, urgent: final })) : Effect.void,
    curves: Effect.map(Ref.get(state), (s) => [...s.curves.values()].map((recorded) => recorded.curve))
  }
})

/** A progress sink that records every run's loss curve as well as drawing the lines. */
export const make = makeWith({ record: true })

/** A progress sink that draws the status lines on stderr when it is a terminal (and records nothing). */
export const layer: Layer.Layer<TrainingProgress, never, Output.Output> = Layer.effect(
  TrainingProgress,
  Effect.map(makeWith({ record: false }), (progress) => progress.sink)
)
