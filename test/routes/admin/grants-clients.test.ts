// The grants and clients pages and their JSON: what an administrator sees (and what never shows),
// and that each action does what it says, at once, only through a CSRF-checked POST or the admin API.
import t from 'tap'
import { adminApp } from '../../support/admin.ts'
import { DEV_TENANT_ID } from '../../../config/dev-identity.ts'

const FORM = 'application/x-www-form-urlencoded'
const ADA = { oid: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61', tid: DEV_TENANT_ID, name: 'Ada Lovelace' }
const ALAN = { oid: 'c5e1a7b3-9d2f-4c6e-a8b4-7e6d5c4b3a83', tid: DEV_TENANT_ID, name: 'Alan Turing' }

async function scene (t: Parameters<typeof adminApp>[0]) {
  const ctx = await adminApp(t)
  const { app, api, session, token } = ctx
  const admin = await session()
  const mcp = api.config.resource
  const ada1 = await token(mcp, [], ADA)
  const ada2 = await token(mcp, [], ADA)
  const alan = await token(mcp, [], ALAN)
  const adminToken = (await token(api.config.admin.resource)).access_token
  const form = async (url: string, fields: Record<string, string>, csrf = admin.csrf) => await app.inject({
    method: 'POST', url, headers: { cookie: admin.cookie, 'content-type': FORM, origin: 'http://localhost:8000', 'sec-fetch-site': 'same-origin' }, payload: new URLSearchParams({ _csrf: csrf, ...fields }).toString()
  })
  const mcpStatus = async (accessToken: string) => (await app.inject({ method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }, payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' } })).statusCode
  const apiCall = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, bearer = adminToken) => await app.inject({ method, url, headers: { authorization: `Bearer ${bearer}` }, ...(payload !== undefined ? { payload } : {}) })
  const sidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).sid as string
  return { ...ctx, admin, ada1, ada2, alan, adminToken, form, mcpStatus, apiCall, sidOf }
}

t.test('the grants page lists active grants (user, tenant, client, scopes, created) and no token or secret', async t => {
  const { app, admin, ada1, alan } = await scene(t)
  const page = await app.inject({ url: '/admin/grants', headers: { cookie: admin.cookie } })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<table id="grants">/)
  t.match(page.body, /Ada Lovelace/)
  t.match(page.body, /Alan Turing/)
  t.match(page.body, DEV_TENANT_ID)
  t.match(page.body, ada1.clientId)
  t.match(page.body, '<span class="tag">tools.read</span>')
  t.match(page.body, /<time datetime="\d{4}-/)
  for (const secret of [ada1.access_token, ada1.refresh_token, alan.refresh_token, 'entra-at']) t.notMatch(page.body, secret)
})

t.test('revoke one grant: a CSRF-checked POST, then that grant\'s MCP token is refused at once; the user\'s other grant lives', async t => {
  const { form, ada1, ada2, alan, mcpStatus, sidOf, audits } = await scene(t)
  t.equal(await mcpStatus(ada1.access_token), 200)
  const forged = await form('/admin/grants/revoke', { sid: sidOf(ada1.access_token) }, 'wrong')
  t.equal(forged.statusCode, 403, 'no CSRF token, no revocation')
  t.equal(await mcpStatus(ada1.access_token), 200)

  const done = await form('/admin/grants/revoke', { sid: sidOf(ada1.access_token) })
  t.equal(done.statusCode, 303)
  t.equal(done.headers.location, '/admin/grants?done=grant_revoked')
  t.equal(await mcpStatus(ada1.access_token), 401, 'refused at once')
  t.equal(await mcpStatus(ada2.access_token), 200, 'her other grant is untouched')
  t.equal(await mcpStatus(alan.access_token), 200)
  t.match(audits('admin.grant_revoked'), [{ admin_oid: '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72', sid: sidOf(ada1.access_token), oid: ADA.oid, tid: ADA.tid, client_id: ada1.clientId }])
  const again = await form('/admin/grants/revoke', { sid: sidOf(ada1.access_token) })
  t.equal(again.headers.location, '/admin/grants?done=not_found')
})

t.test('revoke all grants of a user; the page says so after the redirect', async t => {
  const { app, admin, form, ada1, ada2, alan, mcpStatus, audits } = await scene(t)
  const done = await form('/admin/users/revoke', { tid: ADA.tid, oid: ADA.oid })
  t.equal(done.statusCode, 303)
  t.same([await mcpStatus(ada1.access_token), await mcpStatus(ada2.access_token), await mcpStatus(alan.access_token)], [401, 401, 200])
  t.match(audits('admin.user_revoked'), [{ oid: ADA.oid, tid: ADA.tid, count: 2 }])
  const page = await app.inject({ url: done.headers.location as string, headers: { cookie: admin.cookie } })
  t.match(page.body, /<p class="flash" id="flash" role="status">Every grant of that user was revoked\.<\/p>/)
  t.notMatch(page.body, /Ada Lovelace/)
  const bogus = await form('/admin/users/revoke', { tid: 'x', oid: ADA.oid })
  t.equal(bogus.statusCode, 400, 'a tenant that is no GUID')
})

t.test('a reflected `done` value is never echoed', async t => {
  const { app, admin } = await scene(t)
  const page = await app.inject({ url: '/admin/grants?done=%3Cscript%3E', headers: { cookie: admin.cookie } })
  t.notMatch(page.body, /<script>|flash/)
})

t.test('grants JSON: listed, filtered by user, revoked by DELETE and by user; an MCP token gets 401', async t => {
  const { apiCall, ada1, alan, sidOf, mcpStatus, audits } = await scene(t)
  const all = await apiCall('GET', '/admin/api/grants')
  t.equal(all.statusCode, 200)
  t.ok(all.json().grants.length >= 3)
  t.notMatch(all.body, ada1.refresh_token)
  const ada = await apiCall('GET', `/admin/api/grants?tid=${ADA.tid}&oid=${ADA.oid}`)
  t.same(ada.json().grants.map((g: any) => g.user.name), ['Ada Lovelace', 'Ada Lovelace'])
  t.equal((await apiCall('GET', `/admin/api/grants?tid=${ADA.tid}`)).statusCode, 400, 'a tenant without an object id')
  t.equal((await apiCall('GET', '/admin/api/grants', undefined, ada1.access_token)).statusCode, 401, 'an MCP token')

  const deleted = await apiCall('DELETE', `/admin/api/grants/${sidOf(alan.access_token)}`)
  t.equal(deleted.statusCode, 200)
  t.match(deleted.json().revoked, { sid: sidOf(alan.access_token), user: { name: 'Alan Turing' } })
  t.equal(await mcpStatus(alan.access_token), 401)
  t.equal((await apiCall('DELETE', `/admin/api/grants/${sidOf(alan.access_token)}`)).statusCode, 404)
  const user = await apiCall('POST', '/admin/api/users/revoke', { tid: ADA.tid, oid: ADA.oid })
  t.equal(user.json().revoked.length, 2)
  t.equal(await mcpStatus(ada1.access_token), 401)
  t.match(audits('admin.grant_revoked'), [{ sid: sidOf(alan.access_token), oid: ALAN.oid }])
  t.match(audits('admin.user_revoked'), [{ count: 2 }])
})

t.test('the clients page lists clients and consents; deleting a client revokes its grants', async t => {
  const { app, admin, form, ada1, alan, mcpStatus, audits } = await scene(t)
  const page = await app.inject({ url: '/admin/clients', headers: { cookie: admin.cookie } })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<table id="clients">/)
  t.match(page.body, ada1.clientId)
  t.match(page.body, /Test Client/)
  const done = await form('/admin/clients/delete', { client_id: ada1.clientId })
  t.equal(done.statusCode, 303)
  t.equal(await mcpStatus(ada1.access_token), 401, 'its grant is revoked')
  t.equal(await mcpStatus(alan.access_token), 200, 'other clients\' grants live')
  t.match(audits('admin.client_deleted'), [{ client_id: ada1.clientId, registration: true, grants: 1 }])
  const after = await app.inject({ url: '/admin/clients', headers: { cookie: admin.cookie } })
  t.notMatch(after.body, ada1.clientId)
})

