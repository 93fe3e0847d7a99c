import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from './helper.ts'

// Fastify's own options from app.ts (serverOptions): request ids, log redaction, body limit, proxy trust.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

function testRoutes (fastify: FastifyInstance) {
  fastify.post('/test/echo', async (request) => ({ size: JSON.stringify(request.body).length }))
  fastify.post('/test/log', async (request) => {
    request.log.info({ body: request.body, headers: request.headers }, 'request as received')
    request.log.info({ code: 'top-level-code', state: 'top-level-state', token: 'top-level-token', refresh_token: 'top-level-rt' }, 'top level')
    request.log.warn({ err: { code: 'ECONNREFUSED', message: 'connect refused' } }, 'dependency problem')
    return { ok: true }
  })
  fastify.get('/test/client', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host }))
}

t.test('an incoming x-request-id is echoed and used in log lines', async t => {
  const logs: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { logs, setup: testRoutes })
  const res = await app.inject({ method: 'GET', url: '/test/client', headers: { 'x-request-id': 'trace-abc.123:9' } })
  t.equal(res.headers['x-request-id'], 'trace-abc.123:9')
  const lines = logs.map(l => JSON.parse(l)).filter(l => l.reqId !== undefined)
  t.ok(lines.length >= 2, 'incoming request and request completed')
  t.ok(lines.every(l => l.reqId === 'trace-abc.123:9'), 'every request line carries the id')
})

t.test('a request id is generated when none (or a malformed one) comes in', async t => {
  const logs: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { logs, setup: testRoutes })
  const res = await app.inject('/test/client')
  t.match(res.headers['x-request-id'], UUID)
  t.ok(logs.some(l => JSON.parse(l).reqId === res.headers['x-request-id']), 'log lines carry the generated id')

  const bad = await app.inject({ method: 'GET', url: '/auth/info', headers: { 'x-request-id': 'has spaces <script>' } })
  t.match(bad.headers['x-request-id'], UUID, 'a malformed id is replaced')
  const other = await app.inject('/auth/info')
  t.not(other.headers['x-request-id'], res.headers['x-request-id'], 'ids differ per request')
  const notFound = await app.inject('/nowhere')
  t.match(notFound.headers['x-request-id'], UUID, 'also on 404s')
})

t.test('authorization, cookies, codes, states and token fields never reach the log', async t => {
  const logs: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { logs, setup: testRoutes })
  await app.inject({
    method: 'GET',
    url: '/auth/callback?code=SECRET-CODE-1&state=SECRET-STATE-1&session_state=x',
    headers: { authorization: 'Bearer SECRET-BEARER-1', cookie: 'sid=SECRET-COOKIE-1' }
  })
  await app.inject({
    method: 'POST',
    url: '/test/log?code=SECRET-CODE-2&token=SECRET-TOKEN-Q',
    headers: { authorization: 'Basic SECRET-BASIC-2', cookie: '__Host-consent=SECRET-COOKIE-2', 'content-type': 'application/json' },
    payload: {
      grant_type: 'authorization_code',
      code: 'SECRET-CODE-3',
      code_verifier: 'SECRET-VERIFIER',
      refresh_token: 'SECRET-RT',
      client_secret: 'SECRET-CLIENT-SECRET',
      client_assertion: 'SECRET-ASSERTION',
      access_token: 'SECRET-AT',
      token: 'SECRET-TOKEN-B',
      state: 'SECRET-STATE-2'
    }
  })
  const text = logs.join('\n')
  t.ok(text.includes('request as received') && text.includes('grant_type'), 'the request was logged')
  t.notMatch(text, /SECRET-/, 'no secret value in any line')
  t.notMatch(text, /top-level-(code|state|token|rt)/, 'top-level secret fields redacted')
  t.match(text, /"url":"\/auth\/callback\?code=\[Redacted\]&state=\[Redacted\]&session_state=x"/, 'the URL keeps its shape')
  t.match(text, /"code":"ECONNREFUSED"/, 'error codes stay readable')
})

t.test('a body larger than BODY_LIMIT answers 413 with a JSON error', async t => {
  const app = await build(t, { BODY_LIMIT: '2048' }, { setup: testRoutes })
  const small = await app.inject({ method: 'POST', url: '/test/echo', payload: { data: 'x'.repeat(1000) } })
  t.equal(small.statusCode, 200)
  const big = await app.inject({ method: 'POST', url: '/test/echo', payload: { data: 'x'.repeat(5000) } })
  t.equal(big.statusCode, 413)
  t.match(big.headers['content-type'], /application\/json/)
  t.same(big.json(), { error: 'invalid_request', error_description: 'The request body is larger than this endpoint accepts' })
  const form = await app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":' })
  t.equal(form.statusCode, 400, 'malformed JSON is a 400, not a 500')
  t.equal(form.json().error, 'invalid_request')
})

t.test('without TRUST_PROXY, X-Forwarded-For/Proto/Host are ignored', async t => {
  const app = await build(t, {}, { setup: testRoutes })
  const res = await app.inject({ url: '/test/client', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' } })
  t.same(res.json(), { ip: '127.0.0.1', protocol: 'http', host: 'localhost:80' })
})

t.test('with TRUST_PROXY, the client IP and https come from the proxy headers (App Service)', async t => {
  const app = await build(t, { TRUST_PROXY: 'true' }, { setup: testRoutes })
  const res = await app.inject({ url: '/test/client', headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'mcp.example.com' } })
  t.same(res.json(), { ip: '203.0.113.7', protocol: 'https', host: 'mcp.example.com' })

  const listed = await build(t, { TRUST_PROXY: '10.0.0.0/8 127.0.0.1' }, { setup: testRoutes })
  const chain = await listed.inject({ url: '/test/client', headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.2.3' } })
  t.equal(chain.json().ip, '203.0.113.7', 'with a list, the first untrusted address is the client')

  const elsewhere = await build(t, { TRUST_PROXY: '10.0.0.0/8' }, { setup: testRoutes })
  const direct = await elsewhere.inject({ url: '/test/client', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } })
  t.same(direct.json(), { ip: '127.0.0.1', protocol: 'http', host: 'localhost:80' }, 'a peer outside the list is not trusted')
})

t.test('health probes do not log at info per request; other requests do', async t => {
  const logs: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { logs, setup: testRoutes })
  const before = logs.length
  await app.inject('/health')
  await app.inject('/health/ready')
  await app.inject('/auth/info')
  t.equal(logs.length, before, 'no line for probes')
  await app.inject('/test/client')
  t.ok(logs.length > before, 'other requests are logged')
})
