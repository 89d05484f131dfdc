/**
 * A results folder (`compete --out`, `market replay --out`): what a run printed, as
 * files a person keeps, opens and shares.
 *
 * A competition's folder holds `result.json` (the `--json` document), `leaderboard.txt`,
 * `artifacts/<name>.json` for the baseline and every trained researcher, their
 * checkpoints under `checkpoints/<name>/` (copied, so the folder outlives the run
 * directories in the cache), `lifts.svg` and, for real training, `loss.svg`. An artifact
 * whose checkpoint was copied names the copy and carries a fresh receipt under the
 * operator's key (its `checkpointSha256` is unchanged: the same bytes), so
 * `score --artifact <folder>/artifacts/<name>.json` works after `runs clean`. Imported
 * as `trainmarket/results` (it draws with Plot, which the main entry does not load).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, type Scope } from "effect"
import * as Charts from "../charts/Charts.js"
import * as Svg from "../charts/Svg.js"
import * as Artifact from "../domain/Artifact.js"
import { BadInput } from "../domain/Errors.js"
import type { OperatorKey } from "../integrity/OperatorKey.js"
import * as Receipt from "../integrity/Receipt.js"
import type { OneShotOutcome } from "../market/OneShot.js"
import * as CompetitionFile from "./CompetitionFile.js"
import * as Json from "./Json.js"
import { grouped } from "../domain/Text.js"

/** A loss curve recorded while a run trained (its artifact ref names the run). */
export interface RecordedCurve {
  readonly ref: string
  readonly entropyFloor: number | undefined
  readonly points: ReadonlyArray<{ readonly step: number; readonly loss: number }>
}

const writeError = (path: string) => (error: PlatformError) =>
  new BadInput({ source: path, reason: `cannot be written (${error.message})` })

/** Create a results folder (and its parents); an unusable one is a `BadInput` naming it. */
export const makeFolder = (dir: string): Effect.Effect<void, BadInput, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(dir, { recursive: true })).pipe(
    Effect.mapError(writeError(dir))
  )

/**
 * Open one file of a results folder to write as it grows (closed with the scope): each
 * call appends text; a file that cannot be opened or written is a `BadInput` naming it.
 */
export const openForWrite = (
  dir: string,
  name: string
): Effect.Effect<(text: string) => Effect.Effect<void, BadInput>, BadInput, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = (yield* Path.Path).join(dir, name)
    const file = yield* fs.open(path, { flag: "w" }).pipe(Effect.mapError(writeError(path)))
    const encoder = new TextEncoder()
    return (text: string) => file.writeAll(encoder.encode(text)).pipe(Effect.mapError(writeError(path)))
  })

/** Write one file of a results folder. */
export const writeText = (
  dir: string,
  name: string,
  text: string
): Effect.Effect<string, BadInput, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = (yield* Path.Path).join(dir, name)
    yield* fs.makeDirectory((yield* Path.Path).dirname(path), { recursive: true }).pipe(Effect.mapError(writeError(path)))
    yield* fs.writeFileString(path, text).pipe(Effect.mapError(writeError(path)))
    return path
  })

/** A chart as an SVG file's text (empty when it did not render as an `<svg>`). */
const svgText = (element: unknown): string => Svg.serialize(element) ?? ""

/** File names for researchers: safe characters only, and distinct. */
const fileNames = (names: ReadonlyArray<string>): ReadonlyMap<string, string> => {
  const taken = new Set<string>()
  return new Map(names.map((name) => {
    const base = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_") || "_"
    let candidate = base
    for (let i = 2; taken.has(candidate.toLowerCase()); i++) candidate = `${base}-${i}`
    taken.add(candidate.toLowerCase())
    return [name, candidate]
  }))
}

/**
 * Keep an artifact in the folder: its checkpoint (a file or a directory) copied under
 * `checkpoints/<name>/`, the artifact re-signed to name the copy; an artifact without a
 * checkpoint as it is.
 */
const keepArtifact = (dir: string, name: string, artifact: Artifact.TrainedArtifact) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    let kept = artifact
    if (artifact.checkpoint !== undefined) {
      const copy = path.resolve(dir, "checkpoints", name, path.basename(artifact.checkpoint))
      yield* fs.makeDirectory(path.dirname(copy), { recursive: true }).pipe(Effect.mapError(writeError(copy)))
      yield* fs.copy(artifact.checkpoint, copy, { overwrite: true }).pipe(Effect.mapError(writeError(copy)))
      kept = yield* Receipt.signWithOperatorKey({ ...artifact, checkpoint: copy })
    }
    return yield* writeText(dir, `artifacts/${name}.json`, `${Json.stringify(Artifact.toJson(kept))}\n`)
  })

