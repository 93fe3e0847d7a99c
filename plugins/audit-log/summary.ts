import type { FeedEvent } from './feed-event.ts'

// Chart series of the admin dashboard, counted as events arrive into fixed time buckets (per minute
// for the last hour, per 15 minutes for the last day): the cost of a summary does not depend on
// how many events there were, and only the charted events are kept, as counts.

export type SummaryWindow = '1h' | '24h'
export const SUMMARY_WINDOWS: Record<SummaryWindow, { bucketMs: number, buckets: number }> = {
  '1h': { bucketMs: 60_000, buckets: 60 },
  '24h': { bucketMs: 900_000, buckets: 96 }
}

const SERIES = ['sign_ins_succeeded', 'sign_ins_failed', 'token_rejections', 'scope_denials', 'rate_limit_hits'] as const
type Series = typeof SERIES[number]
export type Counts = Record<Series, number>

const SERIES_OF: Record<string, Series> = {
  'login.succeeded': 'sign_ins_succeeded',
  'login.failed': 'sign_ins_failed',
  'token.rejected': 'token_rejections',
  'scope.denied': 'scope_denials',
  'rate_limit.exceeded': 'rate_limit_hits'
}

/** Bounds per bucket: distinct rejection reasons, clients and tenants; the rest is counted as OTHER. */
export const SUMMARY_LIMITS = { reasons: 32, keys: 200 }
export const OTHER = '(other)'

const zero = (): Counts => ({ sign_ins_succeeded: 0, sign_ins_failed: 0, token_rejections: 0, scope_denials: 0, rate_limit_hits: 0 })

interface Bucket { start: number, counts: Counts, reasons: Map<string, number>, clients: Map<string, Counts>, tenants: Map<string, Counts> }

export interface TopEntry extends Counts { id: string, total: number }
export interface Summary {
  window: SummaryWindow
  bucket_seconds: number
  from: string
  to: string
  /** Start of each bucket, oldest first; every series has one count per bucket. */
  buckets: string[]
  sign_ins: { succeeded: number[], failed: number[] }
  token_rejections: Array<{ reason: string, counts: number[] }>
  scope_denials: number[]
  rate_limit_hits: number[]
  top_clients: TopEntry[]
  top_tenants: TopEntry[]
  /** Counting started then (this instance's start, or the stream's backfill): earlier buckets may be short. */
  counted_since: string
}

function bumpKeyed (map: Map<string, Counts>, key: string, series: Series) {
  let counts = map.get(key)
  if (counts === undefined) {
    const k = map.size < SUMMARY_LIMITS.keys ? key : OTHER
    counts = map.get(k) ?? zero()
    map.set(k, counts)
  }
  counts[series]++
}

/**
 * Fixed buckets of one window, in a ring: a bucket older than the window is reused. One slot more
 * than the window shows: an event stamped in the next bucket (the stream's ids are Redis' clock,
 * which may run a little ahead of ours) is kept without taking the oldest bucket's place.
 */
class BucketRing {
  private readonly slots: Array<Bucket | undefined>
  constructor (readonly bucketMs: number, readonly buckets: number) {
    this.slots = new Array(buckets + 1).fill(undefined)
  }

  private slot (start: number): number { return (start / this.bucketMs) % (this.buckets + 1) }

  add (e: FeedEvent, series: Series, now: number): void {
    const start = e.at - (e.at % this.bucketMs)
    const current = now - (now % this.bucketMs)
    if (start > current + this.bucketMs || start <= current - this.buckets * this.bucketMs) return
    const index = this.slot(start)
    let bucket = this.slots[index]
    if (bucket === undefined || bucket.start < start) {
      bucket = { start, counts: zero(), reasons: new Map(), clients: new Map(), tenants: new Map() }
      this.slots[index] = bucket
    } else if (bucket.start > start) return
    bucket.counts[series]++
    if (series === 'token_rejections') {
      const reason = e.reason ?? 'unknown'
      const key = bucket.reasons.has(reason) || bucket.reasons.size < SUMMARY_LIMITS.reasons ? reason : OTHER
      bucket.reasons.set(key, (bucket.reasons.get(key) ?? 0) + 1)
    }
    if (e.client_id !== undefined) bumpKeyed(bucket.clients, e.client_id, series)
    if (e.tid !== undefined) bumpKeyed(bucket.tenants, e.tid, series)
  }

