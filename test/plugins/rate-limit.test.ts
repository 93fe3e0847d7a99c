import t from 'tap'
import type { InjectOptions } from 'fastify'
import { buildWithRoutes, selfMadeToken, auditLines } from '../support/rate-limit.ts'
import { buildListening } from '../helper.ts'
import { MCP_HEADERS, SIGNING_KEY_PEM, mintToken, post, callTool } from '../support/mcp.ts'

const TID = '11111111-2222-3333-4444-555555555555'
const ALICE = 'aaaaaaaa-0000-0000-0000-000000000001'
const BOB = 'bbbbbbbb-0000-0000-0000-000000000002'
const bearer = (oid: string, extra: Record<string, unknown> = {}) => `Bearer ${selfMadeToken({ tid: TID, oid, client_id: 'client-1', ...extra })}`
const BASE = 'http://localhost:8000'
/** A token the app verifies (its own issuer and key), for budgets that need a verified caller. */
const verified = (oid: string) => `Bearer ${mintToken(BASE, 'tools.read', { oid, tid: TID, client_id: 'client-1' })}`
const mcpCall = (app: { inject: (opts: InjectOptions) => Promise<{ statusCode: number }> }, authorization: string, ip: string, headers: Record<string, string> = {}) => app.inject({
  method: 'POST', url: '/mcp', remoteAddress: ip, headers: { ...MCP_HEADERS, authorization, ...headers }, payload: callTool(1, 'whoami')
})

const form = (body: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(body).toString()
})

t.test('routes without a family (health probes, others) are never limited and get no RateLimit headers', async t => {
  const app = await buildWithRoutes(t, {
    RATE_LIMIT_REGISTER: '1/60', RATE_LIMIT_AUTHORIZE: '1/60', RATE_LIMIT_TOKEN: '1/60', RATE_LIMIT_REVOKE: '1/60', RATE_LIMIT_MCP: '1/60', RATE_LIMIT_MCP_PER_IP: '1/60', RATE_LIMIT_TOKEN_PER_IP: '1/60'
  })
  for (let i = 0; i < 5; i++) {
    for (const url of ['/health', '/health/ready', '/auth/info', '/t/free']) {
      const res = await app.inject(url)
      t.equal(res.statusCode, 200, `${url} #${i + 1}`)
      t.notOk(res.headers['ratelimit-limit'], `${url} has no RateLimit-Limit`)
    }
  }
})

t.test('allowed answers carry RateLimit-Limit/Remaining/Reset counting down', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_REVOKE: '3/60' })
  const remaining = []
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/t/revoke' })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['ratelimit-limit'], '3')
    const reset = Number(res.headers['ratelimit-reset'])
    t.ok(reset >= 1 && reset <= 60, `reset ${reset} within the window`)
    remaining.push(res.headers['ratelimit-remaining'])
  }
  t.same(remaining, ['2', '1', '0'])
})

t.test('429 on OAuth families: RFC 6749 temporarily_unavailable with Retry-After and RateLimit headers', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_REGISTER: '2/3600', RATE_LIMIT_AUTHORIZE: '2/60', RATE_LIMIT_REVOKE: '2/60', RATE_LIMIT_TOKEN_PER_IP: '2/60' })
  const cases: Array<[string, InjectOptions, number]> = [
    ['register', { method: 'POST', url: '/t/register' }, 3600],
    ['authorize', { method: 'GET', url: '/t/authorize' }, 60],
    ['token', { method: 'POST', url: '/t/token', ...form({ grant_type: 'authorization_code', client_id: 'c1' }) }, 60],
    ['revoke', { method: 'POST', url: '/t/revoke' }, 60]
  ]
  for (const [family, request, window] of cases) {
    for (let i = 0; i < 2; i++) t.equal((await app.inject(request)).statusCode, 200, `${family} #${i + 1} allowed`)
    const res = await app.inject(request)
    t.equal(res.statusCode, 429, `${family} third refused`)
    t.match(res.headers['content-type'], /^application\/json/)
    t.same(Object.keys(res.json()).sort(), ['error', 'error_description'])
    t.equal(res.json().error, 'temporarily_unavailable')
    t.match(res.json().error_description, /Rate limit exceeded; retry in \d+ s/)
    const retry = Number(res.headers['retry-after'])
    t.ok(retry >= 1 && retry <= window, `${family} Retry-After ${retry} within ${window}`)
    t.equal(res.headers['ratelimit-limit'], '2')
    t.equal(res.headers['ratelimit-remaining'], '0')
    t.equal(res.headers['ratelimit-reset'], res.headers['retry-after'])
    t.equal(res.headers['cache-control'], 'no-store')
  }
})

