/**
 * A real competition small enough for a test: the cpu-diloco trainer at a budget of 24
 * steps, scored by the checkpoint referee on 12 shards of 256 tokens, two trainings at
 * once, the baseline (1 island, H 1) against the given researchers (H 8).
 */
import { writeFileSync } from "node:fs"

/** Write the competition file to `path`; each researcher is `[name, seed, islands]`. */
export const writeTinyCompetition = (
  path: string,
  id: number,
  researchers: ReadonlyArray<readonly [name: string, seed: string, islands: number]>
): string => {
  const recipe = { innerLr: 0.003, outerLr: 0.7, keepFraction: 1 }
  writeFileSync(
    path,
    JSON.stringify({
      id,
      cluster: { kind: "cpu-diloco", budget: 24, deadlineSeconds: 120 },
      scorer: { kind: "checkpoint", shards: 12, tokensPerShard: 256 },
      evalShards: 12,
      concurrency: 2,
      reward: { kind: "terminal-prize" },
      poolWei: "100",
      baseline: { recipe: { islands: 1, innerSteps: 1, ...recipe }, seed: "0" },
      researchers: researchers.map(([name, seed, islands]) => ({ name, seed, recipe: { islands, innerSteps: 8, ...recipe } }))
    })
  )
  return path
}

/** The checkpoint scorer the tiny competition names, as a `--scorer` argument. */
export const tinyScorer = JSON.stringify({ kind: "checkpoint", shards: 12, tokensPerShard: 256 })
