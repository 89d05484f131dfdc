/**
 * The live continuous (king-of-the-hill) market (SPEC §8, §15, §16) as a service.
 *
 * Researchers submit recipes (never artifacts: the market trains what it pays on),
 * directly or by commit and reveal. Every change is an event in the market's journal
 * (`MarketStore`), durable before the call returns, and the market's state is the fold
 * of those events (`Journal`), so a market survives a crash and several processes can
 * share one store. Accepted submissions are training jobs: `concurrency` workers claim
 * them, train each with its market-owned seeds on the `TrainingCluster`, have the
 * `Scorer` measure every artifact on HeldOut (checking its receipt first), and journal
 * the measurements. One settler settles them strictly in submission order
 * (`Settlement.decide`: gate, record test, schedule, pool) and, under TimeAtTop, closes
 * epochs on the Clock. Under `TestClock` a whole timed run is deterministic.
 *
 * What a researcher sees of a submission follows the market's feedback rule (Ladder:
 * held-out figures of records only); budgets and commit-reveal refuse what the rules do
 * not allow, before anything is trained.
 */
import { textSha256 } from "../domain/CheckpointHash.js"
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  PubSub,
  Queue,
  Ref,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import { TrainingCluster } from "../cluster/TrainingCluster.js"
import * as Artifact from "../domain/Artifact.js"
import {
  type ArtifactInvalid,
  BadInput,
  type ClusterError,
  DuplicateSubmission,
  JournalCorrupt,
  MarketInvalid,
  NotFound,
  type RecipeInvalid,
  RevealMismatch,
  type ScoreError,
  StoreFailed,
  SubmissionRefused,
  TrainingTimeout
} from "../domain/Errors.js"
import type { Measurement } from "../domain/Measurement.js"
import { canonicalJson, decodeRecipe, type Recipe } from "../domain/Recipe.js"
import * as Canonical from "../integrity/Canonical.js"
import { OperatorKey } from "../integrity/OperatorKey.js"
import { Scorer } from "../scorer/Scorer.js"
import { MarketStore } from "../store/MarketStore.js"
import * as Journal from "./Journal.js"
import * as Leaderboard from "./Leaderboard.js"
import type { Payout } from "./Reward.js"
import * as Rules from "./Rules.js"
import * as Seeds from "./Seeds.js"
import * as Settlement from "./Settlement.js"
import { oneLine } from "../domain/Text.js"

/** How a live market is opened: its rules, and how it runs here. */
export interface MarketConfig extends Omit<Rules.MarketRulesInput, "poolWei" | "baseline" | "schedule" | "gate"> {
  readonly gate?: Rules.MarketRules["gate"] | undefined
  readonly schedule: Leaderboard.ContinuousSchedule
  readonly poolWei?: bigint | undefined
  readonly baseline: { readonly recipe: Recipe; readonly seed: bigint }
  /** Length of an epoch (default `epochSeconds`, else 1 hour); epochs credit the top holder under TimeAtTop. */
  readonly epoch?: Duration.DurationInput | undefined
  /** Deadline of each training job (default none); a job past it fails with `TrainingTimeout`. */
  readonly jobDeadline?: Duration.DurationInput | undefined
  /** The market file the rules came from, kept in the journal (reopening with another one is refused). */
  readonly file?: unknown
  /** This process's name in `started` events (default `local`). */
  readonly worker?: string | undefined
  /** How often to look for other processes' events on a shared store (default 250 ms). */
  readonly pollMillis?: number | undefined
}

/** Who is looking: the operator sees everything; a researcher only their own submissions, as the feedback rule allows. */
export type Viewer = { readonly role: "operator" } | { readonly role: "researcher"; readonly name: string }

/** The operator's view. */
export const operator: Viewer = { role: "operator" }

/** A researcher's view. */
export const researcher = (name: string): Viewer => ({ role: "researcher", name })

/** A submission as `GET /v1/submissions/{id}` shows it (SPEC §16, fields per §15.5). */
export interface SubmissionView {
  readonly submissionId: string
  readonly researcher: string
  /** The recipe as accepted (only its researcher and the operator ever see a submission). */
  readonly recipe: Recipe
  /** Submission order: its place in settlement (and, without a record test, its seed). */
  readonly index: number
  readonly status: Journal.Status
  /** `null` until settled. */
  readonly becameRecord: boolean | null
  /** `null` until settled. */
  readonly paidWei: bigint | null
  /** The pooled held-out value; `null` until measured, or hidden (Ladder, not a record). */
  readonly heldOutValue: number | null
  /** The lift in micros; `null` when gated, unsettled, or hidden (Ladder, not a record). */
  readonly liftMicros: bigint | null
  readonly error: Journal.Failure | null
  /** Under Ladder feedback: the public best, which is all a non-record submission learns. */
  readonly bestMicros?: bigint | undefined
}

/** The public leaderboard (SPEC §16 `GET /v1/leaderboard`). */
export interface LeaderboardView {
  readonly bestMicros: bigint
  readonly holder: string | null
  readonly spentWei: bigint
  readonly poolLeftWei: bigint | null
  readonly submissions: number
  readonly records: ReadonlyArray<{ readonly researcher: string; readonly micros: bigint; readonly wei: bigint; readonly at: number }>
}

