// The feed across instances: with AUDIT_REDIS_STREAM, an event audited on instance A is in instance
// B's feed (recent, Last-Event-ID, charts) and on B's live stream; B's reader survives losing its
// connection and says so once a minute at most; B's charts are backfilled from the stream at start.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { REDIS_URL, redisEnv, requireRedis } from '../helper.ts'
import { ADMIN_BEARER, buildDashboard, listenDashboard, openSse, until } from '../support/admin-dashboard.ts'
import { startRedisCluster } from '../support/redis-cluster.ts'

await requireRedis()
const redis = new Redis(REDIS_URL)
t.teardown(() => redis.quit())

function env () {
  const stream = `test:audit:${randomUUID().slice(0, 8)}`
  t.teardown(() => redis.del(stream))
  return { ...redisEnv(), AUDIT_REDIS_STREAM: stream }
}
const data = (f: { data?: string }) => JSON.parse(f.data ?? '{}')

t.test('an event audited on instance A appears in instance B\'s feed, live stream, resume and charts', async t => {
  const shared = env()
  const a = await buildDashboard(t, shared)
  const b = await listenDashboard(t, shared)
  t.equal(b.inner.auditFeed.kind, 'redis-stream')
  const live = await openSse(`${b.baseUrl}/admin/events?event=login.*`)
  await live.next(f => f.retry !== undefined)

  a.inner.audit('login.failed', { outcome: 'failure', reason: 'access_denied', client_id: 'client-a', marker: 'from-a' })
  const frame = await live.next(f => f.event === 'audit')
  t.match(data(frame), { event: 'login.failed', client_id: 'client-a', line: { marker: 'from-a' } }, 'B streams A\'s event')
  const entries = await redis.xrange(shared.AUDIT_REDIS_STREAM, '-', '+')
  t.equal(frame.id, entries.find(([, fields]) => fields[1] === 'login.failed')?.[0], 'the event id is the stream id')

  const api = await b.app.inject({ url: '/admin/api/events?client=client-a', headers: { authorization: ADMIN_BEARER } })
  t.equal(api.json().source, 'redis-stream')
  t.same(api.json().events.map((e: { id: string }) => e.id), [frame.id], 'B\'s API finds it in the stream')
  t.equal(b.inner.auditFeed.summary('1h').sign_ins.failed[59], 1, 'B counts it in its charts')

  a.inner.audit('login.succeeded', { client_id: 'client-a', oid: 'u1', tid: 't1' })
  await live.next(f => f.event === 'audit' && data(f).event === 'login.succeeded')
  live.close()
  const resumed = await openSse(`${b.baseUrl}/admin/events?event=login.*`, { 'last-event-id': frame.id as string })
  t.equal(data(await resumed.next(f => f.event === 'audit')).event, 'login.succeeded', 'Last-Event-ID resumes from the stream')
  resumed.close()
  await until(() => b.inner.auditFeed.subscribers === 0)
})

t.test('a new instance backfills its charts from the stream; its feed history reads back by time', async t => {
  const shared = env()
  const a = await buildDashboard(t, shared)
  for (let i = 0; i < 3; i++) a.inner.audit('token.rejected', { outcome: 'failure', reason: 'expired' })
  await until(() => a.inner.auditFeed.summary('1h').token_rejections.length > 0)
  const b = await buildDashboard(t, shared)
  await until(() => (b.inner.auditFeed.summary('1h').token_rejections[0]?.counts[59] ?? 0) === 3)
  t.pass('B counted the three rejections written before it started')
  const recent = await b.inner.auditFeed.recent({ event: 'token.rejected', since: Date.now() - 60_000 }, 2)
  t.equal(recent.length, 2, 'limit')
  t.ok(recent[0].id > recent[1].id, 'newest first')
  t.same(await b.inner.auditFeed.recent({ since: Date.now() + 60_000 }, 10), [], 'a window maps to an id range')
})

t.test('the reader survives losing its connection: it reconnects and events flow again', async t => {
  const shared = env()
  const logs: string[] = []
  const b = await listenDashboard(t, shared, {}, { logs })
  const live = await openSse(`${b.baseUrl}/admin/events`)
  await live.next(f => f.retry !== undefined)
  const clients = await redis.client('LIST') as string
  const reader = clients.split('\n').find(l => l.includes('name=emg-audit-feed'))
  t.ok(reader, 'the reader blocks on a connection of its own')
  const readerId = (/id=(\d+)/.exec(reader as string) as RegExpExecArray)[1]
  t.equal(await redis.client('KILL', 'ID', readerId), 1, 'its connection is killed')
  const a = await buildDashboard(t, shared)
  a.inner.audit('rate_limit.exceeded', { outcome: 'denied', family: 'mcp' })
  t.equal(data(await live.next(f => f.event === 'audit' && data(f).event === 'rate_limit.exceeded')).line.family, 'mcp', 'B still streams after the kill')
  const warnings = logs.filter(l => l.includes('admin feed cannot read the audit stream'))
  t.ok(warnings.length <= 1, 'at most one warning')
  live.close()
})

t.test('a feed whose Redis is away answers 503 to history and recovers without crashing the service', async t => {
  const logs: string[] = []
  const { app } = await buildDashboard(t, { REDIS_URL: 'redis://127.0.0.1:1', AUDIT_REDIS_STREAM: 'test:audit:away' }, {}, { logs })
  const res = await app.inject({ url: '/admin/api/events', headers: { authorization: ADMIN_BEARER } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'temporarily_unavailable')
  t.ok(res.headers['retry-after'])
  t.equal((await app.inject({ url: '/admin/api/summary', headers: { authorization: ADMIN_BEARER } })).statusCode, 200, 'the charts answer from memory')
  const said = () => logs.filter(l => l.includes('admin feed cannot read the audit stream; retrying'))
  await until(() => said().length > 0)
  await until(() => logs.filter(l => l.includes('audit stream read failed')).length >= 3)
  t.equal(said().length, 1, 'the reader\'s failures are said once a minute')
})

t.test('on a Redis Cluster (REDIS_CLUSTER=true): B streams A\'s event through its duplicated cluster connection', async t => {
  const cluster = await startRedisCluster({ primaries: 3 })
  t.teardown(() => cluster.stop())
  const shared = { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', REDIS_KEY_PREFIX: 'test:', AUDIT_REDIS_STREAM: 'test:audit:cluster' }
  const a = await buildDashboard(t, shared)
  const b = await listenDashboard(t, shared)
  const live = await openSse(`${b.baseUrl}/admin/events?event=scope.denied`)
  await live.next(f => f.retry !== undefined)
  a.inner.audit('scope.denied', { outcome: 'denied', marker: 'cluster' })
  t.equal(data(await live.next(f => f.event === 'audit')).line.marker, 'cluster')
  const api = await b.app.inject({ url: '/admin/api/events?event=scope.denied', headers: { authorization: ADMIN_BEARER } })
  t.equal(api.json().events.length, 1, 'history through the cluster client')
  live.close()
})
