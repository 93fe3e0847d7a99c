// The admin area's guards, attacked one way at a time (plugins/admin/guards.ts): pages need an
// administrator's session, their POSTs its CSRF token from our own origin, /admin/api a token of
// this service for the admin API that carries ADMIN_ROLE.
import t from 'tap'
import { ADMIN, NOT_ADMIN, adminApp } from '../../support/admin.ts'
import { MCP_HEADERS } from '../../support/mcp.ts'
import { TOOLS_LIST } from '../../support/oauth-flow.ts'
import { assetUrl } from '../../../routes/admin/assets.ts'

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const FORM = 'application/x-www-form-urlencoded'

t.test('no session: a page GET is sent to sign in (keeping its path), a POST is refused with nothing done', async t => {
  const { app, audits } = await adminApp(t)
  const page = await app.inject({ url: '/admin' })
  t.equal(page.statusCode, 302)
  t.equal(page.headers.location, '/admin/login?return=%2Fadmin')
  const post = await app.inject({ method: 'POST', url: '/admin/logout', headers: { 'content-type': FORM }, payload: form({ _csrf: 'x' }) })
  t.equal(post.statusCode, 401)
  t.match(post.body, /session has ended/)
  t.match(audits('admin.refused'), [{ reason: 'no_session', outcome: 'denied' }])
})

t.test('a session without ADMIN_ROLE gets a 403 page, audited', async t => {
  const { app, session, audits } = await adminApp(t)
  const { cookie } = await session(NOT_ADMIN)
  const page = await app.inject({ url: '/admin', headers: { cookie } })
  t.equal(page.statusCode, 403)
  t.match(page.body, /does not hold the Gateway\.Admin role/)
  t.match(audits('admin.refused'), [{ reason: 'missing_role', admin_oid: NOT_ADMIN.oid, via: 'session' }])
})

t.test('an administrator\'s page: the CSP of the contract, no caching, the name and a sign-out form with the CSRF token', async t => {
  const { app, session } = await adminApp(t)
  const { cookie, csrf } = await session()
  const page = await app.inject({ url: '/admin', headers: { cookie } })
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-security-policy'], "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.body, '<span id="admin-name" title="3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72">Grace Hopper</span>')
  t.match(page.body, `name="_csrf" value="${csrf}"`)
  t.notMatch(page.body, /<style|style=|<script>/, 'no inline style or script')
  const css = await app.inject({ url: assetUrl('admin.css') })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], /^text\/css/)
})

t.test('CSRF: a POST without the token, or with another session\'s, does nothing; with it, signs out', async t => {
  const { app, session, audits } = await adminApp(t)
  const { cookie, csrf } = await session()
  const other = await session()
  const headers = { cookie, 'content-type': FORM, origin: 'http://localhost:8000', 'sec-fetch-site': 'same-origin' }
  for (const fields of [{}, { _csrf: '' }, { _csrf: other.csrf }, { _csrf: `${csrf}x` }] as Array<Record<string, string>>) {
    const res = await app.inject({ method: 'POST', url: '/admin/logout', headers, payload: form(fields) })
    t.equal(res.statusCode, 403, JSON.stringify(fields))
  }
  t.equal(audits('admin.refused').filter(a => a.reason === 'csrf_token').length, 4)
  t.equal((await app.inject({ url: '/admin', headers: { cookie } })).statusCode, 200, 'still signed in')

  const out = await app.inject({ method: 'POST', url: '/admin/logout', headers, payload: form({ _csrf: csrf }) })
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/admin/signed-out')
  t.match(String(out.headers['set-cookie']), /emg_admin=;/, 'the cookie is cleared')
  t.match(audits('admin.signed_out'), [{ admin_oid: ADMIN.oid, admin_tid: ADMIN.tid }])
  t.equal((await app.inject({ url: '/admin', headers: { cookie } })).statusCode, 302, 'the session is gone from the store')
  t.equal((await app.inject({ url: '/admin', headers: { cookie: `emg_admin=${other.id}` } })).statusCode, 200, 'other sessions live on')
})

