import type { FastifyBaseLogger } from 'fastify'
import { TemporarilyUnavailableError } from '../errors/oauth.ts'
import type { RedisClient } from '../store/connection.ts'
import type { AuditListener } from '../audit-log.ts'
import { compareIds, createIdSource, feedEvent, type FeedEvent } from './feed-event.ts'
import { matches, type FeedFilter } from './feed-filter.ts'
import { RingBuffer } from './ring-buffer.ts'
import { SummaryCounter, type Summary, type SummaryWindow } from './summary.ts'
import { scan, startStreamReader } from './feed-stream.ts'

// The admin dashboard's audit feed: recent events, live subscriptions and chart counts. From this
// instance's own audit lines (an in-process ring buffer), or, with AUDIT_REDIS_STREAM, from the
// shared stream, so the feed shows the events of every instance.

export type FeedListener = (e: FeedEvent) => void

export interface AuditFeed {
  readonly kind: 'memory' | 'redis-stream'
  /** Matching events, newest first, at most `limit`. */
  recent: (filter: FeedFilter, limit: number) => Promise<FeedEvent[]>
  /** Matching events after `id` (Last-Event-ID), oldest first, at most `limit`. */
  after: (id: string, filter: FeedFilter, limit: number) => Promise<FeedEvent[]>
  /** `listener` hears every matching event from now on; returns the unsubscribe. Full: TemporarilyUnavailableError. */
  subscribe: (filter: FeedFilter, listener: FeedListener) => () => void
  summary: (window: SummaryWindow, top?: number) => Summary
  /** Live subscriptions now open on this instance. */
  readonly subscribers: number
  close: () => Promise<void>
}

export interface FeedLimits {
  /** Events kept in process (without the stream). */
  bufferSize: number
  /** Live subscriptions (SSE streams) per instance. */
  maxSubscribers: number
}

export const FEED_LIMITS: FeedLimits = { bufferSize: 1000, maxSubscribers: 20 }

/** The live subscriptions, bounded; a listener's failure is logged and fails nothing else. */
class Subscribers {
  private readonly all = new Set<{ filter: FeedFilter, listener: FeedListener }>()
  constructor (private readonly max: number, private readonly log: FastifyBaseLogger) {}

  get size (): number { return this.all.size }

  add (filter: FeedFilter, listener: FeedListener): () => void {
    if (this.all.size >= this.max) throw new TemporarilyUnavailableError(`The live feed has its maximum of ${this.max} viewers on this instance; retry shortly`, { 'retry-after': '30' })
    // A subscription is live from now on: `since` selects history only.
    const entry = { filter: { ...filter, since: undefined }, listener }
    this.all.add(entry)
    return () => { this.all.delete(entry) }
  }

  publish (e: FeedEvent): void {
    for (const { filter, listener } of this.all) {
      if (!matches(e, filter)) continue
      try { listener(e) } catch (err) { this.log.error({ err }, 'audit feed listener failed') }
    }
  }
}

export interface MemoryFeedOptions {
  onAudit: (listener: AuditListener) => () => void
  log: FastifyBaseLogger
  limits?: Partial<FeedLimits>
  now?: () => number
}

/** The feed of this instance's own audit lines, kept in a ring buffer. */
export function createMemoryFeed (opts: MemoryFeedOptions): AuditFeed {
  const limits = { ...FEED_LIMITS, ...opts.limits }
  const buffer = new RingBuffer<FeedEvent>(limits.bufferSize)
  const counter = new SummaryCounter(opts.now)
  const subscribers = new Subscribers(limits.maxSubscribers, opts.log)
  const nextId = createIdSource()
  const stop = opts.onAudit((line, at) => {
    const e = feedEvent(nextId(at), at, line)
    buffer.push(e)
    counter.add(e)
    subscribers.publish(e)
  })
  const collect = (filter: FeedFilter, limit: number, after?: string): FeedEvent[] => {
    const out: FeedEvent[] = []
    buffer.newestFirst(e => {
      if (after !== undefined && compareIds(e.id, after) <= 0) return false
      if (filter.since !== undefined && e.at < filter.since) return false
      if (matches(e, filter)) out.push(e)
      return after !== undefined || out.length < limit
    })
    return out
  }
  return {
    kind: 'memory',
    recent: async (filter, limit) => collect(filter, limit),
    after: async (id, filter, limit) => collect(filter, Infinity, id).reverse().slice(0, limit),
    subscribe: (filter, listener) => subscribers.add(filter, listener),
    summary: (window, top) => counter.summary(window, top),
    get subscribers () { return subscribers.size },
    close: async () => { stop() }
  }
}

export interface StreamFeedOptions {
  name: string
  /** The shared client (history) and a dedicated one for blocking reads (closed by the feed). */
  shared: RedisClient
  blocking: RedisClient
  blockMs: number
  log: FastifyBaseLogger
  limits?: Partial<FeedLimits>
  now?: () => number
}

/** The feed of every instance, read from the shared audit stream. */
export function createStreamFeed (opts: StreamFeedOptions): AuditFeed {
  const limits = { ...FEED_LIMITS, ...opts.limits }
  const now = opts.now ?? Date.now
  const counter = new SummaryCounter(now)
  const subscribers = new Subscribers(limits.maxSubscribers, opts.log)
  let backfilledSince: number | undefined
  const reader = startStreamReader(opts.blocking, opts.shared, {
    name: opts.name,
    log: opts.log,
    blockMs: opts.blockMs,
    now,
    onBackfill (e, since) {
      if (backfilledSince === undefined) counter.countedSince(backfilledSince = Math.max(since, e.at))
      counter.add(e)
    },
    onEvent (e) {
      counter.add(e)
      subscribers.publish(e)
    }
  })
  const history = async (direction: 'forward' | 'back', bounds: { start: string, end: string }, filter: FeedFilter, limit: number) => {
    try {
      return await scan(opts.shared, opts.name, direction, bounds, filter, limit)
    } catch (err) {
      opts.log.warn({ err: { message: (err as Error).message }, stream: opts.name }, 'admin feed cannot read the audit stream')
      throw new TemporarilyUnavailableError('The audit stream cannot be read now; retry shortly', { 'retry-after': '5' })
    }
  }
  return {
    kind: 'redis-stream',
    recent: async (filter, limit) => await history('back', { start: filter.since === undefined ? '-' : String(filter.since), end: '+' }, filter, limit),
    after: async (id, filter, limit) => await history('forward', { start: `(${id}`, end: '+' }, filter, limit),
    subscribe: (filter, listener) => subscribers.add(filter, listener),
    summary: (window, top) => counter.summary(window, top),
    get subscribers () { return subscribers.size },
    close: async () => { await reader.stop() }
  }
}
