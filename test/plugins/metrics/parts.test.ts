// The metrics plugin's parts without Fastify: label bounds, the bearer check, upstream
// classification, the audit-line counters and the active-grants gauge.
import t from 'tap'
import { Registry } from 'prom-client'
import { boundedLabel } from '../../../plugins/metrics/labels.ts'
import { createBearerCheck } from '../../../plugins/metrics/access.ts'
import { observeUpstream, upstreamOf } from '../../../plugins/metrics/upstream.ts'
import http from 'node:http'
import { freePort } from '../../helper.ts'
import { createAuditCounter } from '../../../plugins/metrics/audit.ts'
import { createMetrics } from '../../../plugins/metrics/registry.ts'
import { registerActiveGrants } from '../../../plugins/metrics/grants.ts'

t.test('boundedLabel: plain values kept up to the bound, then other; odd or long values never become a label', async t => {
  const label = boundedLabel(2)
  t.equal(label('expired'), 'expired')
  t.equal(label('revoked'), 'revoked')
  t.equal(label('third'), 'other', 'past the bound')
  t.equal(label('expired'), 'expired', 'a known value stays')
  t.equal(label(undefined), 'none')
  const open = boundedLabel()
  t.equal(open('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.' + 'a'.repeat(60)), 'other', 'a JWT-long value')
  t.equal(open('has space'), 'other')
  t.equal(open('a"b'), 'other')
  t.equal(open(42), 'other')
})

t.test('createBearerCheck: only "Bearer <token>" with the exact token passes', async t => {
  const token = 'x'.repeat(32) + 'Yz'
  const check = createBearerCheck(token)
  t.equal(check(`Bearer ${token}`), true)
  t.equal(check(`bearer ${token}`), true, 'the scheme is case-insensitive (RFC 7235)')
  t.equal(check(`Bearer ${token}x`), false)
  t.equal(check(`Bearer ${token.slice(0, -1)}`), false)
  t.equal(check(`Basic ${token}`), false)
  t.equal(check(token), false)
  t.equal(check(undefined), false)
  t.equal(check(''), false)
  t.equal(check([`Bearer ${token}`, `Bearer ${token}`]), false, 'two headers are refused')
})

t.test('upstreamOf: Graph and Entra by the configured prefixes, Graph first; anything else is other', async t => {
  const prefixes = { entra: 'https://login.microsoftonline.com', graph: 'https://graph.microsoft.com/v1.0' }
  t.equal(upstreamOf('https://login.microsoftonline.com', '/tid/oauth2/v2.0/token', prefixes), 'entra')
  t.equal(upstreamOf('https://graph.microsoft.com', '/v1.0/me', prefixes), 'graph')
  t.equal(upstreamOf('https://graph.microsoft.com', '/beta/me', prefixes), 'other', 'not under the configured base URL')
  t.equal(upstreamOf('https://login.microsoftonline.com.evil.example', '/x', prefixes), 'other', 'a host that only starts like it')
  t.equal(upstreamOf('https://client.example', '/metadata.json', prefixes), 'other')
  // The development provider: Entra and its Graph stand-in under one origin.
  const dev = { entra: 'http://localhost:8000/dev-idp', graph: 'http://localhost:8000/dev-idp/graph/v1.0' }
  t.equal(upstreamOf('http://localhost:8000', '/dev-idp/graph/v1.0/me', dev), 'graph')
  t.equal(upstreamOf('http://localhost:8000', '/dev-idp/tenant/oauth2/v2.0/token', dev), 'entra')
  t.equal(upstreamOf('http://localhost:8000', '/dev-idpx/token', dev), 'other')
})

