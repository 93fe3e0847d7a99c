// The admin feed's pure parts: the ring buffer, ids, filters, chart counts (fake clock), and the
// in-process feed over fastify.onAudit's listener shape.
import t from 'tap'
import pino from 'pino'
import { RingBuffer } from '../../../plugins/audit-log/ring-buffer.ts'
import { compareIds, createIdSource, feedEvent } from '../../../plugins/audit-log/feed-event.ts'
import { matches } from '../../../plugins/audit-log/feed-filter.ts'
import { OTHER, SUMMARY_LIMITS, SummaryCounter } from '../../../plugins/audit-log/summary.ts'
import { createMemoryFeed } from '../../../plugins/audit-log/feed.ts'
import type { AuditListener } from '../../../plugins/audit-log.ts'

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0)
const log = pino({ level: 'silent' })

t.test('the ring buffer keeps the newest `capacity` items, in order', async t => {
  const ring = new RingBuffer<number>(3)
  for (let i = 1; i <= 5; i++) ring.push(i)
  t.equal(ring.size, 3)
  t.same(ring.toArray(), [3, 4, 5])
  const newest: number[] = []
  ring.newestFirst(n => { newest.push(n); return newest.length < 2 })
  t.same(newest, [5, 4], 'newest first, and the visit can stop early')
  t.throws(() => new RingBuffer(0), RangeError)
})

t.test('ids have the stream shape, increase within a millisecond and when the clock steps back', async t => {
  const next = createIdSource()
  const ids = [next(T0), next(T0), next(T0 + 1), next(T0 - 500)]
  t.same(ids.slice(0, 3), [`${T0}-0`, `${T0}-1`, `${T0 + 1}-0`])
  t.equal(ids[3], `${T0 + 1}-1`)
  for (let i = 1; i < ids.length; i++) t.ok(compareIds(ids[i], ids[i - 1]) > 0)
  t.ok(compareIds(`${T0}-10`, `${T0}-9`) > 0, 'the sequence compares as a number')
})

t.test('a feed event bounds the fields it reads from a line', async t => {
  const e = feedEvent('1-0', 1, { event: 'login.failed', outcome: 'failure', oid: 'x'.repeat(500), reason: 'r'.repeat(500), client_id: 5 })
  t.equal(e.oid?.length, 64)
  t.equal(e.reason?.length, 64)
  t.equal(e.client_id, undefined, 'a non-string is not taken')
})

t.test('filters: event name or family, user, client, outcome, time', async t => {
  const e = feedEvent('1-0', T0, { event: 'login.failed', outcome: 'failure', oid: 'u1', client_id: 'c1' })
  t.ok(matches(e, {}))
  t.ok(matches(e, { event: 'login.failed' }))
  t.ok(matches(e, { event: 'login.*' }))
  t.notOk(matches(e, { event: 'login' }), 'a bare family name is not a prefix match')
  t.notOk(matches(e, { event: 'token.*' }))
  t.ok(matches(e, { oid: 'u1', client_id: 'c1', outcome: 'failure' }))
  t.notOk(matches(e, { oid: 'u2' }))
  t.notOk(matches(e, { client_id: 'c2' }))
  t.notOk(matches(e, { outcome: 'success' }))
  t.ok(matches(e, { since: T0 }))
  t.notOk(matches(e, { since: T0 + 1 }))
})

t.test('chart counts: per minute for the hour, per 15 minutes for the day, by reason, client and tenant', async t => {
  let now = T0 + 30_000
  const counter = new SummaryCounter(() => now)
  const add = (at: number, line: Record<string, unknown>) => counter.add(feedEvent(`${at}-0`, at, line))
  add(T0, { event: 'login.succeeded', client_id: 'c1', tid: 't1' })
  add(T0 + 1000, { event: 'login.failed', outcome: 'failure', client_id: 'c1' })
  add(T0 + 2000, { event: 'token.rejected', outcome: 'failure', reason: 'expired' })
  add(T0 + 3000, { event: 'token.rejected', outcome: 'failure', reason: 'bad_signature' })
  add(T0 + 4000, { event: 'scope.denied', outcome: 'denied', client_id: 'c2', tid: 't1' })
  add(T0 + 5000, { event: 'rate_limit.exceeded', outcome: 'denied', client_id: 'c2' })
  add(T0 + 6000, { event: 'tool.called', client_id: 'c2' })
  now = T0 + 5 * 60_000 + 1
  add(now, { event: 'login.succeeded', client_id: 'c3', tid: 't2' })

  const hour = counter.summary('1h')
  t.equal(hour.buckets.length, 60)
  t.equal(hour.bucket_seconds, 60)
  t.equal(hour.buckets[59], new Date(T0 + 5 * 60_000).toISOString(), 'the last bucket is the current minute')
  t.equal(hour.sign_ins.succeeded[54], 1, 'the 12:00 minute')
  t.equal(hour.sign_ins.succeeded[59], 1)
  t.equal(hour.sign_ins.failed[54], 1)
  t.same(hour.token_rejections.map(r => [r.reason, r.counts[54]]), [['bad_signature', 1], ['expired', 1]])
  t.equal(hour.scope_denials[54], 1)
  t.equal(hour.rate_limit_hits[54], 1)
  t.same(hour.top_clients.map(c => [c.id, c.total]), [['c1', 2], ['c2', 2], ['c3', 1]], 'tool.called is not charted')
  t.match(hour.top_tenants, [{ id: 't1', sign_ins_succeeded: 1, scope_denials: 1, total: 2 }, { id: 't2', total: 1 }])

  const day = counter.summary('24h', 1)
  t.equal(day.buckets.length, 96)
  t.equal(day.bucket_seconds, 900)
  t.equal(day.sign_ins.succeeded[95], 2, 'both sign-ins fall in the current quarter hour')
  t.equal(day.top_clients.length, 1, 'top N')

  now = T0 + 61 * 60_000
  const later = counter.summary('1h')
  t.equal(later.sign_ins.succeeded.reduce((a, b) => a + b, 0), 1, 'the 12:00 minute left the hour window')
  t.equal(counter.summary('24h').sign_ins.succeeded.reduce((a, b) => a + b, 0), 2, 'still in the day')
  now = T0 + 25 * 3_600_000
  t.equal(counter.summary('24h').sign_ins.succeeded.reduce((a, b) => a + b, 0), 0, 'a bucket older than the day is not counted')
  add(T0, { event: 'login.succeeded' })
  t.equal(counter.summary('24h').sign_ins.succeeded.reduce((a, b) => a + b, 0), 0, 'an event older than the window is dropped')
})

