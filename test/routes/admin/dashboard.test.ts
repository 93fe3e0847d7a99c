// The dashboard's routes through app.inject: every route behind its guard, the page's CSP and
// escaping, the JSON API against its schemas, bad input answered 400 (never 500), the assets.
import t from 'tap'
import { Value } from 'typebox/value'
import { ADMIN_BEARER, ADMIN_COOKIE, buildDashboard, testGuards } from '../../support/admin-dashboard.ts'
import { EventsAnswer, SummaryAnswer } from '../../../routes/admin/dashboard-schemas.ts'
import { ADMIN_CSP } from '../../../routes/admin/layout.ts'
import { assetUrl } from '../../../routes/admin/assets.ts'

const page = { cookie: ADMIN_COOKIE }
const api = { authorization: ADMIN_BEARER }

t.test('every dashboard route runs its guard: page routes redirect to sign-in, API routes answer 401', async t => {
  const calls: string[] = []
  const { app } = await buildDashboard(t, {}, { guards: testGuards(calls) })
  for (const url of ['/admin', '/admin/events', '/admin/summary?window=1h']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 302, url)
    t.equal(res.headers.location, '/admin/login')
  }
  for (const url of ['/admin/api/events', '/admin/api/summary']) {
    const res = await app.inject({ url, headers: page })
    t.equal(res.statusCode, 401, `${url}: a browser session is not an API token`)
    t.match(res.headers['www-authenticate'], /^Bearer/)
  }
  t.same(calls.map(c => c.split(' ')[0]), ['page', 'page', 'page', 'api', 'api'])
  const css = await app.inject({ url: assetUrl('admin.css') })
  t.equal(css.statusCode, 200, 'assets need no session (the sign-in page uses them too)')
})

t.test('the page: strict CSP, no inline script or style, assets of its own, filters escaped', async t => {
  const { app } = await buildDashboard(t)
  const hostile = '"><script>alert(1)</script>'
  const res = await app.inject({ url: `/admin?client=${encodeURIComponent(hostile)}&event=login.*&outcome=failure&chart=24h`, headers: page })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-security-policy'], ADMIN_CSP)
  t.match(res.headers['content-type'], 'text/html')
  t.equal(res.headers['cache-control'], 'no-store')
  const html = res.body
  t.notOk(html.includes(hostile), 'the filter value is not echoed raw')
  t.ok(html.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'), 'it is escaped in the form')
  t.notMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'every script has a src')
  t.notMatch(html, /<style|\sstyle=/, 'no inline style')
  t.notMatch(html, /https?:\/\//, 'nothing from another origin')
  t.ok(html.includes(`src="${assetUrl('chart.umd.min.js')}"`))
  t.ok(html.includes(`src="${assetUrl('dashboard.js')}"`))
  t.ok(html.includes(`href="${assetUrl('admin.css')}"`))
  t.ok(html.includes('data-summary="/admin/summary?window=24h"'))
  t.ok(html.includes('data-events="/admin/events?event=login.*&amp;client=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E&amp;outcome=failure"'), 'the stream URL keeps the filters, encoded')
  t.match(html, /<option value="login\.\*" selected>/)
  t.match(html, /this instance only/)
})

t.test('GET /admin/api/events: filtered events, newest first, as its schema says, with the masked line', async t => {
  const { app, inner } = await buildDashboard(t)
  inner.audit('login.failed', { outcome: 'failure', reason: 'access_denied', client_id: 'c1' })
  inner.audit('login.succeeded', { client_id: 'c1', oid: 'u1', tid: 't1', code: 'secret-code-value' })
  inner.audit('token.rejected', { outcome: 'failure', reason: 'expired' })
  const res = await app.inject({ url: '/admin/api/events?client=c1&limit=5', headers: api })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.ok(Value.Check(EventsAnswer, body), 'the answer matches EventsAnswer')
  t.equal(body.source, 'memory')
  t.same(body.events.map((e: { event: string }) => e.event), ['login.succeeded', 'login.failed'])
  t.match(body.events[0], { oid: 'u1', tid: 't1', client_id: 'c1', outcome: 'success' })
  t.equal(body.events[0].line.code, '[Redacted]')
  t.notOk(res.body.includes('secret-code-value'))
  const narrowed = await app.inject({ url: '/admin/api/events?event=login.*&outcome=failure&window=15m', headers: api })
  t.same(narrowed.json().events.map((e: { reason: string }) => e.reason), ['access_denied'])
  const family = await app.inject({ url: '/admin/api/events?event=token.*&oid=&client=', headers: api })
  t.same(family.json().events.map((e: { event: string }) => e.event), ['token.rejected'], 'blank filters are no filters')
})

t.test('GET /admin/api/summary (and the page\'s /admin/summary): chart series as the schema says', async t => {
  const { app, inner } = await buildDashboard(t)
  inner.audit('login.succeeded', { client_id: 'c1', oid: 'u1', tid: 't1' })
  inner.audit('login.failed', { outcome: 'failure', reason: 'x', client_id: 'c1' })
  inner.audit('token.rejected', { outcome: 'failure', reason: 'bad_signature' })
  inner.audit('scope.denied', { outcome: 'denied' })
  inner.audit('rate_limit.exceeded', { outcome: 'denied' })
  for (const window of ['1h', '24h']) {
    const res = await app.inject({ url: `/admin/api/summary?window=${window}&top=3`, headers: api })
    t.equal(res.statusCode, 200)
    const s = res.json()
    t.ok(Value.Check(SummaryAnswer, s), `${window}: the answer matches SummaryAnswer`)
    t.equal(s.buckets.length, window === '1h' ? 60 : 96)
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0)
    t.equal(sum(s.sign_ins.succeeded), 1)
    t.equal(sum(s.sign_ins.failed), 1)
    t.same(s.token_rejections.map((r: { reason: string }) => r.reason), ['bad_signature'])
    t.equal(sum(s.scope_denials), 1)
    t.equal(sum(s.rate_limit_hits), 1)
    t.match(s.top_clients, [{ id: 'c1', sign_ins_succeeded: 1, sign_ins_failed: 1, total: 2 }])
    t.match(s.top_tenants, [{ id: 't1', total: 1 }])
  }
  const pageSummary = await app.inject({ url: '/admin/summary', headers: page })
  t.equal(pageSummary.json().window, '1h', 'the window defaults to 1h')
})

