/**
 * Where a live market keeps its journal (SPEC §16): an append-only sequence of events,
 * durable before a request is answered. The market (`ContinuousMarket`) depends on this
 * small service only; the stores are layers: in memory (a library program, tests),
 * SQLite (one `serve` process, the default) and PostgreSQL (several processes on one
 * database).
 *
 * The contract:
 * - `locked(effect)` runs `effect` holding the store's write lock in one transaction:
 *   the market catches up with the journal, decides, and `append`s inside it, so no
 *   two writers (fibers or processes) ever decide on the same state.
 * - `append` assigns consecutive sequence numbers; readers never see a gap that fills
 *   later (`read(afterSeq)` returns every event after `afterSeq`, in order).
 * - `claim(queued)` claims one training job for this process (first come, in submission
 *   order) for as long as the returned scope lives; `done` marks it finished. A job
 *   whose process died is claimable again.
 * - `settlerRole` makes this process the one that settles (and closes epochs) for as long
 *   as its scope lives, or says another process holds it.
 */
import { Context, Effect, Layer, Option, Ref, type Scope } from "effect"
import type { StoreFailed } from "../domain/Errors.js"
import type * as Journal from "../market/Journal.js"

/** A claimed training job. */
export interface Claim {
  readonly submissionId: string
  /** Mark the job finished (its outcome is in the journal); released jobs that are not done are claimable again. */
  readonly done: Effect.Effect<void, StoreFailed>
}

/** A market's journal store. */
export class MarketStore extends Context.Tag("trainmarket/MarketStore")<
  MarketStore,
  {
    /** Names the store in messages (`memory`, a file, a database). */
    readonly name: string
    /** Whether other processes may write it too (then the market polls for their events). */
    readonly shared: boolean
    readonly read: (afterSeq: number) => Effect.Effect<ReadonlyArray<Journal.Stored>, StoreFailed>
    readonly locked: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreFailed, R>
    readonly append: (events: ReadonlyArray<Journal.MarketEvent>) => Effect.Effect<ReadonlyArray<Journal.Stored>, StoreFailed>
    readonly claim: (
      queued: ReadonlyArray<string>
    ) => Effect.Effect<Option.Option<Claim>, StoreFailed, Scope.Scope>
    readonly settlerRole: Effect.Effect<boolean, StoreFailed, Scope.Scope>
  }
>() {}

/**
 * Job claims within one process: the first queued job nobody here holds. For stores
 * only one process writes (memory, SQLite), where a job whose process died is simply
 * queued again when the journal is replayed at the next start.
 */
export const localClaims = Effect.map(Ref.make<ReadonlySet<string>>(new Set()), (held) =>
  (queued: ReadonlyArray<string>): Effect.Effect<Option.Option<Claim>, never, Scope.Scope> =>
    Effect.acquireRelease(
      Ref.modify(held, (current): readonly [Option.Option<string>, ReadonlySet<string>] => {
        const free = queued.find((id) => !current.has(id))
        return free === undefined ? [Option.none(), current] : [Option.some(free), new Set([...current, free])]
      }),
      (claimed) =>
        Option.match(claimed, {
          onNone: () => Effect.void,
          onSome: (id) => Ref.update(held, (current) => new Set([...current].filter((x) => x !== id)))
        })
    ).pipe(Effect.map(Option.map((submissionId): Claim => ({ submissionId, done: Effect.void }))))
)

/**
 * A journal in memory, over `events` (a test may hold the array to restart a market on
 * it, or edit it).
 */
export const makeMemory = (given?: Array<Journal.Stored>, name = "memory") =>
  Effect.gen(function*() {
    // a fresh journal for every build of the layer, unless the caller holds one
    const events = given ?? []
    const lock = yield* Effect.makeSemaphore(1)
    const claim = yield* localClaims
    return MarketStore.of({
      name,
      shared: false,
      read: (afterSeq) => Effect.sync(() => events.slice(Math.max(0, afterSeq))),
      locked: (self) => lock.withPermits(1)(self),
      append: (batch) =>
        Effect.sync(() =>
          batch.map((event) => {
            const stored = { seq: events.length + 1, event }
            events.push(stored)
            return stored
          })
        ),
      claim,
      settlerRole: Effect.succeed(true)
    })
  })

/** A journal in memory: as long as the layer lives. For library programs and tests. */
export const layerMemory: Layer.Layer<MarketStore> = Layer.effect(MarketStore, makeMemory())