/** A public event (SPEC §16 `GET /v1/events`): a new record, or an epoch credit. */
export type PublicEvent =
  | {
    readonly type: "record"
    readonly researcher: string
    readonly micros: bigint
    readonly wei: bigint
    readonly at: number
    readonly spentWei: bigint
  }
  | {
    readonly type: "epoch"
    readonly epoch: number
    readonly researcher: string | null
    readonly wei: bigint
    readonly at: number
    readonly spentWei: bigint
  }

/** An accepted submission: queued for training. */
export interface Accepted {
  readonly submissionId: string
  readonly index: number
  readonly status: "queued"
}

/** A commitment's receipt. */
export interface Committed {
  readonly commitId: string
  /** Clock time (ms). */
  readonly committedAt: number
}

/**
 * The market's full account of one settled submission (what its submitter gets from
 * `submit`): its settlement decision and where it came from.
 */
export interface Receipt extends Omit<Settlement.Decision, "standing"> {
  readonly submissionId: string
  /** Submission order; without a record test also its training seed. */
  readonly index: number
  readonly researcher: string
  /** The seeds it was trained with. */
  readonly seeds: ReadonlyArray<bigint>
  /** Clock time (ms) when it was accepted and when it was settled. */
  readonly submittedAt: number
  readonly settledAt: number
  /** The epochs closed before it settled. */
  readonly epoch: number
  /** The pooled held-out measurement (one seed: that seed's measurement). */
  readonly heldOut: Measurement
  /** One held-out measurement per seed. */
  readonly perSeed: ReadonlyArray<Measurement>
}

/** A snapshot of the market. */
export interface Snapshot {
  readonly epoch: number
  readonly bestMicros: bigint | undefined
  readonly holder: string | undefined
  readonly spentWei: bigint
  /** What is left of the pool; `undefined` when unlimited. */
  readonly poolLeftWei: bigint | undefined
  readonly submissions: number
  readonly payouts: ReadonlyArray<Payout>
}

/** A submission whose training or scoring failed: it settles as nothing and is never paid. */
export class SubmissionFailed extends Schema.TaggedError<SubmissionFailed>()("SubmissionFailed", {
  submissionId: Schema.String,
  failure: Journal.Failure
}) {
  override get message(): string {
    return `submission ${this.submissionId} failed: ${this.failure._tag}: ${this.failure.message}`
  }
}

/** A direct submission to a market that takes submissions only by commit and reveal. */
export class CommitRevealRequired extends Schema.TaggedError<CommitRevealRequired>()("CommitRevealRequired", {}) {
  override get message(): string {
    return "this market takes submissions by commit and reveal: commit first (POST /v1/commits), then reveal"
  }
}

/** What accepting a submission can fail with. */
export type AcceptError = RecipeInvalid | SubmissionRefused | CommitRevealRequired | StoreFailed

/** What a reveal can fail with. */
export type RevealError = RecipeInvalid | SubmissionRefused | RevealMismatch | DuplicateSubmission | NotFound | StoreFailed

/** Everything a submission (accepted, then awaited) can fail with. */
export type SubmitError = AcceptError | SubmissionFailed | NotFound

/** Everything opening a market can fail with. */
export type OpenError =
  | MarketInvalid
  | StoreFailed
  | JournalCorrupt
  | ClusterError
  | ArtifactInvalid
  | ScoreError
  | RecipeInvalid

/** The live market. */
export class ContinuousMarket extends Context.Tag("trainmarket/ContinuousMarket")<
  ContinuousMarket,
  {
    /** The market's rules, as journaled. */
    readonly rules: Rules.MarketRules
    /** The schedule and pool it settles with (what an auditor needs besides the log). */
    readonly terms: Leaderboard.Terms
    /** The baseline's pooled held-out measurement every submission is compared with. */
    readonly baseline: Measurement
    /** Accept a recipe for training (not with commit-reveal); returns at once with its id. */
    readonly accept: (researcher: string, recipe: unknown) => Effect.Effect<Accepted, AcceptError>
    /**
     * Submit a recipe and wait for its settlement. The receipt is the operator's account
     * (held-out values, per-seed measurements, p-value) whatever `feedback` says: what a
     * researcher is shown goes through `view` and `list`.
     */
    readonly submit: (researcher: string, recipe: unknown) => Effect.Effect<Receipt, SubmitError>
    /** Commit to a recipe: `commitment` = sha256hex(canonical recipe JSON + "\n" + salt + "\n" + researcher). */
    readonly commit: (researcher: string, commitment: string) => Effect.Effect<Committed, BadInput | StoreFailed>
    /** Reveal a committed recipe; a match is accepted for training. */
    readonly reveal: (
      researcher: string,
      commitId: string,
      recipe: unknown,
      salt: string
    ) => Effect.Effect<Accepted, RevealError>
    /** Wait until a submission is settled (or failed) and return the market's full account of it (the operator's view, as `submit`). */
    readonly settled: (submissionId: string) => Effect.Effect<Receipt, NotFound | SubmissionFailed | StoreFailed>
    /** One submission as `viewer` may see it; a stranger's (or an unknown) id is `NotFound`. */
    readonly view: (submissionId: string, viewer: Viewer) => Effect.Effect<SubmissionView, NotFound | StoreFailed>
    /** The submissions `viewer` may see, newest first. */
    readonly list: (viewer: Viewer) => Effect.Effect<ReadonlyArray<SubmissionView>, StoreFailed>
    readonly leaderboard: Effect.Effect<LeaderboardView, StoreFailed>
    readonly snapshot: Effect.Effect<Snapshot, StoreFailed>
    /** The append-only leaderboard log (records and epoch credits), oldest first. */
    readonly log: Effect.Effect<ReadonlyArray<Leaderboard.LeaderboardRow>, StoreFailed>
    /** Recompute every settlement and credit from the journal. */
    readonly audit: Effect.Effect<Journal.Audit, StoreFailed>
    /** Public events (records, epoch credits) from now on. */
    readonly events: Stream.Stream<PublicEvent>
    /**
     * Public events from the moment this effect runs (subscribed at once, for as long as
     * the scope lives): what a server needs to promise a client it misses nothing after
     * its first byte.
     */
    readonly subscribe: Effect.Effect<Stream.Stream<PublicEvent>, never, Scope.Scope>
    /** Stop taking jobs, let running ones finish within `grace`, settle what is measured. */
    readonly drain: (grace: Duration.DurationInput) => Effect.Effect<void>
  }
