// Metrics after real traffic: a sign-in through an Entra-like server (its own loopback port, the
// service with real Azure settings and Redis), then refusals of each kind, a Graph call and a
// refresh. /metrics shows each, and no label holds a token, code or secret the flow used.
import t from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { Browserless } from '../../support/browserless.ts'
import { serviceWithEntraLike } from '../../support/entra-like-server.ts'
import { startFakeGraph } from '../../support/fake-graph.ts'
import { callTool, injectMcp } from '../../support/mcp.ts'
import { fullFlow, registerClient, tokenRequest } from '../../support/oauth-flow.ts'
import { redisEnv } from '../../helper.ts'

const TENANT = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f'
const CLIENT = '4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a'
const SECRET = 'the app secret of the metrics test'
const METRICS_TOKEN = randomBytes(32).toString('hex')

const graph = await startFakeGraph({ users: {} })
t.teardown(() => graph.close())
const { app, baseUrl } = await serviceWithEntraLike(t, {
  tenantId: TENANT,
  clientId: CLIENT,
  secret: SECRET,
  accessTokenTtl: 120, // every client refresh renews the upstream grant at Entra
  env: {
    ...redisEnv(),
    TOKEN_SIGNING_KEY: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_BASE_URL: graph.url,
    METRICS_TOKEN,
    RATE_LIMIT_ENABLED: 'true',
    RATE_LIMIT_REVOKE: '1/60'
  }
})

const scrape = async () => {
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  if (res.statusCode !== 200) throw new Error(`scrape: ${res.statusCode}`)
  return res.body
}
/** The sum of a metric's samples whose labels include every `label="value"` given. */
function sum (text: string, name: string, labels: Record<string, string> = {}): number {
  return text.split('\n')
    .filter(line => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

const client = await registerClient(baseUrl)
const flow = await fullFlow(baseUrl, client, new Browserless(), { scope: 'tools.read graph.read' })
if (flow.tokens.status !== 200) throw new Error(JSON.stringify(flow.tokens.body))
const accessToken = flow.tokens.body.access_token as string
const BAD_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLW9mLW5vYm9keQ'

t.test('a sign-in, a failed sign-in, a bad token, a scope denial and a rate-limit hit are counted', async t => {
  const before = await scrape()
  t.equal(sum(before, 'emg_sign_ins_total', { outcome: 'success', flow: 'browser' }), 1, 'the sign-in of the flow')

  t.equal((await app.inject('/auth/callback?state=unknown-state-value')).statusCode, 400)
  t.equal((await injectMcp(app, BAD_TOKEN, callTool(1, 'whoami'))).statusCode, 401)
  t.equal((await injectMcp(app, accessToken, callTool(2, 'revoke_my_sign_in'))).statusCode, 403, 'tools.write was not granted')
  for (let i = 0; i < 2; i++) await app.inject({ method: 'POST', url: '/revoke', remoteAddress: '198.51.100.20', payload: { token: 'x', client_id: client.client_id } })

  const after = await scrape()
  t.equal(sum(after, 'emg_sign_ins_total', { outcome: 'failure', reason: 'unknown_state' }), 1)
  t.ok(sum(after, 'emg_token_rejections_total') >= 1, 'the bad token')
  t.match(after, /^emg_token_rejections_total\{reason="[a-z_]+",host="[^"]+"\} 1$/m)
  t.equal(sum(after, 'emg_scope_denials_total', { target: 'tool:revoke_my_sign_in' }), 1)
  t.equal(sum(after, 'emg_rate_limit_exceeded_total', { family: 'revoke', key_kind: 'ip' }), 1)
  t.equal(sum(after, 'emg_audit_events_total', { event: 'login.succeeded' }), 1)
})

t.test('the request histogram has /mcp by method and status, from the pattern, never the raw URL', async t => {
  await app.inject({ url: '/mcp?secret=abc' })
  await app.inject({ url: '/no/such/path/0123456789' })
  const text = await scrape()
  t.ok(sum(text, 'emg_http_request_duration_seconds_count', { route: '/mcp', method: 'POST', status_code: '401' }) >= 1)
  t.ok(sum(text, 'emg_http_request_duration_seconds_count', { route: '/mcp', method: 'POST', status_code: '403' }) >= 1)
  t.ok(sum(text, 'emg_http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' }) >= 1)
  t.ok(sum(text, 'emg_http_request_duration_seconds_count', { route: '/auth/callback' }) >= 1)
  t.ok(sum(text, 'emg_http_request_duration_seconds_count', { route: '/token', status_code: '200' }) >= 1)
  t.notMatch(text, /secret=abc|no\/such\/path/)
})

t.test('Graph and Entra calls of the service are timed by upstream; the Entra JWKS fetch is counted', async t => {
  const before = await scrape()
  t.ok(sum(before, 'emg_jwks_refreshes_total', { outcome: 'ok' }) >= 1, 'the id token of the sign-in was checked with the tenant\'s keys')
  const graphCall = await injectMcp(app, accessToken, callTool(3, 'graph_me'))
  t.equal(graphCall.statusCode, 200)
  t.equal(graph.requests.length, 1, 'the service called Graph')
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: flow.tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refreshed.status, 200)
  const after = await scrape()
  t.equal(sum(after, 'emg_upstream_request_duration_seconds_count', { upstream: 'graph', status: '4xx' }) - sum(before, 'emg_upstream_request_duration_seconds_count', { upstream: 'graph' }), 1, 'the Graph call (the fake Graph knows no token: 401)')
  // The browser of the test reaches the Entra-like server too (same process, same channels); only
  // the service talks to Entra during a Graph call and a refresh: its two token requests (through
  // simple-oauth2, node:http, with a client secret).
  t.equal(sum(after, 'emg_upstream_request_duration_seconds_count', { upstream: 'entra', status: '2xx' }) - sum(before, 'emg_upstream_request_duration_seconds_count', { upstream: 'entra', status: '2xx' }), 2, 'a Graph token and a renewal from Entra')
  t.match(after, /^emg_upstream_request_duration_seconds_bucket\{le="0.01",host="[^"]+",upstream="entra",status="2xx"\} \d+$/m)
})

t.test('store commands against Redis are timed by command', async t => {
  const text = await scrape()
  for (const command of ['evalsha', 'set', 'get']) t.ok(sum(text, 'emg_store_command_duration_seconds_count', { command }) >= 1, command)
  t.equal(sum(text, 'emg_store_command_errors_total', { command: 'get' }), 0)
})

t.test('no label value holds a token, code, verifier or secret of the flow, nor who signed in', async t => {
  const text = await scrape()
  const secrets = {
    access_token: accessToken,
    refresh_token: flow.tokens.body.refresh_token,
    code: flow.code,
    verifier: flow.request.verifier,
    client_secret: SECRET,
    metrics_token: METRICS_TOKEN,
    bad_token: BAD_TOKEN,
    client_id: client.client_id,
    tenant: TENANT
  }
  for (const [name, value] of Object.entries(secrets)) {
    t.type(value, 'string', name)
    t.notOk(text.includes(value), `${name} is not in the exposition`)
  }
  const values = [...text.matchAll(/="([^"]*)"/g)].map(m => m[1])
  t.ok(values.length > 100)
  t.same(values.filter(v => v.length > 64), [], 'every label value is short')
})
