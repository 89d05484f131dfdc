/**
 * Live training progress for a person at a terminal: one status line on stderr,
 * rewritten in place. Never written to stdout, so `--json` output stays clean.
 */
import { Effect, Layer } from "effect"
import { type ProgressEvent, TrainingProgress } from "../cluster/TrainingCluster.js"

const render = (event: ProgressEvent): string => {
  const parts = [event.clusterId]
  if (event.island !== undefined) parts.push(`island ${event.island}`)
  if (event.step !== undefined) parts.push(`step ${event.step}`)
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toFixed(4)}`)
  if (event.bytesSent !== undefined) parts.push(`sent ${(event.bytesSent / 1024).toFixed(1)} KiB`)
  return parts.join("  ")
}

/** Redraw the one status line on stderr (callers draw only when stderr is a terminal). */
export const draw = (text: string): void => {
  process.stderr.write(`\r\x1b[2K${text}`)
}

/** A progress sink that draws on stderr when it is a terminal, and does nothing otherwise. */
export const layer: Layer.Layer<TrainingProgress> = Layer.sync(TrainingProgress, () => {
  const terminal = process.stderr.isTTY === true
  return TrainingProgress.of({
    publish: (event) =>
      terminal && (event.step !== undefined || event.loss !== undefined)
        ? Effect.sync(() => draw(render(event)))
        : Effect.void
  })
})

/** End the status line (so the next output starts on a fresh line). */
export const finish: Effect.Effect<void> = Effect.sync(() => {
  if (process.stderr.isTTY === true) draw("")
})