t.test('429 on /mcp is a JSON-RPC error with the same headers', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '1/60' })
  const request: InjectOptions = { method: 'POST', url: '/t/mcp', payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' } }
  t.equal((await app.inject(request)).statusCode, 200)
  const res = await app.inject(request)
  t.equal(res.statusCode, 429)
  t.same(res.json(), { jsonrpc: '2.0', error: { code: -32000, message: res.json().error.message }, id: null })
  t.match(res.json().error.message, /Rate limit exceeded; retry in \d+ s/)
  t.ok(Number(res.headers['retry-after']) >= 1)
  t.equal(res.headers['ratelimit-limit'], '1')
  t.equal(res.headers['ratelimit-remaining'], '0')
})

t.test('the authorize GET and the consent POST share one budget', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_AUTHORIZE: '2/60' })
  t.equal((await app.inject('/t/authorize')).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/t/authorize/consent' })).statusCode, 200)
  t.equal((await app.inject('/t/authorize')).statusCode, 429)
  t.equal((await app.inject({ method: 'POST', url: '/t/authorize/consent' })).statusCode, 429)
})

t.test('limits follow the verified user: two users from one IP have separate budgets, one user from two IPs shares one', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '2/60', TOKEN_SIGNING_KEY: SIGNING_KEY_PEM })
  const tokens: Record<string, string> = { [ALICE]: verified(ALICE), [BOB]: verified(BOB) }
  const call = (oid: string, ip: string) => mcpCall(app, tokens[oid], ip)
  t.equal((await call(ALICE, '198.51.100.1')).statusCode, 200)
  t.equal((await call(ALICE, '198.51.100.1')).statusCode, 200)
  t.equal((await call(ALICE, '198.51.100.1')).statusCode, 429, 'Alice spent her budget')
  t.equal((await call(BOB, '198.51.100.1')).statusCode, 200, 'Bob, same IP, has his own')
  t.equal((await call(ALICE, '203.0.113.9')).statusCode, 429, 'Alice from another IP is still out')
  t.equal((await call(BOB, '203.0.113.9')).statusCode, 200)
  t.equal((await call(BOB, '198.51.100.1')).statusCode, 429, 'Bob spent his across two IPs')
})

t.test('/mcp without a token is limited per IP; a bearer token that does not verify spends the IP ceiling', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '2/60', RATE_LIMIT_MCP_PER_IP: '1/60' })
  const call = (ip: string) => app.inject({ method: 'POST', url: '/t/mcp', remoteAddress: ip })
  t.equal((await call('198.51.100.1')).statusCode, 200)
  t.equal((await call('198.51.100.1')).statusCode, 200)
  t.equal((await call('198.51.100.1')).statusCode, 429)
  t.equal((await call('198.51.100.2')).statusCode, 200, 'another IP')
  t.equal((await mcpCall(app, 'Bearer not-a-jwt', '198.51.100.3')).statusCode, 401, 'refused by the verifier')
  t.equal((await mcpCall(app, 'Bearer not-a-jwt', '198.51.100.3')).statusCode, 429, 'after spending the IP ceiling')
})

t.test('forged tokens naming made-up users cannot escape the per-IP ceiling, even on a route without authenticate', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '5/60', RATE_LIMIT_MCP_PER_IP: '3/60' })
  const statuses = []
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/t/mcp', remoteAddress: '198.51.100.66', headers: { authorization: bearer(`forged-${i}`) } })
    statuses.push(res.statusCode)
  }
  t.same(statuses, [200, 200, 200, 429, 429])
  const other = await app.inject({ method: 'POST', url: '/t/mcp', remoteAddress: '198.51.100.67', headers: { authorization: bearer('forged-9') } })
  t.equal(other.statusCode, 200, 'other IPs are unaffected')
})

t.test('/token: an IP ceiling before the body, then a budget per client id and IP (form or Basic)', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_TOKEN: '2/60', RATE_LIMIT_TOKEN_PER_IP: '5/60' })
  const token = (clientId: string, ip = '198.51.100.1') => app.inject({ method: 'POST', url: '/t/token', remoteAddress: ip, ...form({ grant_type: 'refresh_token', client_id: clientId }) })
  const basic = (clientId: string) => app.inject({
    method: 'POST',
    url: '/t/token',
    remoteAddress: '198.51.100.1',
    ...form({ grant_type: 'refresh_token' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:secret`).toString('base64')}` }
  })
  t.equal((await token('c1')).statusCode, 200)
  t.equal((await token('c1')).statusCode, 200)
  t.equal((await token('c1')).statusCode, 429, 'c1 spent its budget on this IP')
  t.equal((await token('c1', '198.51.100.2')).statusCode, 200, 'c1 from another IP has another budget')
  t.equal((await basic('c2')).statusCode, 200, 'c2 (Basic auth) has its own budget')
  t.equal((await token('c3')).statusCode, 200, 'fifth request from this IP (c3) is within the ceiling')
  t.equal((await token('c4')).statusCode, 429, 'sixth request from this IP hits the ceiling, whatever the client')
})

