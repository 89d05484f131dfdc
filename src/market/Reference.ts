/**
 * The reference one-shot scenario of SPEC §7: five researchers, a 1,000,000 wei
 * pool, SnapshotTopK [5000, 3000, 2000], 16 shards, the default gate. `trainmarket
 * demo` runs it; it is also a ready-made spec for library users to start from.
 */
import { defaultGate } from "../domain/Measurement.js"
import { baseline, type Recipe } from "../domain/Recipe.js"
import type { OneShotSpec } from "./OneShot.js"

const recipe = (
  islands: number,
  innerSteps: number,
  keepFraction: number,
  innerLr = 3e-3,
  outerLr = 0.7
): Recipe => ({ islands, innerSteps, innerLr, outerLr, keepFraction })

/** The reference competition; researcher i trains with seed i, the baseline with seed 0. */
export const referenceCompetition: OneShotSpec = {
  id: 1,
  gate: defaultGate,
  reward: { kind: "snapshot-top-k", weightsBps: [5000, 3000, 2000] },
  poolWei: 1_000_000n,
  baseline: { recipe: baseline, seed: 0n },
  researchers: [
    { name: "scale-islands", seed: 0n, recipe: recipe(8, 32, 0.2) },
    { name: "comm-efficient", seed: 1n, recipe: recipe(4, 32, 0.1) },
    { name: "too-large-H", seed: 2n, recipe: recipe(4, 4000, 0.1) },
    { name: "over-compress", seed: 3n, recipe: recipe(4, 32, 0.0005) },
    { name: "bad-lr", seed: 4n, recipe: recipe(4, 32, 0.1, 3e-4) }
  ]
}