/** How each candidate ended, in leaderboard order, for the lift chart. */
export const liftRows = (outcome: OneShotOutcome): ReadonlyArray<Charts.LiftRow> => {
  const rank = new Map(outcome.ranked.map((r, i) => [r.researcher, i]))
  const paid = new Map(outcome.payouts.map((p) => [p.researcher, p.wei]))
  const order = (c: OneShotOutcome["candidates"][number]) =>
    c._tag === "Failed" ? [2, 0] : [rank.has(c.researcher) ? 0 : 1, rank.get(c.researcher) ?? -c.lift.delta]
  return [...outcome.candidates]
    .sort((a, b) => {
      const [x1 = 0, x2 = 0] = order(a)
      const [y1 = 0, y2 = 0] = order(b)
      return x1 - y1 || x2 - y2
    })
    .map((c): Charts.LiftRow => {
      if (c._tag === "Failed") return { researcher: c.researcher, verdict: "failed", note: `failed: ${c.failure._tag}` }
      const wei = paid.get(c.researcher)
      const verdict: Charts.Verdict = !c.clears ? "gated" : wei === undefined ? "cleared, unpaid" : "paid"
      return {
        researcher: c.researcher,
        verdict,
        lift: c.lift,
        note: verdict === "paid" ? `paid ${grouped(wei ?? 0n)} wei` : verdict
      }
    })
}

/** The loss series of the baseline and every trained researcher that has a recorded curve. */
export const lossSeries = (
  outcome: OneShotOutcome,
  curves: ReadonlyArray<RecordedCurve>
): ReadonlyArray<Charts.LossSeries> => {
  const byRef = new Map(curves.map((curve) => [curve.ref, curve]))
  const runs = [
    { name: "baseline", artifact: outcome.baseline.artifact, heldOut: outcome.baseline.heldOut },
    ...outcome.candidates.flatMap((c) =>
      c._tag === "Trained" ? [{ name: c.researcher, artifact: c.artifact, heldOut: c.heldOut }] : []
    )
  ]
  return runs.flatMap(({ name, artifact, heldOut }) => {
    const curve = byRef.get(Artifact.ref(artifact))
    return curve === undefined || curve.points.length === 0 ? [] : [{ name, points: curve.points, heldOutLoss: -heldOut.value }]
  })
}

/** Write a one-shot competition's results folder; returns the paths written. */
export const writeCompetition = (
  dir: string,
  input: {
    readonly result: CompetitionFile.Outcome
    readonly file: CompetitionFile.CompetitionFile
    readonly curves: ReadonlyArray<RecordedCurve>
  }
): Effect.Effect<ReadonlyArray<string>, BadInput, FileSystem.FileSystem | Path.Path | OperatorKey> =>
  Effect.gen(function*() {
    const outcome = input.result.outcome
    yield* makeFolder(dir)
    const written: Array<string> = []
    written.push(yield* writeText(dir, "result.json", `${Json.stringify(CompetitionFile.toJson(input.result))}\n`))
    written.push(yield* writeText(dir, "leaderboard.txt", `${CompetitionFile.render(input.result, input.file).join("\n")}\n`))
    const trained = outcome.candidates.flatMap((c) => (c._tag === "Trained" ? [{ name: c.researcher, artifact: c.artifact }] : []))
    const names = fileNames(["baseline", ...trained.map((t) => t.name)])
    for (const { name, artifact } of [{ name: "baseline", artifact: outcome.baseline.artifact }, ...trained]) {
      written.push(yield* keepArtifact(dir, names.get(name) ?? name, artifact))
    }
    const n = outcome.baseline.heldOut.n
    written.push(
      yield* writeText(
        dir,
        "lifts.svg",
        svgText(Charts.lifts(Svg.document(), liftRows(outcome), {
          gate: input.file.gate.minLiftCiLower,
          heading: `competition ${outcome.id}: lift over the baseline with its 95% interval (${n} held-out shards)`
        }))
      )
    )
    const series = lossSeries(outcome, input.curves)
    if (series.length > 0) {
      const entropyFloor = input.curves.find((curve) => curve.entropyFloor !== undefined)?.entropyFloor
      written.push(
        yield* writeText(
          dir,
          "loss.svg",
          svgText(Charts.losses(Svg.document(), series, {
            entropyFloor,
            heading: `competition ${outcome.id}: training loss (moving average), ◆ held-out loss of the final weights`
          }))
        )
      )
    }
    return written
  })

/** The frontier chart of a replay as an SVG file's text. */
export const frontierSvg = (
  records: ReadonlyArray<Charts.FrontierRecord>,
  options: { readonly submissions: number; readonly heading: string }
): string => svgText(Charts.frontier(Svg.document(), records, options))
