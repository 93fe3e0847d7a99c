// Issue #17 §3: OpenTelemetry traces exported over OTLP/HTTP to a local receiver. A sign-in through an
// Entra stand-in and a tool call, with the Redis store at 127.0.0.1:6379: one trace per request, the
// route and the caller on the request span, child spans for Redis commands and the upstream token
// call (which receives the trace context), trace ids on log lines, and no secret in any span.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { loadConfig } from '../../config/index.ts'
import { startTracing } from '../../plugins/tracing/provider.ts'
import { redisEnv, requireRedis, testEnv } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { serviceWithEntraLike } from '../support/entra-like-server.ts'
import { callTool, post, SIGNING_KEY_PEM } from '../support/mcp.ts'
import { fullFlow, registerClient } from '../support/oauth-flow.ts'
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts'

const TENANT = '6d7e8f90-a1b2-4c3d-8e4f-5a6b7c8d9e0f'
const CLIENT = '9e0f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b'
const SECRET = 'the-app-secret-for-traces'
const COLLECTOR_KEY = 'collector-key-0123456789'

await requireRedis()
const receiver = await startOtlpReceiver()
t.teardown(() => receiver.close())
const env = {
  ...redisEnv(),
  TOKEN_SIGNING_KEY: SIGNING_KEY_PEM,
  TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${COLLECTOR_KEY}`,
  WEBSITE_INSTANCE_ID: 'instance-7'
}
// as server.ts does: the provider first, from the configuration
const settings = loadConfig(testEnv(env)).tracing
if (settings === undefined) throw new Error('tracing should be on')
const tracing = await startTracing(settings, '9.9.9')
t.teardown(() => tracing.shutdown())

const { entra, baseUrl, logs } = await serviceWithEntraLike(t, { tenantId: TENANT, clientId: CLIENT, secret: SECRET, env, app: { tracing } })

const client = await registerClient(baseUrl, { token_endpoint_auth_method: 'client_secret_post' })
const browser = new Browserless()
const flow = await fullFlow(baseUrl, client, browser)
if (flow.tokens.status !== 200) throw new Error(JSON.stringify(flow.tokens.body))
const accessToken = flow.tokens.body.access_token as string
const toolCall = await post(baseUrl, callTool(1, 'whoami'), { authorization: `Bearer ${accessToken}` })
if (toolCall.status !== 200) throw new Error(toolCall.text)
await tracing.flush()

const spans = receiver.spans
const requestSpan = (name: string) => spans.filter(s => s.name === name && s.attributes['fastify.root'] === '@fastify/otel')
const REDIS_ATTRIBUTES = ['db.system.name', 'db.operation.name', 'db.operation.batch.size', 'server.address', 'server.port']
const childrenOf = (parent: ReceivedSpan) => spans.filter(s => s.parentSpanId === parent.spanId)

t.test('the OTLP exporter posts JSON with the configured headers, and the resource names the service, version and instance', async t => {
  t.ok(receiver.requests.length > 0)
  for (const headers of receiver.requests) {
    t.equal(headers['content-type'], 'application/json')
    t.equal(headers['x-collector-key'], COLLECTOR_KEY, 'OTEL_EXPORTER_OTLP_HEADERS sent to the collector')
  }
  t.match(spans[0].resource, { 'service.name': 'entra-mcp-gateway', 'service.version': '9.9.9', 'service.instance.id': 'instance-7' })
})

t.test('each request of the sign-in and the tool call is one span named by route, each in a trace of its own', async t => {
  for (const name of ['POST /register', 'GET /authorize', 'GET /auth/callback', 'POST /token', 'POST /mcp']) {
    const found = requestSpan(name)
    t.equal(found.length, 1, `one span ${name}`)
    t.equal(found[0]?.kind, 2, 'kind SERVER')
    t.equal(found[0]?.parentSpanId, undefined, 'a root: no incoming trace context')
  }
  const traces = new Set(['GET /auth/callback', 'POST /token', 'POST /mcp'].map(n => requestSpan(n)[0].traceId))
  t.equal(traces.size, 3, 'three traces')
  const callback = requestSpan('GET /auth/callback')[0]
  t.match(callback.attributes, { 'http.route': '/auth/callback', 'http.request.method': 'GET', 'url.path': '/auth/callback', 'http.response.status_code': 302 })
})

t.test('the caller\'s client id and tenant are on the /token and /mcp spans', async t => {
  for (const name of ['POST /token', 'POST /mcp']) {
    t.match(requestSpan(name)[0].attributes, { 'oauth.client_id': client.client_id, 'entra.tenant_id': TENANT }, name)
  }
  t.equal(requestSpan('POST /mcp')[0].attributes['oauth.token_issuer'], 'self')
  t.match(requestSpan('POST /token')[0].events, [{ name: 'token.issued', attributes: { 'audit.outcome': 'success' } }], 'the audit event is an event of the span')
})

t.test('Redis commands are child spans of the request, with the command name and no argument', async t => {
  const mcp = requestSpan('POST /mcp')[0]
  const redis = childrenOf(mcp).filter(s => s.attributes['db.system.name'] === 'redis')
  t.ok(redis.length > 0, 'the /mcp call has Redis spans')
  for (const span of redis) {
    t.equal(span.traceId, mcp.traceId)
    t.equal(span.kind, 3, 'kind CLIENT')
    t.same(Object.keys(span.attributes).filter(k => !REDIS_ATTRIBUTES.includes(k)), [], `${span.name}: no attribute but ${REDIS_ATTRIBUTES.join(', ')}`)
    t.equal(span.name, span.attributes['db.operation.name'])
  }
  const token = requestSpan('POST /token')[0]
  t.ok(childrenOf(token).some(s => s.attributes['db.system.name'] === 'redis'), 'the /token request too (body read first)')
})

t.test('the upstream token call is a child span of the callback, and Entra received its trace context', async t => {
  const callback = requestSpan('GET /auth/callback')[0]
  const upstream = childrenOf(callback).filter(s => s.name === 'entra token')
  t.equal(upstream.length, 1)
  t.match(upstream[0].attributes, { 'http.request.method': 'POST', 'server.address': '127.0.0.1', 'http.response.status_code': 200, 'peer.service': 'entra' })
  const tokenRequests = entra.requests.filter(r => r.url.pathname.endsWith('/oauth2/v2.0/token'))
  t.equal(tokenRequests.length, 1)
  t.match(tokenRequests[0].traceparent, new RegExp(`^00-${callback.traceId}-[0-9a-f]{16}-01$`), 'traceparent of the callback\'s trace')
})

t.test('an incoming traceparent is continued', async t => {
  const traceId = randomBytes(16).toString('hex')
  const parentId = randomBytes(8).toString('hex')
  const res = await post(baseUrl, callTool(2, 'whoami'), { authorization: `Bearer ${accessToken}`, traceparent: `00-${traceId}-${parentId}-01` })
  t.equal(res.status, 200)
  await tracing.flush()
  const span = await receiver.waitFor(s => s.traceId === traceId && s.name === 'POST /mcp')
  t.equal(span.parentSpanId, parentId)
  t.ok(spans.some(s => s.traceId === traceId && s.parentSpanId === span.spanId && s.attributes['db.system.name'] === 'redis'), 'its Redis spans in the same trace')
})

t.test('log lines written during a request carry its trace id and span id', async t => {
  const lines = logs.map(l => JSON.parse(l))
  const issued = lines.find(l => l.event === 'token.issued')
  const token = requestSpan('POST /token')[0]
  t.equal(issued?.trace_id, token.traceId)
  t.equal(issued?.span_id, token.spanId)
  const called = lines.find(l => l.event === 'tool.called')
  t.equal(called?.trace_id, requestSpan('POST /mcp')[0].traceId)
  const loaded = lines.find(l => l.event === 'config.loaded')
  t.equal(loaded?.trace_id, undefined, 'none outside a request')
  t.match(loaded?.tracing, { enabled: true, otlp_endpoint: `${receiver.url}/v1/traces`, otlp_headers_set: true, application_insights_connection_string_set: false })
  t.notMatch(JSON.stringify(loaded), COLLECTOR_KEY, 'the collector key is not logged')
})

t.test('no attribute of any exported span holds a token, code, verifier, secret or cookie', async t => {
  const upstreamForms = entra.requests.flatMap(r => r.form !== undefined ? [...r.form.values()] : [])
  const secrets = [
    accessToken, flow.tokens.body.refresh_token, flow.code, flow.request.verifier, flow.request.state, client.client_secret,
    SECRET, COLLECTOR_KEY, ...browser.jar.cookies.map(c => c.value), ...upstreamForms
  ].filter((s): s is string => typeof s === 'string' && s.length >= 8 && !s.includes(' ') && s !== client.client_id && !s.startsWith('http'))
  t.ok(secrets.length >= 10, `${secrets.length} secrets to look for`)
  const exported = JSON.stringify(spans)
  for (const secret of secrets) t.notOk(exported.includes(secret), `not exported: ${secret.slice(0, 6)}…`)
  const callback = requestSpan('GET /auth/callback')[0]
  t.notMatch(JSON.stringify(callback), /[?&](code|state)=/, 'the callback\'s query is not recorded')
})