t.test('the limit check runs before the route\'s own onRequest and preHandler hooks', async t => {
  let reached = 0
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '1/60' }, undefined, scope => {
    scope.register(async function guarded (inner) {
      inner.addHook('onRequest', async () => { reached++ })
      inner.post('/t/mcp-guarded', {
        config: { rateLimitFamily: 'mcp' },
        onRequest: async () => { reached++ },
        preHandler: async () => { reached++ }
      }, async () => ({ ok: true }))
    })
  })
  t.equal((await app.inject({ method: 'POST', url: '/t/mcp-guarded' })).statusCode, 200)
  t.equal(reached, 3)
  t.equal((await app.inject({ method: 'POST', url: '/t/mcp-guarded' })).statusCode, 429)
  t.equal(reached, 3, 'no hook of the area ran for the refused request')
})

t.test('the client IP comes from X-Forwarded-For only when TRUST_PROXY is set', async t => {
  const proxy = '10.0.0.5'
  const send = (app: Awaited<ReturnType<typeof buildWithRoutes>>, clientIp: string, via = proxy) =>
    app.inject({ method: 'POST', url: '/t/register', remoteAddress: via, headers: { 'x-forwarded-for': clientIp } })

  t.test('without TRUST_PROXY the header is ignored: every caller behind it shares the peer\'s budget', async t => {
    const logs: string[] = []
    const app = await buildWithRoutes(t, { RATE_LIMIT_REGISTER: '2/60' }, logs)
    t.equal((await send(app, '198.51.100.1')).statusCode, 200)
    t.equal((await send(app, '198.51.100.2')).statusCode, 200)
    t.equal((await send(app, '198.51.100.3')).statusCode, 429)
    t.equal(auditLines(logs, 'rate_limit.exceeded')[0].ip, proxy, 'the peer is the client')
  })

  t.test('with TRUST_PROXY the forwarded client is keyed, never the proxy\'s own address', async t => {
    const logs: string[] = []
    const app = await buildWithRoutes(t, { RATE_LIMIT_REGISTER: '2/60', TRUST_PROXY: 'true' }, logs)
    t.equal((await send(app, '198.51.100.1')).statusCode, 200)
    t.equal((await send(app, '198.51.100.1')).statusCode, 200)
    t.equal((await send(app, '198.51.100.2')).statusCode, 200, 'another client behind the same proxy')
    t.equal((await send(app, '198.51.100.1', '10.0.0.6')).statusCode, 429, 'same client through another proxy instance')
    const [line] = auditLines(logs, 'rate_limit.exceeded')
    t.equal(line.ip, '198.51.100.1')
  })

  t.test('a trusted hop list keys on the first untrusted address', async t => {
    const app = await buildWithRoutes(t, { RATE_LIMIT_REGISTER: '1/60', TRUST_PROXY: '10.0.0.0/8' })
    const res1 = await app.inject({ method: 'POST', url: '/t/register', remoteAddress: proxy, headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' } })
    t.equal(res1.statusCode, 200)
    const res2 = await app.inject({ method: 'POST', url: '/t/register', remoteAddress: proxy, headers: { 'x-forwarded-for': '198.51.100.8, 203.0.113.1' } })
    t.equal(res2.statusCode, 429, 'a client cannot pick its key by prepending addresses')
  })
})

t.test('rate_limit.exceeded is audited once per counter and window, with the family and who', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, { RATE_LIMIT_MCP: '1/60', RATE_LIMIT_REGISTER: '1/60', TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }, logs)
  const alice = verified(ALICE)
  const mcp = () => mcpCall(app, alice, '198.51.100.1', { 'x-request-id': 'req-123' })
  for (let i = 0; i < 4; i++) await mcp()
  for (let i = 0; i < 3; i++) await app.inject({ method: 'POST', url: '/t/register', remoteAddress: '198.51.100.1' })
  const lines = auditLines(logs, 'rate_limit.exceeded')
  t.equal(lines.length, 2, 'one line per counter, not one per refused request')
  t.match(lines[0], {
    audit: true,
    event: 'rate_limit.exceeded',
    outcome: 'denied',
    reason: 'rate_limited',
    family: 'mcp',
    key_kind: 'user',
    limit: 1,
    window_seconds: 60,
    request_id: 'req-123',
    ip: '198.51.100.1',
    oid: ALICE,
    tid: TID,
    client_id: 'client-1'
  })
  t.equal(lines[0].identity, 'verified', 'a user budget is only counted for a verified token')
  t.type(lines[0].retry_after, 'number')
  t.match(lines[1], { family: 'register', key_kind: 'ip', ip: '198.51.100.1', outcome: 'denied' })
  t.notOk('oid' in lines[1], 'no subject for IP-keyed families')
  t.notMatch(logs.join('\n'), /eyJ/, 'no token in any log line')
})