t.test('bad query input is a 400 with an OAuth-style body, never a 500', async t => {
  const { app } = await buildDashboard(t)
  const bad: Array<[string, Record<string, string>]> = [
    ['/admin/api/summary?window=2h', api],
    ['/admin/api/summary?top=0', api],
    ['/admin/api/summary?top=51', api],
    ['/admin/api/events?limit=0', api],
    ['/admin/api/events?limit=501', api],
    ['/admin/api/events?limit=ten', api],
    ['/admin/api/events?event=%3Cscript%3E', api],
    ['/admin/api/events?event=login.failed.x', api],
    [`/admin/api/events?oid=${'a'.repeat(65)}`, api],
    ['/admin/api/events?oid=a%20b', api],
    [`/admin/api/events?client=${'c'.repeat(513)}`, api],
    ['/admin/api/events?client=a%0Ab', api],
    ['/admin/api/events?outcome=maybe', api],
    ['/admin/api/events?window=7d', api],
    ['/admin?chart=1w', page],
    ['/admin?event=DROP%20TABLE', page],
    ['/admin/summary?window=', page],
    ['/admin/events?outcome=nope', page]
  ]
  for (const [url, headers] of bad) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().error, 'invalid_request', url)
  }
  t.equal((await app.inject({ method: 'HEAD', url: '/admin/events', headers: page })).statusCode, 404, 'no HEAD on the event stream')
  for (const id of ['abc', '1-2-3', `${'9'.repeat(16)}-0`, '1-']) {
    const res = await app.inject({ url: '/admin/events', headers: { ...page, 'last-event-id': id } })
    t.equal(res.statusCode, 400, `Last-Event-ID ${id}`)
  }
})

t.test('assets: hashed names, long cache, their content types, nosniff; Chart.js and its licence from node_modules', async t => {
  const { app } = await buildDashboard(t)
  const expected: Array<[Parameters<typeof assetUrl>[0], string, RegExp]> = [
    ['chart.umd.min.js', 'text/javascript; charset=utf-8', /Chart\.js v4/],
    ['dashboard.js', 'text/javascript; charset=utf-8', /EventSource/],
    ['admin.css', 'text/css; charset=utf-8', /\.chart-box/]
  ]
  for (const [name, type, content] of expected) {
    const url = assetUrl(name)
    t.match(url, /^\/admin\/assets\/[\w.-]+\.[0-9a-f]{12}\.(js|css)$/, name)
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, name)
    t.equal(res.headers['content-type'], type)
    t.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.match(res.body, content)
    t.notMatch(res.body, /sourceMappingURL/, `${name}: no source map to fetch`)
  }
  const licence = await app.inject({ url: assetUrl('chart.js-LICENSE.txt') })
  t.equal(licence.headers['content-type'], 'text/plain; charset=utf-8')
  t.match(licence.body, /MIT License[\s\S]*Chart\.js Contributors/)
  for (const url of ['/admin/assets/dashboard.js', '/admin/assets/..%2F..%2Fpackage.json', '/admin/assets/chart.umd.min.js.map']) {
    t.equal((await app.inject({ url })).statusCode, 404, `${url}: only the listed names`)
  }
})

t.test('the page body can be wrapped by another layout (the admin area\'s adminPage), given the request', async t => {
  const { app } = await buildDashboard(t, {}, { page: (request, title, body) => `<!doctype html><title>${title}</title><main id="wrapped" data-url="${request.url}">${body}</main>` })
  const res = await app.inject({ url: '/admin?outcome=denied', headers: page })
  t.match(res.body, /<main id="wrapped" data-url="\/admin\?outcome=denied"><section id="dashboard"/)
  t.equal(res.headers['content-security-policy'], ADMIN_CSP)
})