t.test('the CSRF token is also accepted in the x-csrf-token header (scripts of the pages)', async t => {
  const { app, session } = await adminApp(t)
  const { cookie, csrf } = await session()
  const res = await app.inject({ method: 'POST', url: '/admin/logout', headers: { cookie, 'x-csrf-token': csrf, 'sec-fetch-site': 'same-origin' } })
  t.equal(res.statusCode, 303)
})

t.test('a foreign Origin or a cross-site fetch is refused even with the right token', async t => {
  const { app, session, audits } = await adminApp(t)
  const { cookie, csrf } = await session()
  for (const headers of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site', origin: 'http://localhost:8000' }, { origin: 'null' }]) {
    const res = await app.inject({ method: 'POST', url: '/admin/logout', headers: { cookie, 'content-type': FORM, ...headers }, payload: form({ _csrf: csrf }) })
    t.equal(res.statusCode, 403, JSON.stringify(headers))
    t.match(res.body, /another website/)
  }
  t.equal(audits('admin.refused').filter(a => a.reason === 'cross_site').length, 4)
  t.equal((await app.inject({ url: '/admin', headers: { cookie } })).statusCode, 200, 'still signed in')
})

t.test('session fixation: an id the browser brings is no session, and is cleared', async t => {
  const { app, audits } = await adminApp(t)
  const planted = 'A'.repeat(43)
  const res = await app.inject({ url: '/admin', headers: { cookie: `emg_admin=${planted}` } })
  t.equal(res.statusCode, 302)
  t.match(String(res.headers['set-cookie']), /emg_admin=;/)
  const odd = await app.inject({ url: '/admin', headers: { cookie: 'emg_admin=not-an-id' } })
  t.equal(odd.statusCode, 302, 'a malformed id is no session either')
  t.same(audits('admin.signed_in'), [])
})

t.test('expired sessions: idle past ADMIN_SESSION_IDLE, or past ADMIN_SESSION_TTL however active', async t => {
  const { app, clock, session } = await adminApp(t, { ADMIN_SESSION_IDLE: '600', ADMIN_SESSION_TTL: '1500' })
  const idle = await session()
  clock.now += 599
  t.equal((await app.inject({ url: '/admin', headers: { cookie: idle.cookie } })).statusCode, 200, 'within the idle time')
  clock.now += 601
  t.equal((await app.inject({ url: '/admin', headers: { cookie: idle.cookie } })).statusCode, 302, 'idle too long')

  const busy = await session()
  for (let i = 0; i < 2; i++) {
    clock.now += 500
    t.equal((await app.inject({ url: '/admin', headers: { cookie: busy.cookie } })).statusCode, 200, `active at ${(i + 1) * 500} s`)
  }
  clock.now += 500
  const expired = await app.inject({ method: 'POST', url: '/admin/logout', headers: { cookie: busy.cookie, 'content-type': FORM }, payload: form({ _csrf: busy.csrf }) })
  t.equal(expired.statusCode, 401, 'past the absolute lifetime even though it was used every 500 s')
})