  /** The buckets of the window ending now, oldest first (undefined: nothing counted there). */
  window (now: number): Array<{ start: number, bucket?: Bucket }> {
    const current = now - (now % this.bucketMs)
    const out: Array<{ start: number, bucket?: Bucket }> = []
    for (let i = this.buckets - 1; i >= 0; i--) {
      const start = current - i * this.bucketMs
      const bucket = this.slots[this.slot(start)]
      out.push({ start, bucket: bucket?.start === start ? bucket : undefined })
    }
    return out
  }
}

function top (maps: Array<Map<string, Counts> | undefined>, n: number): TopEntry[] {
  const sums = new Map<string, Counts>()
  for (const map of maps) {
    if (map === undefined) continue
    for (const [key, counts] of map) {
      const sum = sums.get(key) ?? zero()
      for (const s of SERIES) sum[s] += counts[s]
      sums.set(key, sum)
    }
  }
  return [...sums].map(([id, c]) => ({ id, ...c, total: SERIES.reduce((a, s) => a + c[s], 0) }))
    .sort((a, b) => b.total - a.total || a.id.localeCompare(b.id)).slice(0, n)
}

/** Counts charted events into the 1 h and 24 h buckets; `summary` reads them. */
export class SummaryCounter {
  private readonly rings: Record<SummaryWindow, BucketRing>
  private since: number

  constructor (private readonly now: () => number = Date.now) {
    this.rings = {
      '1h': new BucketRing(SUMMARY_WINDOWS['1h'].bucketMs, SUMMARY_WINDOWS['1h'].buckets),
      '24h': new BucketRing(SUMMARY_WINDOWS['24h'].bucketMs, SUMMARY_WINDOWS['24h'].buckets)
    }
    this.since = now()
  }

  /** Counting covers events from `at` on (a backfill from the stream moves it back). */
  countedSince (at: number): void { this.since = Math.min(this.since, at) }

  add (e: FeedEvent): void {
    const series = SERIES_OF[e.event]
    if (series === undefined) return
    const now = this.now()
    this.rings['1h'].add(e, series, now)
    this.rings['24h'].add(e, series, now)
  }

  summary (window: SummaryWindow, topN = 10): Summary {
    const ring = this.rings[window]
    const now = this.now()
    const slots = ring.window(now)
    const series = (s: Series) => slots.map(({ bucket }) => bucket?.counts[s] ?? 0)
    const reasons = new Set<string>()
    for (const { bucket } of slots) for (const r of bucket?.reasons.keys() ?? []) reasons.add(r)
    return {
      window,
      bucket_seconds: ring.bucketMs / 1000,
      from: new Date(slots[0].start).toISOString(),
      to: new Date(now).toISOString(),
      buckets: slots.map(({ start }) => new Date(start).toISOString()),
      sign_ins: { succeeded: series('sign_ins_succeeded'), failed: series('sign_ins_failed') },
      token_rejections: [...reasons].sort().map(reason => ({ reason, counts: slots.map(({ bucket }) => bucket?.reasons.get(reason) ?? 0) })),
      scope_denials: series('scope_denials'),
      rate_limit_hits: series('rate_limit_hits'),
      top_clients: top(slots.map(({ bucket }) => bucket?.clients), topN),
      top_tenants: top(slots.map(({ bucket }) => bucket?.tenants), topN),
      counted_since: new Date(this.since).toISOString()
    }
  }
}
