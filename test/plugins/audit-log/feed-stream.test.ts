// The admin feed's reader of AUDIT_REDIS_STREAM on a real Redis: where live reading starts.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import pino from 'pino'
import { REDIS_URL, requireRedis } from '../../helper.ts'
import { until } from '../../support/admin-dashboard.ts'
import { startStreamReader } from '../../../plugins/audit-log/feed-stream.ts'
import type { FeedEvent } from '../../../plugins/audit-log/feed-event.ts'

await requireRedis()
const shared = new Redis(REDIS_URL)
t.teardown(() => shared.quit())

const line = (marker: string) => JSON.stringify({ event: 'login.failed', outcome: 'failure', marker })
const write = async (stream: string, marker: string) => await shared.xadd(stream, '*', 'event', 'login.failed', 'line', line(marker))

/** A reader of `stream` whose blocking connection is not connected yet; its live and backfilled events. */
function reader (t: Test, stream: string, now?: () => number) {
  const blocking = new Redis(REDIS_URL, { lazyConnect: true })
  const live: FeedEvent[] = []
  const backfilled: FeedEvent[] = []
  const started = startStreamReader(blocking, shared, {
    name: stream,
    log: pino({ level: 'silent' }),
    blockMs: 200,
    now,
    onEvent: e => live.push(e),
    onBackfill: e => backfilled.push(e)
  })
  t.teardown(() => started.stop())
  return { blocking, live, backfilled }
}

t.test('an event written while the reader waits for its connection is delivered live, once', async t => {
  const stream = `test:audit:${randomUUID().slice(0, 8)}`
  t.teardown(() => shared.del(stream))
  await write(stream, 'before')
  await new Promise(resolve => setTimeout(resolve, 5))
  const { blocking, live, backfilled } = reader(t, stream)
  // The instance listens from here on; its viewers must see what happens now, although the
  // reader's own connection is still coming up.
  await write(stream, 'while-connecting')
  await blocking.connect()
  await until(() => live.length > 0, 10_000)
  await write(stream, 'after')
  await until(() => live.length > 1, 10_000)
  t.same(live.map(e => e.line.marker), ['while-connecting', 'after'], 'live from the reader\'s start, nothing twice')
  t.same(backfilled.map(e => e.line.marker), ['before'], 'what came before the start goes to the charts\' backfill')
})

t.test('the millisecond the reader starts in is live, whole; the one before goes to the backfill', async t => {
  const stream = `test:audit:${randomUUID().slice(0, 8)}`
  t.teardown(() => shared.del(stream))
  const start = Date.now()
  await shared.xadd(stream, `${start - 1}-7`, 'event', 'login.failed', 'line', line('millisecond-before'))
  const { blocking, live, backfilled } = reader(t, stream, () => start)
  // The first id of the start's millisecond, as XADD gives it to an event written right after the start.
  await shared.xadd(stream, `${start}-0`, 'event', 'login.failed', 'line', line('same-millisecond'))
  await blocking.connect()
  await until(() => live.length > 0, 10_000)
  t.same(live.map(e => e.line.marker), ['same-millisecond'])
  t.same(backfilled.map(e => e.line.marker), ['millisecond-before'])
})