t.test('/admin/api: an MCP token is refused (401 invalid_token, audience); an admin token with the role passes', async t => {
  const { app, api, token } = await adminApp(t)
  const mcp = await token(api.config.resource)
  const refused = await app.inject({ url: '/admin/api/ping', headers: { authorization: `Bearer ${mcp.access_token}` } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().error, 'invalid_token')
  t.match(refused.json().error_description, /^wrong_audience/)
  t.match(refused.headers['www-authenticate'], 'resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/admin/api"')

  const admin = await token(api.config.admin.resource)
  const ok = await app.inject({ url: '/admin/api/ping', headers: { authorization: `Bearer ${admin.access_token}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json().admin, { oid: ADMIN.oid, tid: 'tid-1', name: 'Grace Hopper', via: 'bearer' })
  t.equal((await app.inject({ url: '/admin/api/ping' })).statusCode, 401, 'no token')
  t.equal((await app.inject({ url: '/admin/api/ping', headers: { cookie: (await (await adminApp(t)).session()).cookie } })).statusCode, 401, 'a session cookie is no bearer token')
})

t.test('/admin/api: an admin token without ADMIN_ROLE gets 403 insufficient_scope', async t => {
  const { app, api, token, audits } = await adminApp(t)
  const plain = await token(api.config.admin.resource, [])
  const res = await app.inject({ url: '/admin/api/ping', headers: { authorization: `Bearer ${plain.access_token}` } })
  t.equal(res.statusCode, 403)
  t.equal(res.json().error, 'insufficient_scope')
  t.match(res.headers['www-authenticate'], 'error="insufficient_scope"')
  t.match(audits('admin.refused'), [{ reason: 'missing_role', via: 'bearer' }])
})

t.test('/mcp: an admin token is refused (401 invalid_token, audience); MCP tokens never carry roles', async t => {
  const { app, api, token } = await adminApp(t)
  const admin = await token(api.config.admin.resource)
  const res = await app.inject({ method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${admin.access_token}`, ...MCP_HEADERS }, payload: TOOLS_LIST.body })
  t.equal(res.statusCode, 401)
  t.match(res.json().error_description ?? res.headers['www-authenticate'], /wrong_audience/)
  const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
  t.match(claims(admin.access_token), { aud: api.config.admin.resource, roles: ['Gateway.Admin'] })
  const mcp = await token(api.config.resource)
  t.equal(claims(mcp.access_token).aud, api.config.resource)
  t.notOk('roles' in claims(mcp.access_token), 'a user with the admin role gets an MCP token without roles')
})

t.test('a refresh token of an admin grant never mints an MCP token, nor the reverse (invalid_target before it is spent)', async t => {
  const { app, api, token } = await adminApp(t)
  for (const [own, other] of [[api.config.admin.resource, api.config.resource], [api.config.resource, api.config.admin.resource]]) {
    const first = await token(own)
    const claims = JSON.parse(Buffer.from(first.access_token.split('.')[1], 'base64url').toString())
    const rt = first.refresh_token
    const wrong = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: form({ grant_type: 'refresh_token', refresh_token: rt, resource: other, client_id: claims.client_id }) })
    t.equal(wrong.json().error, 'invalid_target', `${own} -> ${other}`)
    const right = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: form({ grant_type: 'refresh_token', refresh_token: rt, resource: own, client_id: claims.client_id }) })
    t.equal(right.statusCode, 200, 'the refresh token was not spent by the refusal')
    t.equal(JSON.parse(Buffer.from(right.json().access_token.split('.')[1], 'base64url').toString()).aud, own)
  }
})

t.test('protected resource metadata of the admin API (RFC 9728)', async t => {
  const { app } = await adminApp(t)
  const res = await app.inject({ url: '/.well-known/oauth-protected-resource/admin/api' })
  t.same(res.json(), { resource: 'http://localhost:8000/admin/api', authorization_servers: ['http://localhost:8000'], scopes_supported: [], bearer_methods_supported: ['header'], resource_name: 'Entra MCP Gateway admin API' })
})

t.test('the dashboard behind the real guards: its stream and chart data need an admin session, its JSON an admin token', async t => {
  const { app, api, token, session } = await adminApp(t)
  for (const url of ['/admin', '/admin/events', '/admin/summary?window=1h']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 302, `${url}: no session, sent to sign in`)
    t.match(res.headers.location, /^\/admin\/login/)
  }
  const mcp = await token(api.config.resource)
  for (const url of ['/admin/api/events', '/admin/api/summary']) {
    t.equal((await app.inject({ url })).statusCode, 401, `${url}: no token`)
    t.equal((await app.inject({ url, headers: { authorization: `Bearer ${mcp.access_token}` } })).statusCode, 401, `${url}: an MCP token`)
  }
  const admin = await session()
  const page = await app.inject({ url: '/admin', headers: { cookie: admin.cookie } })
  t.equal(page.statusCode, 200)
  t.match(page.body, /id="admin-name"[^>]*>Grace Hopper</, 'in the admin layout, with the administrator named')
  t.equal((await app.inject({ url: '/admin/summary?window=1h', headers: { cookie: admin.cookie } })).statusCode, 200)
  const adminToken = await token(api.config.admin.resource)
  t.equal((await app.inject({ url: '/admin/api/events', headers: { authorization: `Bearer ${adminToken.access_token}` } })).statusCode, 200)
})