t.test('consumeRateLimit counts per family and key for limits decided in a handler', async t => {
  const app = await buildWithRoutes(t)
  const rule = { max: 2, windowSeconds: 30 }
  const first = await app.inner.consumeRateLimit('tool:whoami', `${TID}:${ALICE}`, rule)
  t.same(first, { allowed: true, limit: 2, remaining: 1, resetSeconds: 30 })
  t.match(await app.inner.consumeRateLimit('tool:whoami', `${TID}:${ALICE}`, rule), { allowed: true, remaining: 0 })
  const third = await app.inner.consumeRateLimit('tool:whoami', `${TID}:${ALICE}`, rule)
  t.equal(third.allowed, false)
  t.equal(third.remaining, 0)
  t.ok(third.resetSeconds >= 1 && third.resetSeconds <= 30)
  t.match(await app.inner.consumeRateLimit('tool:whoami', `${TID}:${BOB}`, rule), { allowed: true }, 'another user')
  t.match(await app.inner.consumeRateLimit('tool:other', `${TID}:${ALICE}`, rule), { allowed: true }, 'another tool')
})

t.test('RATE_LIMIT_ENABLED=false turns every limit off', async t => {
  const app = await buildWithRoutes(t, { RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_REGISTER: '1/60', RATE_LIMIT_MCP: '1/60' })
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/t/register' })
    t.equal(res.statusCode, 200)
    t.notOk(res.headers['ratelimit-limit'])
  }
  for (let i = 0; i < 3; i++) t.match(await app.inner.consumeRateLimit('tool:x', 'k', { max: 1, windowSeconds: 60 }), { allowed: true })
})

t.test('a route naming an unknown family is refused at startup', async t => {
  await t.rejects(buildWithRoutes(t, {}, undefined, scope => {
    scope.get('/t/typo', { config: { rateLimitFamily: 'mpc' as any } }, async () => ({}))
  }), /Unknown rateLimitFamily "mpc"/)
})

t.test('end to end on /mcp with verified tokens: per-user budgets that forged tokens cannot spend', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_MCP: '2/60' }, { logs })
  const alice = mintToken(baseUrl, 'tools.read', { oid: ALICE, tid: TID })
  const bob = mintToken(baseUrl, 'tools.read', { oid: BOB, tid: TID })
  const whoami = (token: string) => post(baseUrl, callTool(1, 'whoami'), { authorization: `Bearer ${token}` })

  t.equal((await whoami(alice)).status, 200)
  t.equal((await whoami(alice)).status, 200)
  const third = await whoami(alice)
  t.equal(third.status, 429, 'Alice is over her budget')
  t.same(third.json, { jsonrpc: '2.0', error: { code: -32000, message: third.json.error.message }, id: null })
  t.equal(third.headers.get('ratelimit-limit'), '2')
  t.equal((await whoami(bob)).status, 200, 'Bob from the same IP is not')

  // A token signed by someone else is refused by the verifier, whoever it names: it spends only
  // the IP ceiling, never Alice's budget.
  const forgedCarol = `Bearer ${selfMadeToken({ tid: TID, oid: 'cccccccc-0000-0000-0000-000000000003', client_id: 'test-client', iss: baseUrl, aud: `${baseUrl}/mcp` })}`
  const carol = await post(baseUrl, callTool(2, 'whoami'), { authorization: forgedCarol })
  t.equal(carol.status, 401, 'forged token refused by the verifier')
  t.ok(logs.some(l => /"event":"token.rejected"/.test(l)))
  const forgedAlice = `Bearer ${selfMadeToken({ tid: TID, oid: ALICE, client_id: 'test-client' })}`
  t.equal((await post(baseUrl, callTool(3, 'whoami'), { authorization: forgedAlice })).status, 401, 'refused by the verifier, not as over Alice\'s budget')
})
