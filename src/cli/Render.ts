/**
 * Human-readable rendering of a one-shot outcome: a leaderboard with every
 * researcher, their held-out lift and interval, and what they were paid or why not.
 */
import type { OneShotOutcome } from "../market/OneShot.js"

const pad = (text: string, width: number): string => text.padEnd(width)
const num = (x: number): string => (x >= 0 ? " " : "") + x.toFixed(4)

/** The leaderboard of a one-shot competition as lines of text. */
export const leaderboard = (outcome: OneShotOutcome, poolWei: bigint): ReadonlyArray<string> => {
  const rankOf = new Map(outcome.ranked.map((r, i) => [r.researcher, i + 1]))
  const paid = new Map(outcome.payouts.map((p) => [p.researcher, p.wei]))
  const rows = [...outcome.candidates].sort((a, b) =>
    (rankOf.get(a.researcher) ?? Infinity) - (rankOf.get(b.researcher) ?? Infinity)
  )
  const nameWidth = Math.max(10, ...rows.map((c) => c.researcher.length))
  const lines = [
    `competition ${outcome.id}: pool ${poolWei} wei, baseline held-out ${outcome.baseline.heldOut.value.toFixed(4)}`,
    "",
    `${pad("rank", 5)}${pad("researcher", nameWidth + 2)}${pad("recipe (islands/H/keep/innerLr)", 32)}` +
    `${pad("held-out", 10)}${pad("lift [95% CI]", 28)}outcome`
  ]
  for (const c of rows) {
    const r = c.artifact.recipe
    const rank = rankOf.get(c.researcher)
    const wei = paid.get(c.researcher)
    const outcomeText = !c.clears
      ? "gated (lift CI below the gate)"
      : wei === undefined
      ? "cleared, unpaid"
      : `paid ${wei.toLocaleString("en-US")} wei`
    lines.push(
      `${pad(rank === undefined ? "-" : String(rank), 5)}${pad(c.researcher, nameWidth + 2)}` +
        `${pad(`${r.islands}/${r.innerSteps}/${r.keepFraction}/${r.innerLr}`, 32)}` +
        `${pad(c.heldOut.value.toFixed(4), 10)}` +
        `${pad(`${num(c.lift.delta)} [${num(c.lift.ciLower)}, ${num(c.lift.ciUpper)}]`, 28)}${outcomeText}`
    )
  }
  return lines
}
