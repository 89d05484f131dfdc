/**
 * The market's web page (SPEC §17): the standing, the frontier over time (a step per
 * record, with the wei paid), the records, and — once a researcher enters their token,
 * kept in this tab's session storage — their own submissions as the market's feedback
 * rule allows. It reads the service's own API and updates live from `/v1/events`; every
 * script and style comes from the service itself (this file is bundled at build time
 * with the charting library), so the page needs no network but the market's.
 */
import * as Plot from "@observablehq/plot"

interface RecordRow {
  readonly researcher: string
  readonly micros: string
  readonly wei: string
  readonly at: number | string
}

interface LeaderboardDoc {
  readonly bestMicros: string
  readonly holder: string | null
  readonly spentWei: string
  readonly poolLeftWei: string | null
  readonly submissions: number
  readonly records: ReadonlyArray<RecordRow>
}

interface SubmissionDoc {
  readonly submissionId: string
  readonly status: string
  readonly becameRecord: boolean | null
  readonly paidWei: string | null
  readonly heldOutValue: number | null
  readonly liftMicros: string | null
  readonly index?: number
  readonly error: { readonly _tag: string; readonly message: string } | null
}

const TOKEN_KEY = "trainmarket.token"

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const isString = (x: unknown): x is string => typeof x === "string"
const isStringOrNull = (x: unknown): x is string | null => x === null || typeof x === "string"

const isRecordRow = (x: unknown): x is RecordRow =>
  isObject(x) && isString(x["researcher"]) && isString(x["micros"]) && isString(x["wei"]) &&
  (typeof x["at"] === "number" || typeof x["at"] === "string")

const isLeaderboard = (x: unknown): x is LeaderboardDoc =>
  isObject(x) && isString(x["bestMicros"]) && isStringOrNull(x["holder"]) && isString(x["spentWei"]) &&
  isStringOrNull(x["poolLeftWei"]) && typeof x["submissions"] === "number" && Array.isArray(x["records"]) &&
  x["records"].every(isRecordRow)

const isSubmission = (x: unknown): x is SubmissionDoc =>
  isObject(x) && isString(x["submissionId"]) && isString(x["status"]) && isStringOrNull(x["paidWei"]) &&
  isStringOrNull(x["liftMicros"]) && (x["heldOutValue"] === null || typeof x["heldOutValue"] === "number")

const isSubmissions = (x: unknown): x is { readonly submissions: ReadonlyArray<SubmissionDoc> } =>
  isObject(x) && Array.isArray(x["submissions"]) && x["submissions"].every(isSubmission)

/** The page's elements, found once. */
interface Elements {
  readonly rules: HTMLElement
  readonly live: HTMLElement
  readonly best: HTMLElement
  readonly holder: HTMLElement
  readonly spent: HTMLElement
  readonly poolLeft: HTMLElement
  readonly count: HTMLElement
  readonly chart: HTMLElement
  readonly records: HTMLTableElement
  readonly noRecords: HTMLElement
  readonly tokenForm: HTMLFormElement
  readonly token: HTMLInputElement
  readonly forget: HTMLButtonElement
  readonly tokenStatus: HTMLElement
  readonly mine: HTMLTableElement
}

const byId = <T extends HTMLElement>(id: string, kind: new() => T): T | undefined => {
  const found = document.getElementById(id)
  return found instanceof kind ? found : undefined
}

const findElements = (): Elements | undefined => {
  const found = {
    rules: byId("rules", HTMLElement),
    live: byId("live", HTMLElement),
    best: byId("best", HTMLElement),
    holder: byId("holder", HTMLElement),
    spent: byId("spent", HTMLElement),
    poolLeft: byId("pool-left", HTMLElement),
    count: byId("count", HTMLElement),
    chart: byId("chart", HTMLElement),
    records: byId("records", HTMLTableElement),
    noRecords: byId("no-records", HTMLElement),
    tokenForm: byId("token-form", HTMLFormElement),
    token: byId("token", HTMLInputElement),
    forget: byId("forget", HTMLButtonElement),
    tokenStatus: byId("token-status", HTMLElement),
    mine: byId("mine", HTMLTableElement)
  }
  const {
    rules, live, best, holder, spent, poolLeft, count, chart, records, noRecords, tokenForm, token, forget, tokenStatus, mine
  } = found
  return rules && live && best && holder && spent && poolLeft && count && chart && records && noRecords && tokenForm &&
      token && forget && tokenStatus && mine
    ? { rules, live, best, holder, spent, poolLeft, count, chart, records, noRecords, tokenForm, token, forget, tokenStatus, mine }
    : undefined
}