>() {}

/**
 * The public event an applied journal event makes, read off the state right after it was
 * applied: the figures are the fold's recomputed ones, not what the event says.
 */
const publicEvent = (state: Journal.State, stored: Journal.Stored): Option.Option<PublicEvent> => {
  const event = stored.event
  if (event._tag === "settled") {
    const submission = state.submissions[event.index]
    const decision = submission?.settled?.decision
    if (submission === undefined || decision === undefined || !decision.becameRecord || decision.liftMicros === undefined) {
      return Option.none()
    }
    return Option.some({
      type: "record",
      researcher: submission.researcher,
      micros: decision.liftMicros,
      wei: decision.paidWei,
      at: event.at,
      spentWei: state.standing.spentWei
    })
  }
  if (event._tag === "epoch") {
    const last = state.ledger.at(-1)
    const credit = last?.kind === "epoch-credit" && last.epoch === event.epoch ? last : undefined
    return Option.some({
      type: "epoch",
      epoch: event.epoch,
      researcher: credit?.researcher ?? null,
      wei: credit?.wei ?? 0n,
      at: event.at,
      spentWei: state.standing.spentWei
    })
  }
  return Option.none()
}

/** The commitment of a recipe (SPEC §15.7): sha256hex(canonical recipe JSON + "\n" + salt + "\n" + researcher). */
export const commitment = (recipe: Recipe, salt: string, researcherName: string): string =>
  textSha256(`${canonicalJson(recipe)}\n${salt}\n${researcherName}`)

const failureOf = (error: { readonly _tag: string; readonly message: string }): Journal.Failure => ({
  _tag: error._tag,
  message: error.message
})

const newId = (prefix: string): Effect.Effect<string> => Effect.sync(() => `${prefix}-${crypto.randomUUID()}`)

const positiveDuration = (
  input: Duration.DurationInput | undefined,
  what: string
): Effect.Effect<Duration.Duration | undefined, MarketInvalid> => {
  if (input === undefined) return Effect.succeed(undefined)
  const decoded = Duration.decode(input)
  return Duration.greaterThan(decoded, Duration.zero) && Duration.isFinite(decoded)
    ? Effect.succeed(decoded)
    : Effect.fail(new MarketInvalid({ reason: `${what} must be a positive, finite duration` }))
}

/**
 * The rules a config means, checked by their schema (defaults filled in). An `epoch`
 * given as a duration is the rules' `epochSeconds`: the epoch length decides payouts, so
 * it is journaled with the rest.
 */
export const rulesOf = (config: MarketConfig): Effect.Effect<Rules.MarketRules, MarketInvalid> => {
  const {
    epoch,
    jobDeadline: _deadline,
    file: _file,
    worker: _worker,
    pollMillis: _poll,
    ...rules
  } = config
  return Effect.flatMap(positiveDuration(epoch, "the epoch length"), (length) =>
    Schema.encode(Rules.MarketRules)({
    ...rules,
    ...(length === undefined ? {} : { epochSeconds: Duration.toMillis(length) / 1000 }),
    gate: rules.gate ?? { minLiftCiLower: 0.02, minN: 12 },
    feedback: rules.feedback ?? "full",
    commitReveal: rules.commitReveal ?? false,
    revealWindowSeconds: rules.revealWindowSeconds ?? Rules.DEFAULT_REVEAL_WINDOW_SECONDS,
    concurrency: rules.concurrency ?? 1
  }).pipe(
    Effect.flatMap(Schema.decodeUnknown(Rules.MarketRules, { onExcessProperty: "error" })),
    Effect.mapError((error) => new MarketInvalid({ reason: oneLine(error.message) }))
  ))
}

/**
 * Open a market on the provided store, cluster, referee and operator key: journal its
 * rules (or check them against the journal's), replay the journal and refuse a corrupt
 * one, train and measure the baseline once, then start the workers, the settler and the
 * epoch clock in the current scope (closing it stops them; unfinished jobs stay queued).
 */