t.test('chart counts are bounded: distinct reasons, clients and tenants per bucket', async t => {
  const counter = new SummaryCounter(() => T0)
  for (let i = 0; i < SUMMARY_LIMITS.keys + 50; i++) counter.add(feedEvent(`${T0}-${i}`, T0, { event: 'login.failed', client_id: `client-${i}`, tid: `t-${i}` }))
  for (let i = 0; i < SUMMARY_LIMITS.reasons + 10; i++) counter.add(feedEvent(`${T0}-${i}`, T0, { event: 'token.rejected', reason: `reason-${i}` }))
  const s = counter.summary('1h', 50)
  t.equal(s.token_rejections.length, SUMMARY_LIMITS.reasons + 1, 'the bound plus one OTHER series')
  t.equal(s.token_rejections.find(r => r.reason === OTHER)?.counts[59], 10)
  t.equal(s.top_clients[0].id, OTHER, 'clients past the bound are counted together')
  t.equal(s.top_clients[0].total, 50)
})

function memoryFeed (limits = { bufferSize: 5, maxSubscribers: 2 }) {
  let emit: AuditListener = () => {}
  let now = T0
  const feed = createMemoryFeed({ onAudit: l => { emit = l; return () => { emit = () => {} } }, log, limits, now: () => now })
  return { feed, audit: (line: Record<string, unknown>, at = now) => { now = at; emit(line, at) } }
}

t.test('the in-process feed: recent, after an id, filters, bounded buffer', async t => {
  const { feed, audit } = memoryFeed()
  for (let i = 0; i < 7; i++) audit({ event: i % 2 === 0 ? 'login.succeeded' : 'token.rejected', outcome: i % 2 === 0 ? 'success' : 'failure' }, T0 + i * 1000)
  const all = await feed.recent({}, 100)
  t.equal(all.length, 5, 'the buffer holds 5')
  t.same(all.map(e => e.at), [6, 5, 4, 3, 2].map(i => T0 + i * 1000), 'newest first')
  t.same((await feed.recent({ event: 'login.*' }, 2)).map(e => e.at), [T0 + 6000, T0 + 4000], 'filtered and limited')
  t.same((await feed.recent({ since: T0 + 5000 }, 100)).length, 2, 'a time window')
  const after = await feed.after(all[3].id, {}, 100)
  t.same(after.map(e => e.id), [all[2].id, all[1].id, all[0].id], 'after an id, oldest first')
  t.same((await feed.after(all[3].id, {}, 1)).map(e => e.id), [all[2].id])
  t.equal(feed.summary('1h').sign_ins.succeeded[59], 4, 'the charts count every sign-in, also those the buffer dropped')
})

t.test('subscriptions: filtered, live only, bounded, and a throwing listener fails nothing', async t => {
  const { feed, audit } = memoryFeed()
  const seen: string[] = []
  const stop = feed.subscribe({ event: 'login.failed', since: T0 + 10 ** 9 }, e => seen.push(e.event))
  const stop2 = feed.subscribe({}, () => { throw new Error('listener bug') })
  t.equal(feed.subscribers, 2)
  t.throws(() => feed.subscribe({}, () => {}), { statusCode: 503, oauthError: 'temporarily_unavailable' } as unknown as Error, 'a third viewer is refused')
  audit({ event: 'login.succeeded' })
  audit({ event: 'login.failed', outcome: 'failure' })
  t.same(seen, ['login.failed'], 'the filter applies; `since` does not hold live events back')
  stop()
  stop2()
  t.equal(feed.subscribers, 0)
  audit({ event: 'login.failed' })
  t.equal(seen.length, 1, 'nothing after the unsubscribe')
  await feed.close()
})

t.test('chart counts: an event stamped in the next bucket (Redis\' clock ahead) is kept and the oldest bucket stays', async t => {
  let now = T0 + 59_000
  const counter = new SummaryCounter(() => now)
  counter.add(feedEvent('a-0', T0 - 59 * 60_000, { event: 'scope.denied' }))
  counter.add(feedEvent('b-0', T0 + 60_500, { event: 'scope.denied' }))
  counter.add(feedEvent('c-0', T0 + 3 * 60_000, { event: 'scope.denied' }))
  t.equal(counter.summary('1h').scope_denials[0], 1, 'the oldest minute is still counted')
  t.equal(counter.summary('1h').scope_denials.reduce((a, b) => a + b, 0), 1, 'the next minute is not shown yet; two ahead is dropped')
  now = T0 + 61_000
  t.equal(counter.summary('1h').scope_denials[59], 1, 'shown once it is the current minute')
})