/** Wei with thousands separators (bigint-exact). */
const wei = (value: string | null): string => (value === null ? "–" : BigInt(value).toLocaleString("en-US"))

/** A lift in micros as score points (6 decimals). */
const lift = (micros: string | null): string => {
  if (micros === null) return "–"
  const value = BigInt(micros)
  const sign = value < 0n ? "-" : value > 0n ? "+" : ""
  const abs = value < 0n ? -value : value
  return `${sign}${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, "0")}`
}

const when = (at: number | string): Date => new Date(at)

/** A moment in few characters: the time today, else the date and time. */
const short = (date: Date): string =>
  date.toDateString() === new Date().toDateString()
    ? date.toLocaleTimeString()
    : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" })

const row = (cells: ReadonlyArray<readonly [string, string?]>): HTMLTableRowElement => {
  const tr = document.createElement("tr")
  for (const [value, className] of cells) {
    const td = document.createElement("td")
    td.textContent = value
    if (className !== undefined) td.className = className
    tr.append(td)
  }
  return tr
}

/** GET a JSON document of the market's API; its shape is checked, never assumed. */
const fetchJson = async <A>(path: string, is: (x: unknown) => x is A, token?: string): Promise<A> => {
  const response = await fetch(path, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
  })
  const body: unknown = await response.json()
  if (!response.ok) {
    const error = isObject(body) && isObject(body["error"]) ? `${String(body["error"]["_tag"])}: ${String(body["error"]["message"])}` : response.statusText
    return Promise.reject(new Error(`${response.status} ${error}`))
  }
  return is(body) ? body : Promise.reject(new Error(`${path} answered an unexpected document`))
}

/** The frontier: the best lift after each record as a step line (one dot per record), and the wei paid. */
const drawChart = (container: HTMLElement, records: ReadonlyArray<RecordRow>): void => {
  const width = Math.max(280, Math.min(container.clientWidth || 640, 920))
  let paid = 0n
  const points = records.map((r, i) => {
    paid += BigInt(r.wei)
    return { at: when(r.at), lift: Number(BigInt(r.micros)) / 1e6, paid: Number(paid), n: i + 1, researcher: r.researcher }
  })
  container.replaceChildren()
  const last = points[points.length - 1]
  if (last === undefined) return
  // the last step runs on to now: the frontier still stands
  const line = [...points, { ...last, at: new Date(Math.max(Date.now(), last.at.getTime())) }]
  const frontier = Plot.plot({
    width,
    height: 220,
    marginLeft: 56,
    x: { type: "time", label: null },
    y: { label: "best lift", grid: true },
    marks: [
      Plot.ruleY([0]),
      Plot.lineY(line, { x: "at", y: "lift", curve: "step-after", stroke: "currentColor" }),
      Plot.dot(points, {
        x: "at",
        y: "lift",
        r: 3.5,
        fill: "currentColor",
        className: "record-step",
        title: (d: { readonly n: number; readonly researcher: string; readonly lift: number }) =>
          `#${d.n} ${d.researcher}: ${d.lift}`
      })
    ]
  })
  const spent = Plot.plot({
    width,
    height: 140,
    marginLeft: 56,
    x: { type: "time", label: null },
    y: { label: "wei paid", grid: true, tickFormat: "s" },
    marks: [
      Plot.areaY(line, { x: "at", y: "paid", curve: "step-after", fillOpacity: 0.2 }),
      Plot.lineY(line, { x: "at", y: "paid", curve: "step-after" })
    ]
  })
  frontier.setAttribute("data-records", String(points.length))
  container.append(frontier, spent)
}