t.test('observeUpstream: a refused connection counts as an error of its upstream, from fetch and from node:http; none once unsubscribed', async t => {
  const metrics = createMetrics()
  // A loopback port nobody listens on: the connection is refused at once.
  const closed = `http://127.0.0.1:${await freePort()}`
  const unsubscribe = observeUpstream(metrics, { entra: `${closed}/authority`, graph: `${closed}/graph` })
  await t.rejects(fetch(`${closed}/authority/tenant/oauth2/v2.0/token`))
  await new Promise<void>(resolve => http.get(`${closed}/graph/me`).on('error', () => resolve()))
  unsubscribe()
  await t.rejects(fetch(`${closed}/authority/again`))
  const text = await metrics.registry.metrics()
  t.match(text, /^emg_upstream_request_errors_total\{upstream="entra",host="[^"]+"\} 1$/m)
  t.match(text, /^emg_upstream_request_errors_total\{upstream="graph",host="[^"]+"\} 1$/m)
})

t.test('createAuditCounter: sign-ins, token rejections, scope denials and rate-limit hits from audit lines; no identifier as a label', async t => {
  const metrics = createMetrics()
  const count = createAuditCounter(metrics)
  const who = { oid: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61', tid: '0d3e5f4a-1c2b-4d6e-8f70-9a1b2c3d4e5f', client_id: 'dfc4c719-1f44-4a13-ad1e-0d900ca5e8dc', ip: '203.0.113.10', request_id: 'req-1' }
  count({ event: 'login.succeeded', outcome: 'success', ...who })
  count({ event: 'login.succeeded', outcome: 'success', flow: 'device', ...who })
  count({ event: 'login.failed', outcome: 'failure', reason: 'unknown_state', ...who })
  count({ event: 'token.rejected', outcome: 'failure', reason: 'expired', ...who })
  count({ event: 'scope.denied', outcome: 'denied', tool: 'graph_me', missing: ['graph.read'], ...who })
  count({ event: 'scope.denied', outcome: 'denied', resource: 'ui://user/1234', ...who })
  count({ event: 'rate_limit.exceeded', outcome: 'denied', family: 'revoke', key_kind: 'ip', ...who })
  count({ event: 'tool.called', outcome: 'success', tool: 'whoami', ...who })
  const text = await metrics.registry.metrics()
  t.match(text, /emg_sign_ins_total\{outcome="success",reason="none",flow="browser",host="[^"]+"\} 1/)
  t.match(text, /emg_sign_ins_total\{outcome="success",reason="none",flow="device",host="[^"]+"\} 1/)
  t.match(text, /emg_sign_ins_total\{outcome="failure",reason="unknown_state",flow="browser",host="[^"]+"\} 1/)
  t.match(text, /emg_token_rejections_total\{reason="expired",host="[^"]+"\} 1/)
  t.match(text, /emg_scope_denials_total\{target="tool:graph_me",host="[^"]+"\} 1/)
  t.match(text, /emg_scope_denials_total\{target="resource",host="[^"]+"\} 1/, 'a resource URI is not a label')
  t.match(text, /emg_rate_limit_exceeded_total\{family="revoke",key_kind="ip",host="[^"]+"\} 1/)
  t.match(text, /emg_audit_events_total\{event="tool.called",outcome="success",host="[^"]+"\} 1/)
  for (const value of Object.values(who)) t.notOk(text.includes(value), `${value} is in no label`)
  t.notOk(text.includes('ui://'), 'nor the resource URI')
})

t.test('registerActiveGrants: the injected count at each scrape; without one the gauge is not reported', async t => {
  const absent = new Registry()
  t.equal(registerActiveGrants(absent, undefined), undefined)
  t.notMatch(await absent.metrics(), /active_grants/, 'no count function: not reported (rather than a false 0)')

  const registry = new Registry()
  let grants = 3
  registerActiveGrants(registry, async () => {
    if (grants < 0) throw new Error('store away')
    return grants
  })
  t.match(await registry.metrics(), /^emg_active_grants 3$/m)
  grants = 5
  t.match(await registry.metrics(), /^emg_active_grants 5$/m, 'read again at each scrape')
  grants = -1
  t.match(await registry.metrics(), /^emg_active_grants 5$/m, 'a failing count keeps the last value, the scrape still answers')
})
