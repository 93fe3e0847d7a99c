// GET /admin/events over a real listening server: events arrive after they are audited, filters
// apply, Last-Event-ID resumes, heartbeats flow past HTTP_REQUEST_TIMEOUT, a disconnect ends the
// subscription (no leak), the viewer bound holds, and closing the server ends open streams.
import t from 'tap'
import { listenDashboard, openSse, until } from '../support/admin-dashboard.ts'
import { TOOLS_LIST } from '../support/oauth-flow.ts'

const data = (f: { data?: string }) => JSON.parse(f.data ?? '{}')

t.test('a live event arrives after it is audited: a refused token at /mcp, filtered, with its id', async t => {
  const { baseUrl, inner } = await listenDashboard(t, { RATE_LIMIT_ENABLED: 'false' })
  const all = await openSse(`${baseUrl}/admin/events`)
  const rejections = await openSse(`${baseUrl}/admin/events?event=token.*&outcome=failure`)
  t.equal(all.status, 200)
  t.equal(all.headers['content-type'], 'text/event-stream; charset=utf-8')
  t.equal(all.headers['cache-control'], 'no-store')
  t.ok(all.headers['x-request-id'], 'headers set before the stream are kept')
  t.equal((await all.next()).retry, '3000')
  t.equal(inner.auditFeed.subscribers, 2)

  const res = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...TOOLS_LIST.headers, authorization: 'Bearer not-a-jwt' }, body: TOOLS_LIST.body })
  t.equal(res.status, 401)
  const frame = await rejections.next(f => f.event === 'audit')
  t.match(frame.id, /^\d+-\d+$/)
  t.match(data(frame), { event: 'token.rejected', outcome: 'failure', reason: 'malformed' })
  t.notOk(frame.data?.includes('not-a-jwt'), 'the token is not in the event')
  t.equal((await all.next(f => f.event === 'audit' && data(f).event === 'token.rejected')).id, frame.id, 'the same id on both streams')

  inner.audit('login.succeeded', { client_id: 'c1', oid: 'u1', tid: 't1' })
  t.equal(data(await all.next(f => f.event === 'audit')).event, 'login.succeeded')
  t.notOk(rejections.frames.some(f => f.data?.includes('login.succeeded')), 'the filtered stream did not get it')
  all.close()
  rejections.close()
  await until(() => inner.auditFeed.subscribers === 0)
  t.pass('both subscriptions ended with their connections')
})

t.test('Last-Event-ID resumes after the last event seen; without it the latest events come first', async t => {
  const { baseUrl, inner } = await listenDashboard(t)
  for (let i = 0; i < 3; i++) inner.audit('tool.called', { tool: `t${i}` })
  const first = await openSse(`${baseUrl}/admin/events?event=tool.called`)
  const seen = [await first.next(f => f.event === 'audit'), await first.next(f => f.event === 'audit'), await first.next(f => f.event === 'audit')]
  t.same(seen.map(f => data(f).line.tool), ['t0', 't1', 't2'], 'the latest events, oldest first')
  first.close()
  await until(() => inner.auditFeed.subscribers === 0)
  inner.audit('tool.called', { tool: 't3' })
  inner.audit('login.failed', { outcome: 'failure' })
  inner.audit('tool.called', { tool: 't4' })
  const resumed = await openSse(`${baseUrl}/admin/events?event=tool.called`, { 'last-event-id': seen[1].id as string })
  const replay = [await resumed.next(f => f.event === 'audit'), await resumed.next(f => f.event === 'audit'), await resumed.next(f => f.event === 'audit')]
  t.same(replay.map(f => data(f).line.tool), ['t2', 't3', 't4'], 'what came after the id, filtered, in order')
  inner.audit('tool.called', { tool: 't5' })
  t.equal(data(await resumed.next(f => f.event === 'audit')).line.tool, 't5', 'then live, without a duplicate or a gap')
  resumed.close()
})

t.test('heartbeats keep the stream open past HTTP_REQUEST_TIMEOUT, and events still arrive', async t => {
  const { baseUrl, inner } = await listenDashboard(t, { HTTP_REQUEST_TIMEOUT: '1', HTTP_HEADERS_TIMEOUT: '1' }, { eventStream: { heartbeatMs: 200 } })
  const stream = await openSse(`${baseUrl}/admin/events`)
  const opened = Date.now()
  // The server checks its timeouts once a second: 2.5 s of heartbeats cover two checks past the 1 s limit.
  while (Date.now() - opened < 2500) t.equal((await stream.next(f => f.comment !== undefined)).comment, 'heartbeat')
  inner.audit('scope.denied', { outcome: 'denied' })
  t.equal(data(await stream.next(f => f.event === 'audit')).event, 'scope.denied', 'the stream is still open')
  stream.close()
})

t.test('viewers per instance are bounded: one more gets 503 with Retry-After', async t => {
  const { baseUrl, inner } = await listenDashboard(t, {}, {}, { app: { auditFeed: { limits: { maxSubscribers: 1 } } } })
  const one = await openSse(`${baseUrl}/admin/events`)
  const two = await openSse(`${baseUrl}/admin/events`)
  t.equal(one.status, 200)
  t.equal(two.status, 503)
  t.equal(two.headers['retry-after'], '30')
  two.close()
  one.close()
  await until(() => inner.auditFeed.subscribers === 0)
  const again = await openSse(`${baseUrl}/admin/events`)
  t.equal(again.status, 200, 'the place is free again once a viewer leaves')
  again.close()
})

t.test('closing the server ends open streams instead of waiting for them', async t => {
  const { app, baseUrl, inner } = await listenDashboard(t)
  const stream = await openSse(`${baseUrl}/admin/events`)
  await stream.next()
  const ended = new Promise<void>(resolve => stream.request.on('close', () => resolve()))
  await app.close()
  await ended
  t.equal(inner.auditFeed.subscribers, 0)
})