t.test('consents: listed and deleted on the page and through the API', async t => {
  const { app, api, admin, form, apiCall, ada1, audits } = await scene(t)
  // Two browsers' remembered approvals for the client (as the consent POST leaves them).
  await api.grants.approveScopes('session-one-'.padEnd(43, 'a'), ada1.clientId, ['tools.read'])
  await api.grants.approveScopes('session-two-'.padEnd(43, 'b'), ada1.clientId, ['tools.read', 'tools.write'])
  const listed = await apiCall('GET', `/admin/api/consents?client_id=${encodeURIComponent(ada1.clientId)}`)
  t.equal(listed.json().consents.length, 2)
  const [first, second] = listed.json().consents
  const page = await app.inject({ url: '/admin/clients', headers: { cookie: admin.cookie } })
  t.match(page.body, /<table id="consents">/)
  t.notMatch(page.body, 'session-one-', 'the consent session id itself never shows')

  const done = await form('/admin/consents/delete', { id: first.id, client_id: ada1.clientId })
  t.equal(done.headers.location, '/admin/clients?done=consent_deleted')
  const byApi = await apiCall('DELETE', `/admin/api/consents/${second.id}?client_id=${encodeURIComponent(ada1.clientId)}`)
  t.equal(byApi.statusCode, 200)
  t.equal((await apiCall('DELETE', `/admin/api/consents/${second.id}?client_id=${encodeURIComponent(ada1.clientId)}`)).statusCode, 404)
  t.same((await apiCall('GET', '/admin/api/consents')).json().consents, [])
  t.equal(audits('admin.consent_deleted').length, 2)
})

t.test('clients JSON: listed, deleted by DELETE', async t => {
  const { apiCall, alan, mcpStatus } = await scene(t)
  const list = await apiCall('GET', '/admin/api/clients')
  t.ok(list.json().clients.some((c: any) => c.clientId === alan.clientId && c.activeGrants === 1))
  const deleted = await apiCall('DELETE', `/admin/api/clients/${encodeURIComponent(alan.clientId)}`)
  t.same(deleted.json().deleted, { clientId: alan.clientId, registration: true, grants: 1, consents: 0 })
  t.equal(await mcpStatus(alan.access_token), 401)
})
