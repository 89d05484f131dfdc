/**
 * Live training progress for a person at a terminal: one status line on stderr,
 * rewritten in place (`Output.status`). Never written to stdout, so `--json` output
 * stays clean, and nothing at all when stderr is not a terminal.
 */
import { Effect, Layer } from "effect"
import { type ProgressEvent, TrainingProgress } from "../cluster/TrainingCluster.js"
import * as Output from "./Output.js"

const render = (event: ProgressEvent): string => {
  const parts = [event.clusterId]
  if (event.island !== undefined) parts.push(`island ${event.island}`)
  if (event.step !== undefined) parts.push(`step ${event.step}`)
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toFixed(4)}`)
  if (event.bytesSent !== undefined) parts.push(`sent ${(event.bytesSent / 1024).toFixed(1)} KiB`)
  return parts.join("  ")
}

/** A progress sink that draws the status line on stderr when it is a terminal. */
export const layer: Layer.Layer<TrainingProgress, never, Output.Output> = Layer.effect(
  TrainingProgress,
  Effect.map(Output.Output, (output) =>
    TrainingProgress.of({
      publish: (event) =>
        output.stderrIsTerminal && (event.step !== undefined || event.loss !== undefined)
          ? Effect.provideService(Output.status(render(event)), Output.Output, output)
          : Effect.void
    }))
)
