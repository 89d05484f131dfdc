/**
 * The market's web page (SPEC §17) in a real browser: headless Chromium (Debian's
 * package, driven by playwright-core) against a real `market serve` process on a loopback
 * port. The page shows the records the API reports, its chart has one step per record
 * and grows when a new record settles (live, from /v1/events), a token shows that
 * researcher's submissions and nobody else's, no request leaves the service, and it is
 * readable on a phone-sized viewport. Screenshots land in test-results/web/.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { tempDir } from "./fixtures/standins.js"
import { repoRoot } from "./support/cli.js"
import { allSettled, call, killServed, serve, type Served, waitFor, writeKey, writeMarketFile } from "./support/serve.js"
import { r, tokens } from "./support/service.js"

const CHROMIUM = "/usr/bin/chromium"
const screenshots = path.join(repoRoot, "test-results", "web")

interface Leaderboard {
  readonly records: ReadonlyArray<{ readonly researcher: string; readonly micros: string; readonly wei: string }>
}

let browser: Browser
let served: Served
let dir: string

/** Submit as a researcher and wait until every submission so far has settled. */
const submit = async (who: "alice" | "bob" | "carol", recipe: ReturnType<typeof r>, total: number) => {
  const answer = await call(served.url, "POST", "/v1/submissions", { token: tokens[who], body: { recipe } })
  assert.strictEqual(answer.status, 202, JSON.stringify(answer.body))
  await waitFor(served.url, allSettled(total))
}

const leaderboard = async (): Promise<Leaderboard> => (await call(served.url, "GET", "/v1/leaderboard")).body as Leaderboard

/** A page on the market, with every request it makes recorded. */
const open = async (viewport: { readonly width: number; readonly height: number }) => {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const requests: Array<string> = []
  page.on("request", (request) => void requests.push(request.url()))
  await page.goto(served.url)
  return { page, requests, close: () => context.close() }
}

/** The dots of the frontier chart: one per record. */
const steps = (page: Page): Promise<number> => page.locator("#chart g.record-step circle").count()

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does)`)
  }
  dir = tempDir("web")
  fs.mkdirSync(screenshots, { recursive: true })
  served = await serve(writeMarketFile(dir, { poolWei: "1000000000000000000" }), [
    "--store",
    path.join(dir, "market.sqlite"),
    "--key-file",
    writeKey(dir)
  ], dir)
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
  })
  // two records (alice, then bob beating her), a gated one and a weaker one of carol's
  await submit("alice", r(4, 32, 0.1), 1)
  await submit("carol", r(4, 32, 0.0005), 2)
  await submit("bob", r(8, 32, 0.2), 3)
  await submit("carol", r(2, 32, 0.1), 4)
}, 120_000)

afterAll(async () => {
  await browser?.close()
  killServed()
})

describe("the market's web page in Chromium", () => {
  it("shows the records the API reports, one chart step per record, and no request leaves the service", async () => {
    const { page, requests, close } = await open({ width: 1280, height: 900 })
    try {
      const api = await leaderboard()
      assert.strictEqual(api.records.length, 2, "the scenario makes two records")
      await page.waitForFunction(`document.querySelectorAll("#records tbody tr").length === ${api.records.length}`)
      const rows = await page.locator("#records tbody tr").allInnerTexts()
      api.records.forEach((record, i) => {
        assert.include(rows[i], record.researcher)
        // the lift in micros as score points, the wei with separators
        const micros = BigInt(record.micros)
        assert.include(rows[i], `+${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, "0")}`)
        assert.include(rows[i], BigInt(record.wei).toLocaleString("en-US"))
      })
      await page.waitForFunction(`document.querySelectorAll("#chart g.record-step circle").length === ${api.records.length}`)
      assert.strictEqual(await steps(page), api.records.length)
      assert.strictEqual(await page.locator("#holder").innerText(), "bob")
      assert.strictEqual(await page.locator("#live").getAttribute("data-state"), "live")
      await page.screenshot({ path: path.join(screenshots, "desktop.png"), fullPage: true })
      const origin = new URL(served.url).origin
      assert.isAbove(requests.length, 3)
      assert.deepStrictEqual(requests.filter((url) => new URL(url).origin !== origin), [])
    } finally {
      await close()
    }
  })

  it("a new record that settles appears live: one more row and one more chart step", async () => {
    const { page, close } = await open({ width: 1280, height: 900 })
    try {
      await page.waitForFunction(`document.querySelectorAll("#chart g.record-step circle").length === 2`)
      await submit("alice", r(16, 32, 0.2), 5)
      const api = await leaderboard()
      assert.strictEqual(api.records.length, 3, "16 islands beat 8")
      // no reload: the page hears the record on /v1/events
      await page.waitForFunction(`document.querySelectorAll("#chart g.record-step circle").length === 3`)
      assert.strictEqual(await page.locator("#records tbody tr").count(), 3)
      assert.strictEqual(await page.locator("#holder").innerText(), "alice")
    } finally {
      await close()
    }
  })

  it("a token shows that researcher's own submissions and not another's; it stays in this tab only", async () => {
    const { page, close } = await open({ width: 1280, height: 900 })
    try {
      const own = async (token: string) =>
        ((await call(served.url, "GET", "/v1/submissions", { token })).body as { submissions: Array<{ submissionId: string }> })
          .submissions
      const carol = await own(tokens.carol)
      const bob = await own(tokens.bob)
      assert.strictEqual(carol.length, 2)
      await page.fill("#token", tokens.carol)
      await page.click("#token-form button[type=submit]")
      await page.waitForFunction(`document.querySelectorAll("#mine tbody tr").length === ${carol.length}`)
      const shown = (await page.locator("#mine").innerText())
      // carol's gated and weaker submissions: not records, nothing paid
      assert.notInclude(shown, "yes")
      assert.strictEqual(await page.evaluate(`sessionStorage.getItem("trainmarket.token")`), tokens.carol)
      assert.isNull(await page.evaluate(`localStorage.getItem("trainmarket.token")`))
      // bob's token: bob's one submission, a record
      await page.fill("#token", tokens.bob)
      await page.click("#token-form button[type=submit]")
      await page.waitForFunction(`document.querySelectorAll("#mine tbody tr").length === ${bob.length}`)
      assert.include(await page.locator("#mine").innerText(), "yes")
      await page.screenshot({ path: path.join(screenshots, "own-submissions.png"), fullPage: true })
      // a wrong token shows nothing of anyone
      await page.fill("#token", "not-a-token")
      await page.click("#token-form button[type=submit]")
      await page.waitForFunction(`document.querySelector("#mine")?.hidden === true`)
      assert.include(await page.locator("#token-status").innerText(), "not accepted")
    } finally {
      await close()
    }
  })

  it("is readable on a phone: nothing wider than the screen", async () => {
    const { page, close } = await open({ width: 390, height: 844 })
    try {
      await page.waitForFunction(`document.querySelectorAll("#chart g.record-step circle").length >= 2`)
      const overflow = Number(await page.evaluate(`document.documentElement.scrollWidth - window.innerWidth`))
      assert.isAtMost(overflow, 0)
      const chartWidth = Number(await page.evaluate(`document.querySelector("#chart svg")?.getBoundingClientRect().width ?? 0`))
      assert.isAtMost(chartWidth, 390)
      assert.isAbove(chartWidth, 200)
      await page.screenshot({ path: path.join(screenshots, "phone.png"), fullPage: true })
    } finally {
      await close()
    }
  })
})
