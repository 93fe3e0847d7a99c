import t from 'tap'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { registerClient, authorizeRequest, signIn, tokenRequest, fullFlow, REDIRECT_URI } from '../support/oauth-flow.ts'
import { post, callTool } from '../support/mcp.ts'
import { AUDIT_EVENTS } from '../../plugins/audit-log/events.ts'

// One full OAuth + MCP flow through the real routes with the development identity provider:
// every audit event of the catalogue is emitted by its own code path and asserted here (except
// those that need something to break: rate_limit.unavailable, Redis gone,
// test/plugins/rate-limit-redis.test.ts; store.full, a full memory store,
// test/routes/oauth/store-full.test.ts; upstream.error, Entra refusing,
// test/routes/oauth/upstream-refusals.test.ts; store.reset, Redis losing its data,
// test/plugins/store-epoch-redis.test.ts), and no secret used anywhere in the flow appears in any
// log line.
t.test('a full flow emits every audit event with its fields, and no log line carries a secret', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_REGISTER: '1/3600', REFRESH_TOKEN_REUSE_GRACE: '0' }, { logs })
  const audit = (event: string) => logs.map(l => JSON.parse(l)).filter(l => l.audit === true && l.event === event)

  const client = await registerClient(baseUrl, { token_endpoint_auth_method: 'client_secret_post' })
  t.type(client.client_secret, 'string', 'a confidential client, so there is a secret to look for')
  const refused = await fetch(`${baseUrl}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT_URI] }) })
  t.equal(refused.status, 429, 'second registration from this IP is over RATE_LIMIT_REGISTER')

  const browser = new Browserless()
  const { request, code, tokens } = await fullFlow(baseUrl, client, browser)
  t.equal(tokens.status, 200)
  const accessToken: string = tokens.body.access_token
  const refreshToken: string = tokens.body.refresh_token

  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id, client_secret: client.client_secret })
  t.equal(refreshed.status, 200)
  const accessToken2: string = refreshed.body.access_token
  const refreshToken2: string = refreshed.body.refresh_token

  const whoami = await post(baseUrl, callTool(1, 'whoami'), { authorization: `Bearer ${accessToken2}` })
  t.equal(whoami.status, 200)
  const graph = await post(baseUrl, callTool(2, 'graph_me'), { authorization: `Bearer ${accessToken2}` })
  t.equal(graph.status, 403, 'graph.read was not granted')

  const revoke = await fetch(`${baseUrl}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: accessToken2, token_type_hint: 'access_token', client_id: client.client_id, client_secret: client.client_secret as string })
  })
  t.equal(revoke.status, 200)
  const afterRevoke = await post(baseUrl, callTool(3, 'whoami'), { authorization: `Bearer ${accessToken2}` })
  t.equal(afterRevoke.status, 401, 'revoked token refused')

  const replay = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id, client_secret: client.client_secret })
  t.equal(replay.status, 400, 'a used refresh token is refused')

  // A cross-site page posting a consent form is refused before anything is read.
  const forged = await fetch(`${baseUrl}/authorize/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body: 'transaction=x&csrf_token=y&decision=approve' })
  t.equal(forged.status, 403)

  const denied = await authorizeRequest(baseUrl, client)
  const deniedParams = await signIn(new Browserless(), denied.url, { consent: 'deny' })
  t.equal(deniedParams.get('error'), 'access_denied')

  const badCallback = await fetch(`${baseUrl}/auth/callback?state=not-a-state&code=whatever`, { redirect: 'manual' })
  t.ok(badCallback.status >= 400, 'unknown state refused')

  const events = new Set(logs.map(l => JSON.parse(l)).filter(l => l.audit === true).map(l => l.event))
  // Emitted by flows of their own, tested there: Conditional Access (conditional-access.test.ts), the
  // device grant (device.test.ts), the admin area (test/plugins/admin, test/routes/admin).
  const expected = AUDIT_EVENTS.filter(e => !['rate_limit.unavailable', 'store.full', 'upstream.error', 'store.reset', 'upstream.claims_challenge'].includes(e) && !e.startsWith('device.') && !e.startsWith('admin.'))
  t.same(expected.filter(e => !events.has(e)), [], 'every catalogue event was emitted')

  const oid = audit('login.succeeded')[0]?.oid
  t.type(oid, 'string')
  const common = { audit: true, request_id: String, ip: '127.0.0.1' }
  t.match(audit('config.loaded')[0], { audit: true, outcome: 'success', config: { issuer: baseUrl } })
  t.match(audit('client.registered')[0], { ...common, client_id: client.client_id, outcome: 'success' })
  t.match(audit('rate_limit.exceeded')[0], { ...common, family: 'register', key_kind: 'ip', outcome: 'denied', limit: 1 })
  t.match(audit('authorize.started')[0], { ...common, client_id: client.client_id, outcome: 'success' })
  t.match(audit('consent.granted')[0], { ...common, client_id: client.client_id, outcome: 'success' })
  t.match(audit('consent.denied')[0], { ...common, client_id: client.client_id, outcome: 'denied' })
  t.match(audit('consent.refused')[0], { ...common, outcome: 'denied', reason: 'cross_site', detail: 'Origin: https://evil.example' })
  t.match(audit('login.succeeded')[0], { ...common, client_id: client.client_id, tid: String, outcome: 'success' })
  t.match(audit('login.failed')[0], { ...common, outcome: 'failure', reason: String })
  t.match(audit('token.issued')[0], { ...common, client_id: client.client_id, oid, outcome: 'success' })
  t.match(audit('token.refreshed')[0], { ...common, client_id: client.client_id, oid, outcome: 'success' })
  t.match(audit('token.refresh_reused')[0], { ...common, client_id: client.client_id, outcome: 'failure' })
  t.match(audit('token.revoked')[0], { ...common, client_id: client.client_id, outcome: 'success' })
  t.match(audit('token.rejected')[0], { ...common, outcome: 'failure', reason: String })
  t.match(audit('tool.called')[0], { ...common, tool: 'whoami', oid, client_id: client.client_id, outcome: 'success', duration_ms: Number })
  t.match(audit('scope.denied').find(l => l.tool === 'graph_me'), { ...common, oid, outcome: 'denied' })

  const secrets = {
    access_token: accessToken,
    access_token_2: accessToken2,
    refresh_token: refreshToken,
    refresh_token_2: refreshToken2,
    code: code as string,
    code_verifier: request.verifier,
    client_secret: client.client_secret as string
  }
  const all = logs.join('\n')
  t.ok(logs.length > 20, `scanned ${logs.length} log lines`)
  for (const [name, value] of Object.entries(secrets)) {
    t.ok(value.length >= 16, `${name} is a real value`)
    t.notOk(all.includes(value), `no log line carries the ${name}`)
  }
  // JWTs are recognisable by their header; none of ours (nor Entra's) may appear, whole or in part.
  t.notMatch(all, /eyJ[\w-]{10,}\.eyJ/, 'no JWT in any log line')
})