/** The page, live: what it shows and how it refreshes. */
const page = (ui: Elements) => {
  let records: ReadonlyArray<RecordRow> = []

  const showLeaderboard = (doc: LeaderboardDoc): void => {
    ui.best.textContent = doc.records.length === 0 ? "baseline" : lift(doc.bestMicros)
    ui.holder.textContent = doc.holder ?? "nobody yet"
    ui.spent.textContent = `${wei(doc.spentWei)} wei`
    ui.poolLeft.textContent = doc.poolLeftWei === null ? "unlimited" : `${wei(doc.poolLeftWei)} wei`
    ui.count.textContent = doc.submissions.toLocaleString("en-US")
    ui.records.tBodies[0]?.replaceChildren(
      ...doc.records.map((r, i) =>
        row([[String(i + 1)], [short(when(r.at))], [r.researcher], [lift(r.micros), "num"], [wei(r.wei), "num"]])
      )
    )
    ui.noRecords.hidden = doc.records.length > 0
    records = doc.records
    drawChart(ui.chart, records)
  }

  const showMine = (submissions: ReadonlyArray<SubmissionDoc>): void => {
    ui.mine.hidden = false
    ui.mine.tBodies[0]?.replaceChildren(
      ...submissions.map((s) =>
        row([
          [s.index === undefined ? s.submissionId : `#${s.index}`],
          [s.error === null ? s.status : `${s.status}: ${s.error._tag}`],
          [s.becameRecord === null ? "–" : s.becameRecord ? "yes" : "no"],
          [s.heldOutValue === null ? "–" : s.heldOutValue.toFixed(4), "num"],
          [lift(s.liftMicros), "num"],
          [wei(s.paidWei), "num"]
        ])
      )
    )
    ui.tokenStatus.textContent = submissions.length === 0
      ? "No submissions under this token yet."
      : `${submissions.length} submission(s).`
  }

  const refreshLeaderboard = (): Promise<void> =>
    fetchJson("/v1/leaderboard", isLeaderboard).then(showLeaderboard, (error: unknown) => {
      ui.rules.textContent = `The leaderboard could not be read (${error instanceof Error ? error.message : String(error)}).`
    })

  const refreshMine = (): Promise<void> => {
    const token = sessionStorage.getItem(TOKEN_KEY)
    if (token === null) return Promise.resolve()
    return fetchJson("/v1/submissions", isSubmissions, token).then(
      (doc) => showMine(doc.submissions),
      (error: unknown) => {
        ui.mine.hidden = true
        ui.tokenStatus.textContent = `That token was not accepted (${error instanceof Error ? error.message : String(error)}).`
      }
    )
  }

  const describeRules = (): Promise<void> =>
    fetchJson("/v1/market", isObject).then(
      (market) => {
        const schedule = market["schedule"]
        const parts = [isObject(schedule) && isString(schedule["kind"]) ? schedule["kind"] : "a continuous market"]
        if (market["feedback"] === "ladder") parts.push("Ladder feedback")
        if (market["commitReveal"] === true) parts.push("commit-reveal")
        if (isObject(market["recordTest"])) parts.push("seed-robust record test")
        ui.rules.textContent = parts.join(" · ")
      },
      () => {
        ui.rules.textContent = "a continuous market"
      }
    )

  const listen = (): void => {
    const events = new EventSource("/v1/events")
    events.addEventListener("open", () => {
      ui.live.dataset["state"] = "live"
      ui.live.textContent = "live"
    })
    events.addEventListener("error", () => {
      ui.live.dataset["state"] = "lost"
      ui.live.textContent = "reconnecting…"
    })
    const changed = () => {
      void refreshLeaderboard()
      void refreshMine()
    }
    events.addEventListener("message", changed)
    for (const name of ["record", "epoch"]) events.addEventListener(name, changed)
  }

  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault()
    const token = ui.token.value.trim()
    if (token === "") return
    sessionStorage.setItem(TOKEN_KEY, token)
    ui.token.value = ""
    void refreshMine()
  })
  ui.forget.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY)
    ui.mine.hidden = true
    ui.tokenStatus.textContent = "Forgotten."
  })
  window.addEventListener("resize", () => drawChart(ui.chart, records))
  void describeRules()
  void refreshLeaderboard()
  void refreshMine()
  listen()
}

const ui = findElements()
if (ui === undefined) document.body.textContent = "This page is incomplete: serve it with trainmarket market serve."
else page(ui)