export const make = (
  config: MarketConfig
): Effect.Effect<
  ContinuousMarket["Type"],
  OpenError,
  MarketStore | TrainingCluster | Scorer | OperatorKey | Scope.Scope
> =>
  Effect.gen(function*() {
    const rules = yield* rulesOf(config)
    const deadline = yield* positiveDuration(config.jobDeadline, "the job deadline")
    const store = yield* MarketStore
    const cluster = yield* TrainingCluster
    const scorer = yield* Scorer
    const { key } = yield* OperatorKey
    const plan = Rules.seedPlan(rules, key)
    const terms = Leaderboard.termsOf(rules)
    const workerName = config.worker ?? "local"
    const pollMillis = config.pollMillis ?? 250
    const encodedRules = Canonical.stringify(Schema.encodeSync(Rules.MarketRules)(rules))

    const state = Journal.empty()
    const mutex = yield* Effect.makeSemaphore(1)
    const signals = yield* PubSub.sliding<void>(1)
    const publicEvents = yield* PubSub.unbounded<PublicEvent>()

    /** Fold stored events into the state; what they make public is collected in `published`. */
    const fold = (stored: ReadonlyArray<Journal.Stored>, published: Array<PublicEvent>) => {
      for (const row of stored) {
        if (row.seq <= state.seq) continue
        Journal.apply(state, row)
        const visible = publicEvent(state, row)
        if (Option.isSome(visible)) published.push(visible.value)
      }
    }

    /** Tell subscribers (SSE) and waiting fibers (workers, the settler, `settled`) what changed. */
    const announce = (published: ReadonlyArray<PublicEvent>, changed: boolean) =>
      Effect.zipRight(
        Effect.forEach(published, (event) => PubSub.publish(publicEvents, event), { discard: true }),
        changed ? PubSub.publish(signals, undefined) : Effect.void
      )

    /**
     * Set while the state may be behind the journal: before the first read (a reopened
     * store), and after a failed commit (the state is folded afresh).
     */
    let stale = true

    /** Catch up with the journal (others' events on a shared store); the caller holds the mutex. */
    const catchUp = Effect.gen(function*() {
      const stored = yield* Effect.suspend(() => store.read(state.seq))
      const published: Array<PublicEvent> = []
      fold(stored, published)
      stale = false
      yield* announce(published, stored.length > 0)
    })

    /** Read the state after catching up. */
    const reading = <A>(f: (current: Journal.State, now: number) => A): Effect.Effect<A, StoreFailed> =>
      mutex.withPermits(1)(
        Effect.gen(function*() {
          if (store.shared || stale) yield* catchUp
          return f(state, yield* Clock.currentTimeMillis)
        })
      )

    /**
     * A write waiting for the writer: it decides on the caught-up state (seeing every write
     * before it in the same batch) and hears back once its events are durable.
     */
    interface Write {
      readonly decide: (current: Journal.State, now: number) => ReadonlyArray<Journal.MarketEvent> | undefined
      readonly committed: Effect.Effect<void>
      readonly failed: (error: StoreFailed) => Effect.Effect<void>
    }
    const writes = yield* Queue.unbounded<Write>()

    /**
     * Before a batch, let the event loop read what arrived meanwhile: a SQLite commit
     * blocks the loop while it syncs, so requests pile up unread in their sockets, and
     * without a turn of the loop each batch would hold one write. Real time (a market
     * on the TestClock still writes at once).
     */
    const gather = Effect.sleep(Duration.millis(1)).pipe(Effect.withClock(Clock.make()))

    /**
     * The one writer (group commit): takes every write waiting, decides each in turn on
     * the caught-up state inside one transaction under the store's write lock, commits
     * once (one fsync for the batch), and only then answers each write. A failed commit
     * answers every write of the batch with the failure and folds the journal afresh.
     */
    const writer = Effect.forever(
      Effect.gen(function*() {
        const first = yield* Queue.take(writes)
        yield* gather
        const batch = [first, ...(yield* Queue.takeUpTo(writes, 255))]
        const published: Array<PublicEvent> = []
        const outcome = yield* mutex.withPermits(1)(
          Effect.exit(store.locked(Effect.gen(function*() {
            // only this process writes a store that is not shared: its state is the journal already
            const stored = store.shared || stale ? yield* store.read(state.seq) : []
            fold(stored, published)
            stale = false
            const now = yield* Clock.currentTimeMillis
            // each write decides on the state the writes before it left; the batch is appended at once
            const batchEvents: Array<Journal.MarketEvent> = []
            let next = state.seq
            for (const write of batch) {
              const events = write.decide(state, now)
              if (events === undefined || events.length === 0) continue
              fold(events.map((event) => ({ seq: ++next, event })), published)
              batchEvents.push(...events)
            }
            if (batchEvents.length === 0) return stored.length > 0
            const appended = yield* store.append(batchEvents)
            if (appended[0]?.seq !== state.seq - batchEvents.length + 1 || appended.length !== batchEvents.length) {
              return yield* new StoreFailed({
                store: store.name,
                reason: "the journal moved under the write lock (another writer without the lock?)"
              })
            }
            return true
          })))
        )
        if (Exit.isSuccess(outcome)) {
          // waiting fibers wake only when something changed (a write that changed nothing must not wake its writer again)
          yield* announce(published, outcome.value)
          yield* Effect.forEach(batch, (write) => write.committed, { discard: true })
          return
        }
        const error = Option.getOrElse(
          Cause.failureOption(outcome.cause),
          () => new StoreFailed({ store: store.name, reason: "the journal could not be written" })
        )
        // what was folded in the rolled-back transaction never happened: start again from the journal
        yield* mutex.withPermits(1)(Effect.sync(() => {
          Object.assign(state, Journal.empty())
          stale = true
        }))
        yield* Effect.forEach(batch, (write) => write.failed(error), { discard: true })
      })
    )
    yield* Effect.forkScoped(writer)

    /**
     * Decide on the caught-up state and append what was decided, durably, before
     * returning: the one way anything is written, so no decision is made on stale state.
     */
    const transact = <A, E>(
      decide: (
        current: Journal.State,
        now: number
      ) => Either.Either<{ readonly events: ReadonlyArray<Journal.MarketEvent>; readonly result: A }, E>
    ): Effect.Effect<A, E | StoreFailed> =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<A, E | StoreFailed>()
        let decision: Either.Either<{ readonly result: A }, E> | undefined
        yield* Queue.offer(writes, {
          decide: (current, now) => {
            const decided = decide(current, now)
            decision = decided
            return Either.isRight(decided) ? decided.right.events : undefined
          },
          committed: Effect.suspend(() =>
            decision === undefined
              ? Deferred.fail(done, new StoreFailed({ store: store.name, reason: "a write was never decided" }))
              : Either.isRight(decision)
              ? Deferred.succeed(done, decision.right.result)
              : Deferred.fail(done, decision.left)
          ),
          failed: (error) => Deferred.fail(done, error)
        })
        return yield* Deferred.await(done)
      })

    // the journal holds the market's rules: a store opened with other rules is refused
    yield* transact((current, now) => {
      if (current.rules === undefined) {
        return Either.right({
          events: [Journal.Opened.make({ at: now, rules, ...(config.file === undefined ? {} : { file: config.file }) })],
          result: undefined
        })
      }
      const journaled = Canonical.stringify(Schema.encodeSync(Rules.MarketRules)(current.rules))
      const sameFile = config.file === undefined || Canonical.stringify(current.file) === Canonical.stringify(config.file)
      return journaled === encodedRules && sameFile
        ? Either.right({ events: [], result: undefined })
        : Either.left(
          new StoreFailed({
            store: store.name,
            reason: "it holds a market opened with another market file; open it with that file, or use a new store"
          })
        )
    })
    const corrupt = yield* reading((current) => current.discrepancies)
    if (corrupt.length > 0) {
      return yield* new JournalCorrupt({
        reason: `${corrupt.length} recomputed payout(s) disagree with the journal: ${corrupt.slice(0, 3).join("; ")}`
      })
    }

    /** Train a recipe on the cluster under the job deadline and check it is what was asked for. */
    const trainOne = (recipe: Recipe, seed: bigint) => {
      const job = cluster.train(recipe, seed)
      const bounded = deadline === undefined ? job : job.pipe(
        Effect.timeoutFail({
          duration: deadline,
          onTimeout: () => new TrainingTimeout({ clusterId: cluster.id, deadlineMillis: Duration.toMillis(deadline) })
        })
      )
      return Effect.flatMap(bounded, (trained) => Artifact.validate(trained, { recipe, seed }))
    }

    /** Train a recipe with each of its seeds and measure every artifact on HeldOut. */
    const trainAndMeasure = (recipe: Recipe, seeds: ReadonlyArray<bigint>) =>
      Effect.forEach(seeds, (seed) =>
        Effect.gen(function*() {
          const artifact = yield* trainOne(recipe, seed)
          const heldOut = yield* scorer.measure(artifact, "held-out")
          const record: Journal.TrainedRecord = {
            seed: seed.toString(),
            ref: Artifact.ref(artifact),
            clusterId: artifact.clusterId,
            trainLoss: artifact.trainLoss,
            ...(artifact.receipt === undefined ? {} : { receipt: artifact.receipt }),
            ...(artifact.checkpoint === undefined ? {} : { checkpoint: artifact.checkpoint }),
            ...(artifact.checkpointSha256 === undefined ? {} : { checkpointSha256: artifact.checkpointSha256 })
          }
          return { heldOut, record }
        })).pipe(Effect.map((results) => ({
          perSeed: results.map((r) => r.heldOut),
          trained: results.map((r) => r.record)
        })))

    // the baseline is trained once, when the market first opens (a restarted market reads it from the journal)
    if ((yield* reading((current) => current.baseline)) === undefined) {
      const baselineRecipe = yield* decodeRecipe(rules.baseline.recipe)
      const measured = yield* trainAndMeasure(baselineRecipe, Seeds.forBaseline(plan))
      yield* transact((current, now) =>
        Either.right({
          events: current.baseline === undefined ? [Journal.BaselineMeasured.make({ at: now, perSeed: measured.perSeed })] : [],
          result: undefined
        })
      )
    }
    const baseline = yield* reading((current) => current.baseline)
    if (baseline === undefined) return yield* new StoreFailed({ store: store.name, reason: "the baseline was not journaled" })

    const draining = yield* Ref.make(false)
    const running = yield* Ref.make(0)

    /** Wait for the next change (an applied event, here or, on a shared store, elsewhere). */
    const subscribeSignals = PubSub.subscribe(signals)

    /** Claim one job, train it, journal its measurements; false when there was nothing to claim. */
    const runOneJob: Effect.Effect<boolean, StoreFailed, Scope.Scope> = Effect.gen(function*() {
      if (yield* Ref.get(draining)) return false
      const queued = yield* reading((current) => [...current.unfinished])
      if (queued.length === 0) return false
      const claimed = yield* store.claim(queued)
      if (Option.isNone(claimed)) return false
      const claim = claimed.value
      const submission = yield* reading((current) => Journal.find(current, claim.submissionId))
      if (submission === undefined || submission.judged !== undefined || submission.status === "failed") {
        yield* claim.done
        return true
      }
      yield* transact((_current, now) =>
        Either.right({
          events: [Journal.Started.make({ at: now, submissionId: submission.id, worker: workerName })],
          result: undefined
        })
      )
      const outcome = yield* Effect.either(trainAndMeasure(submission.recipe, Seeds.forSubmission(plan, submission.index)))
      yield* transact((current, now) => {
        const still = Journal.find(current, submission.id)
        if (still === undefined || still.judged !== undefined || still.status === "failed") {
          return Either.right({ events: [], result: undefined })
        }
        return Either.right({
          events: [
            Either.isRight(outcome)
              ? Journal.Measured.make({
                at: now,
                submissionId: submission.id,
                perSeed: outcome.right.perSeed,
                trained: outcome.right.trained
              })
              : Journal.Failed.make({ at: now, submissionId: submission.id, error: failureOf(outcome.left) })
          ],
          result: undefined
        })
      })
      yield* claim.done
      return true
    })

    /** A job counts as running from its claim until its outcome is journaled (what a drain waits for). */
    const counted = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(Ref.update(running, (n) => n + 1), () => self, () => Ref.update(running, (n) => n - 1))

    /** Real time, whatever the market's clock: how often to look at a shared store. */
    const poll = Effect.sleep(Duration.millis(pollMillis)).pipe(Effect.withClock(Clock.make()))

    const worker = Effect.gen(function*() {
      const wake = yield* subscribeSignals
      // on a shared store a job becomes claimable again without any new event when its process dies: look again
      const idle = store.shared ? Effect.raceFirst(Queue.take(wake), poll) : Queue.take(wake)
      for (;;) {
        const worked = yield* counted(Effect.scoped(runOneJob))
        if (!worked) yield* idle
      }
    })

    /**
     * Settle, in submission order, every submission that is measured and has all before
     * it settled or failed: one write for all of them. False when none was ready.
     */
    const settleable = (current: Journal.State): boolean => current.submissions[current.nextToSettle]?.judged !== undefined

    const settleAll = transact((current, now) => {
      // an epoch that has ended is credited to whoever held the top spot then, before
      // anything settled now can change who that is
      const due = Journal.dueEpochs(current, now)
      const events: Array<Journal.MarketEvent> = [...due.events]
      const baselineJudged = current.baseline
      let standing = due.standing
      for (let index = current.nextToSettle; baselineJudged !== undefined; index++) {
        const next = current.submissions[index]
        if (next === undefined) break
        if (next.status === "failed") continue
        if (next.judged === undefined || next.status === "settled") break
        const decision = Settlement.decide(rules, baselineJudged, standing, next.researcher, next.judged)
        standing = decision.standing
        events.push(Journal.Settled.make({
          at: now,
          submissionId: next.id,
          index: next.index,
          liftMicros: decision.liftMicros ?? null,
          becameRecord: decision.becameRecord,
          paidWei: decision.paidWei,
          pValue: decision.pValue ?? null
        }))
      }
      return Either.right({ events, result: events.length > 0 })
    })

    const settleReady = Effect.flatMap(reading(settleable), (ready) => (ready ? settleAll : Effect.succeed(false)))

    /** Close every epoch whose end has passed (TimeAtTop): the holder is credited min(weiPerEpoch, pool left). */
    const closeEpochs = transact((current, now) => Either.right({ events: Journal.dueEpochs(current, now).events, result: undefined }))

    const untilNextEpoch = reading((current, now) => Math.max(0, Journal.epochEnd(current, current.epoch) - now))

    const settler = Effect.gen(function*() {
      // on a shared store only one process settles: the others wait for the role
      while (!(yield* store.settlerRole)) yield* poll
      const wake = yield* subscribeSignals
      const timeAtTop = rules.schedule.kind === "time-at-top"
      if (timeAtTop) {
        yield* Effect.forkScoped(
          Effect.forever(
            Effect.flatMap(untilNextEpoch, (millis) => Effect.sleep(Duration.millis(millis))).pipe(
              Effect.zipRight(closeEpochs)
            )
          )
        )
      }
      for (;;) {
        yield* settleReady
        yield* Queue.take(wake)
      }
    })

    const follower = Effect.forever(Effect.zipRight(poll, mutex.withPermits(1)(catchUp)))

    /** A background loop: a store failure (a database restarting) is logged, and the loop starts again a poll later. */
    const background = (self: Effect.Effect<unknown, StoreFailed, Scope.Scope>) =>
      Effect.forkScoped(
        Effect.forever(Effect.scoped(self).pipe(Effect.catchAll((error) => Effect.zipRight(Effect.logError(error.message), poll))))
      )
    for (let i = 0; i < rules.concurrency; i++) yield* background(worker)
    yield* background(settler)
    if (store.shared) yield* background(follower)

    // anything measured but unsettled when the market last stopped settles now
    yield* PubSub.publish(signals, undefined)

    const budgetCheck = (current: Journal.State, who: string, now: number): Either.Either<void, SubmissionRefused> => {
      const budget = rules.submissionBudget
      if (budget === undefined) return Either.void
      const since = now - budget.perSeconds * 1000
      const recent = (current.acceptedAt.get(who) ?? []).filter((t) => t > since).length
      return recent >= budget.count
        ? Either.left(
          new SubmissionRefused({
            reason: `${who} has ${recent} accepted submission(s) in the last ${budget.perSeconds} s; the budget is ${budget.count}`
          })
        )
        : Either.void
    }

    const acceptEvent = (
      current: Journal.State,
      now: number,
      who: string,
      recipe: Recipe,
      submissionId: string,
      commitId: string | undefined
    ) =>
      Journal.Accepted.make({
        at: now,
        submissionId,
        index: current.submissions.length,
        researcher: who,
        recipe,
        ...(commitId === undefined ? {} : { commitId })
      })

    const accept = (who: string, input: unknown): Effect.Effect<Accepted, AcceptError> =>
      Effect.gen(function*() {
        if (rules.commitReveal) return yield* new CommitRevealRequired()
        const recipe = yield* decodeRecipe(input)
        const submissionId = yield* newId("sub")
        return yield* transact((current, now) =>
          Either.map(budgetCheck(current, who, now), () => {
            const event = acceptEvent(current, now, who, recipe, submissionId, undefined)
            return { events: [event], result: { submissionId, index: event.index, status: "queued" as const } }
          })
        )
      })

    const commit = (who: string, hash: string): Effect.Effect<Committed, BadInput | StoreFailed> =>
      Effect.gen(function*() {
        if (!/^[0-9a-f]{64}$/.test(hash)) {
          return yield* new BadInput({ source: "commitment", reason: "must be 64 lower-case hex digits (sha256)" })
        }
        const commitId = yield* newId("commit")
        return yield* transact((_current, now) =>
          Either.right({
            events: [Journal.Committed.make({ at: now, commitId, researcher: who, commitment: hash })],
            result: { commitId, committedAt: now }
          })
        )
      })

    const reveal = (who: string, commitId: string, input: unknown, salt: string): Effect.Effect<Accepted, RevealError> =>
      Effect.gen(function*() {
        const recipe = yield* decodeRecipe(input)
        const submissionId = yield* newId("sub")
        return yield* transact((current, now): Either.Either<
          { readonly events: ReadonlyArray<Journal.MarketEvent>; readonly result: Accepted },
          RevealError
        > => {
          const committed = current.commits.get(commitId)
          // another researcher's commitment is as unknown to this one as a made-up id
          if (committed === undefined || committed.researcher !== who) return Either.left(new NotFound({ what: `commitment ${commitId}` }))
          if (committed.revealed) {
            return Either.left(new DuplicateSubmission({ reason: `commitment ${commitId} was already revealed` }))
          }
          if (now > committed.at + rules.revealWindowSeconds * 1000) {
            return Either.left(
              new RevealMismatch({ reason: `commitment ${commitId} expired: it was not revealed within ${rules.revealWindowSeconds} s` })
            )
          }
          if (commitment(recipe, salt, who) !== committed.commitment) {
            return Either.left(
              new RevealMismatch({
                reason: "sha256(canonical recipe JSON + \"\\n\" + salt + \"\\n\" + researcher) is not the commitment"
              })
            )
          }
          const owner = current.recipes.get(canonicalJson(recipe))
          if (owner !== undefined && owner < committed.order) {
            return Either.left(
              new DuplicateSubmission({ reason: "this recipe was committed earlier by someone else (or by you): it is not trained" })
            )
          }
          return Either.map(budgetCheck(current, who, now), () => {
            const event = acceptEvent(current, now, who, recipe, submissionId, commitId)
            return { events: [event], result: { submissionId, index: event.index, status: "queued" as const } }
          })
        })
      })

    const receiptOf = (submission: Journal.Submission): Receipt | undefined => {
      const settledAs = submission.settled
      const judgedAs = submission.judged
      if (settledAs === undefined || judgedAs === undefined) return undefined
      const { standing: _standing, ...decision } = settledAs.decision
      return {
        ...decision,
        submissionId: submission.id,
        index: submission.index,
        researcher: submission.researcher,
        seeds: Seeds.forSubmission(plan, submission.index),
        submittedAt: submission.acceptedAt,
        settledAt: settledAs.at,
        epoch: settledAs.epoch,
        heldOut: judgedAs.pooled,
        perSeed: judgedAs.perSeed
      }
    }

    const settled = (submissionId: string): Effect.Effect<Receipt, NotFound | SubmissionFailed | StoreFailed> =>
      Effect.scoped(Effect.gen(function*() {
        const wake = yield* subscribeSignals
        for (;;) {
          const found = yield* reading((current): Either.Either<Receipt | undefined, NotFound | SubmissionFailed> => {
            const submission = Journal.find(current, submissionId)
            if (submission === undefined) return Either.left(new NotFound({ what: `submission ${submissionId}` }))
            if (submission.status === "failed") {
              return Either.left(
                new SubmissionFailed({ submissionId, failure: submission.error ?? { _tag: "Unknown", message: "failed" } })
              )
            }
            return Either.right(receiptOf(submission))
          })
          if (Either.isLeft(found)) return yield* Effect.fail(found.left)
          if (found.right !== undefined) return found.right
          yield* Queue.take(wake)
        }
      }))

    const bestOf = (current: Journal.State): bigint => current.standing.bestMicros ?? 0n

    const viewOf = (current: Journal.State, submission: Journal.Submission, viewer: Viewer): SubmissionView => {
      const decision = submission.settled?.decision
      const full: SubmissionView = {
        submissionId: submission.id,
        researcher: submission.researcher,
        recipe: submission.recipe,
        index: submission.index,
        status: submission.status,
        becameRecord: decision?.becameRecord ?? null,
        paidWei: decision?.paidWei ?? null,
        heldOutValue: submission.judged?.pooled.value ?? null,
        liftMicros: decision?.liftMicros ?? null,
        error: submission.error ?? null
      }
      if (viewer.role === "operator" || rules.feedback === "full" || decision?.becameRecord === true) return full
      // Ladder: a submission that is not a record reveals nothing of the held-out split but the public best
      return { ...full, heldOutValue: null, liftMicros: null, bestMicros: bestOf(current) }
    }

    const visible = (submission: Journal.Submission, viewer: Viewer): boolean =>
      viewer.role === "operator" || submission.researcher === viewer.name

    const view = (submissionId: string, viewer: Viewer): Effect.Effect<SubmissionView, NotFound | StoreFailed> =>
      Effect.flatMap(
        reading((current) => {
          const submission = Journal.find(current, submissionId)
          return submission !== undefined && visible(submission, viewer) ? viewOf(current, submission, viewer) : undefined
        }),
        (found) => (found === undefined ? Effect.fail(new NotFound({ what: `submission ${submissionId}` })) : Effect.succeed(found))
      )

    const list = (viewer: Viewer) =>
      reading((current) =>
        current.submissions.filter((s) => visible(s, viewer)).map((s) => viewOf(current, s, viewer)).reverse()
      )

    const leaderboard = reading((current): LeaderboardView => ({
      bestMicros: bestOf(current),
      holder: current.standing.holder ?? null,
      spentWei: current.standing.spentWei,
      poolLeftWei: Leaderboard.poolLeft(terms, current.standing) ?? null,
      submissions: current.submissions.length,
      records: current.records.map((r) => ({ researcher: r.researcher, micros: r.micros, wei: r.wei, at: r.at }))
    }))

    const snapshot = reading((current): Snapshot => ({
      epoch: current.epoch,
      bestMicros: current.standing.bestMicros,
      holder: current.standing.holder,
      spentWei: current.standing.spentWei,
      poolLeftWei: Leaderboard.poolLeft(terms, current.standing),
      submissions: current.submissions.length,
      payouts: Journal.payouts(current)
    }))

    const drain = (grace: Duration.DurationInput): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* Ref.set(draining, true)
        // polled against a deadline rather than raced with a timeout: a service drains from a
        // finalizer, where nothing can be interrupted, and a timeout there would wait for the jobs
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(grace)
        yield* Effect.repeat(Effect.all([Ref.get(running), Clock.currentTimeMillis]), {
          until: ([jobs, now]) => jobs <= 0 || now >= deadline,
          schedule: Schedule.spaced(Duration.millis(50))
        })
        yield* Effect.ignore(settleReady)
      })

    return ContinuousMarket.of({
      rules,
      terms,
      baseline: baseline.pooled,
      accept,
      submit: (who, recipe) => Effect.flatMap(accept(who, recipe), (accepted) => settled(accepted.submissionId)),
      commit,
      reveal,
      settled,
      view,
      list,
      leaderboard,
      snapshot,
      log: reading((current) => [...current.ledger]),
      audit: reading(Journal.audit),
      events: Stream.fromPubSub(publicEvents),
      subscribe: Stream.fromPubSub(publicEvents, { scoped: true }),
      drain
    })
  })

/** The market as a layer over a store, a cluster, a referee and the operator key; its fibers live as long as the layer. */
export const layer = (
  config: MarketConfig
): Layer.Layer<ContinuousMarket, OpenError, MarketStore | TrainingCluster | Scorer | OperatorKey> =>
  Layer.scoped(ContinuousMarket, make(config))
