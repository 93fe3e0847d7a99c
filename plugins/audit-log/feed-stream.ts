import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClient } from '../store/connection.ts'
import { createThrottle } from '../shared/throttle.ts'
import { compareIds, feedEvent, type FeedEvent } from './feed-event.ts'
import { matches, type FeedFilter } from './feed-filter.ts'

// The admin feed's reading side of AUDIT_REDIS_STREAM (stream.ts writes it): every instance reads
// the shared stream, so each feed shows the events of all instances. Live events come through a
// connection of their own (`XREAD BLOCK` holds it); history through the shared client, by id
// range: ids are millisecond times, so a time window is an id range.

type Entry = [id: string, fields: string[]]

/** Longest line read back (a line of another instance is trusted no further than this). */
const MAX_LINE = 16_384
/** Entries read per command, and at most per history query (a filter that matches little stops there). */
const PAGE = 500
export const MAX_SCAN = 5000
/** The largest sequence part of a stream id (64 bits): `<ms>-MAX_SEQUENCE` is the last id of a millisecond. */
const MAX_SEQUENCE = '18446744073709551615'
/** Entries read back at start to fill the charts of the last 24 h. */
export const BACKFILL_MAX = 100_000

export function entryEvent ([id, fields]: Entry): FeedEvent | undefined {
  const at = Number(id.split('-')[0])
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'line') continue
    const json = fields[i + 1]
    if (json.length > MAX_LINE) return undefined
    try {
      const line = JSON.parse(json)
      return line !== null && typeof line === 'object' && !Array.isArray(line) ? feedEvent(id, at, line) : undefined
    } catch { return undefined }
  }
  return undefined
}

/** XREAD's entries of its one stream: pairs `[[key, entries]]` (RESP2), or a map flattened to `[key, entries]` (RESP3). */
export function readEntries (answer: unknown): Entry[] {
  if (!Array.isArray(answer) || answer.length === 0) return []
  return (typeof answer[0] === 'string' ? answer[1] : answer[0]?.[1]) ?? []
}

async function range (redis: RedisClient, command: 'XRANGE' | 'XREVRANGE', name: string, from: string, to: string, count: number): Promise<Entry[]> {
  return await redis.call(command, name, from, to, 'COUNT', count) as Entry[]
}

/**
 * Matching events of the stream between `start` and `end` (XRANGE bounds), walking forward (oldest
 * first) or back (newest first), until `limit` match or MAX_SCAN entries were read.
 */
export async function scan (redis: RedisClient, name: string, direction: 'forward' | 'back', bounds: { start: string, end: string }, filter: FeedFilter, limit: number): Promise<FeedEvent[]> {
  const out: FeedEvent[] = []
  let { start, end } = bounds
  for (let scanned = 0; scanned < MAX_SCAN && out.length < limit;) {
    const count = Math.min(PAGE, MAX_SCAN - scanned)
    const entries = direction === 'forward' ? await range(redis, 'XRANGE', name, start, end, count) : await range(redis, 'XREVRANGE', name, end, start, count)
    scanned += entries.length
    for (const entry of entries) {
      const e = entryEvent(entry)
      if (e !== undefined && matches(e, filter)) out.push(e)
      if (out.length === limit) break
    }
    if (entries.length < count) break
    const last = entries[entries.length - 1][0]
    if (direction === 'forward') start = `(${last}`
    else end = `(${last}`
  }
  return out
}

/** Hands every entry from `since` (ms) to `until` (an id) to `visit`, at most BACKFILL_MAX. */
async function backfill (shared: RedisClient, name: string, since: number, until: string, visit: (e: FeedEvent, since: number) => void) {
  let start = String(since)
  for (let read = 0; read < BACKFILL_MAX;) {
    const entries = await range(shared, 'XRANGE', name, start, until, PAGE)
    read += entries.length
    for (const entry of entries) {
      const e = entryEvent(entry)
      if (e !== undefined) visit(e, since)
    }
    if (entries.length < PAGE) return
    start = `(${entries[entries.length - 1][0]}`
  }
}

export interface StreamReaderOptions {
  name: string
  log: FastifyBaseLogger
  /** How long one XREAD waits for new entries (the connection's command timeout is longer). */
  blockMs: number
  onEvent: (e: FeedEvent) => void
  /** The charts' backfill: called with every entry of the last 24 h before live reading starts. */
  onBackfill: (e: FeedEvent, since: number) => void
  now?: () => number
}

/**
 * Reads the stream live on `blocking` (a dedicated connection) from the moment it starts, after a
 * backfill of the last 24 h through `shared`. A Redis problem never ends it: it retries with
 * backoff and says so once a minute. `stop` ends it and closes `blocking`.
 */
export function startStreamReader (blocking: RedisClient, shared: RedisClient, opts: StreamReaderOptions): { stop: () => Promise<void> } {
  const now = opts.now ?? Date.now
  const warn = createThrottle(60_000, now)
  const abort = new AbortController()
  // Live from the millisecond the reader starts (before the instance listens), not from the stream's
  // newest entry when the first read runs: that read waits for the connection, and an event written
  // meanwhile would have gone to the backfill only, never to the live viewers. The backfill ends with
  // the millisecond before. Ids are ms times of Redis's clock: a skew between it and this instance's
  // shifts the start by as much.
  const startedAt = now()
  const beforeStart = `${startedAt - 1}-${MAX_SEQUENCE}`
  let lastId: string | undefined

  async function readOnce () {
    if (lastId === undefined) {
      await backfill(shared, opts.name, startedAt - 86_400_000, beforeStart, opts.onBackfill)
      lastId = beforeStart
    }
    const answer = await blocking.call('XREAD', 'COUNT', PAGE, 'BLOCK', opts.blockMs, 'STREAMS', opts.name, lastId)
    for (const entry of readEntries(answer)) {
      if (compareIds(entry[0], lastId) <= 0) continue
      lastId = entry[0]
      const e = entryEvent(entry)
      if (e !== undefined) opts.onEvent(e)
    }
  }

  async function loop () {
    let failures = 0
    // The dedicated connection is still connecting at start: wait for it (bounded) rather than fail once.
    if (blocking.status !== 'ready') await Promise.race([once(blocking, 'ready', { signal: abort.signal }), sleep(opts.blockMs, undefined, { signal: abort.signal })]).catch(() => {})
    while (!abort.signal.aborted) {
      try {
        await readOnce()
        failures = 0
      } catch (err) {
        if (abort.signal.aborted) return
        failures++
        opts.log.debug({ failures, stream: opts.name }, 'audit stream read failed')
        if (warn()) opts.log.warn({ err: { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message }, stream: opts.name }, 'admin feed cannot read the audit stream; retrying (said once a minute)')
        await sleep(Math.min(failures * 250, 5000), undefined, { signal: abort.signal }).catch(() => {})
      }
    }
  }

  const running = loop()
  return {
    async stop () {
      abort.abort()
      blocking.disconnect()
      await running
    }
  }
}
