import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { redisEnv, requireRedis, freePort, REDIS_URL } from '../helper.ts'
import { buildWithRoutes, auditLines } from '../support/rate-limit.ts'
import { AUDIT_EVENTS } from '../../plugins/audit-log/events.ts'

const AZURE = {
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  AZURE_CLIENT_ID: '0b8f3a4e-1111-2222-3333-444455556666',
  AZURE_CLIENT_SECRET: 'azure-client-secret-value-never-logged',
  MCP_BASE_URL: 'https://mcp.example.com',
  TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64')
}

t.test('config.loaded is audited once at startup with the public configuration and no secret', async t => {
  const logs: string[] = []
  await buildWithRoutes(t, { ...AZURE, LOG_LEVEL: 'warn', RATE_LIMIT_MCP: '100/60' }, logs)
  const lines = auditLines(logs, 'config.loaded')
  t.equal(lines.length, 1, 'once')
  const line = lines[0]
  t.equal(line.level, 'info', 'written at info even when LOG_LEVEL is warn')
  t.equal(line.outcome, 'success')
  t.equal(line.config.issuer, 'https://mcp.example.com')
  t.equal(line.config.resource, 'https://mcp.example.com/mcp')
  t.equal(line.config.entra.client_id, AZURE.AZURE_CLIENT_ID)
  t.equal(line.config.entra.client_credential, 'secret')
  t.equal(line.config.store, 'memory')
  t.same(line.rate_limit, {
    enabled: true,
    fail_open: true,
    rules: { RATE_LIMIT_REGISTER: '20/3600', RATE_LIMIT_AUTHORIZE: '60/60', RATE_LIMIT_TOKEN: '60/60', RATE_LIMIT_REVOKE: '60/60', RATE_LIMIT_MCP: '100/60', RATE_LIMIT_MCP_PER_IP: '3000/60', RATE_LIMIT_TOKEN_PER_IP: '300/60', RATE_LIMIT_METRICS: '60/60', RATE_LIMIT_ADMIN: '600/60' }
  })
  t.equal(line.audit_stream, null)
  t.equal(line.metrics, false, 'METRICS_TOKEN unset')
  const all = logs.join('\n')
  t.notMatch(all, AZURE.AZURE_CLIENT_SECRET)
  t.notMatch(all, AZURE.TOKEN_ENCRYPTION_KEY)
})

t.test('fastify.audit writes one JSON line with the event, request context, fields and outcome', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, { LOG_LEVEL: 'error' }, logs, scope => {
    scope.post('/t/audit', async (request) => {
      scope.audit('client.registered', { client_id: 'c1', client_name: 'Test client' }, request)
      scope.audit('token.rejected', { outcome: 'failure', reason: 'expired' }, request)
      return { ok: true }
    })
  })
  await app.inject({ method: 'POST', url: '/t/audit', remoteAddress: '198.51.100.4', headers: { 'x-request-id': 'trace-42' } })
  const [registered, rejected] = auditLines(logs).filter(l => l.event !== 'config.loaded')
  t.match(registered, { audit: true, level: 'info', event: 'client.registered', msg: 'client.registered', request_id: 'trace-42', ip: '198.51.100.4', client_id: 'c1', client_name: 'Test client', outcome: 'success' })
  t.type(registered.time, 'number')
  t.match(rejected, { event: 'token.rejected', outcome: 'failure', reason: 'expired', request_id: 'trace-42' })
})

t.test('fastify.audit adds the verified caller (oid, tid, client id) from request.identity', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, {}, logs, scope => {
    scope.post('/t/audit-identity', async (request) => {
      (request as any).identity = { kind: 'self', sub: 's', oid: 'oid-1', tid: 'tid-1', clientId: 'client-9', scopes: [], roles: [], expiresAt: 0 }
      scope.audit('tool.called', { tool: 'whoami', duration_ms: 1.5 }, request)
      return { ok: true }
    })
  })
  await app.inject({ method: 'POST', url: '/t/audit-identity' })
  t.match(auditLines(logs, 'tool.called')[0], { oid: 'oid-1', tid: 'tid-1', client_id: 'client-9', tool: 'whoami', outcome: 'success' })
})

t.test('secret-named fields passed by mistake are masked', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, {}, logs, scope => {
    scope.post('/t/audit-secret', async (request) => {
      scope.audit('token.issued', { client_id: 'c1', access_token: 'eyJsecret.value.sig', refresh_token: 'rt-secret-value', code_verifier: 'verifier-secret-value', extra: { client_secret: 'cs-secret-value' } }, request)
      return { ok: true }
    })
  })
  await app.inject({ method: 'POST', url: '/t/audit-secret' })
  const line = auditLines(logs, 'token.issued')[0]
  t.equal(line.access_token, '[Redacted]')
  t.equal(line.refresh_token, '[Redacted]')
  t.equal(line.code_verifier, '[Redacted]')
  t.equal(line.extra.client_secret, '[Redacted]')
  t.notMatch(logs.join('\n'), /secret-value|eyJsecret/)
})

t.test('the catalogue names are stable', async t => {
  t.same([...AUDIT_EVENTS], [
    'client.registered', 'authorize.started', 'consent.granted', 'consent.denied',
    'consent.refused',
    'login.succeeded', 'login.failed', 'token.issued', 'token.refreshed', 'token.refresh_reused',
    'token.revoked', 'token.rejected', 'scope.denied', 'tool.called', 'rate_limit.exceeded',
    'rate_limit.unavailable', 'config.loaded', 'store.full', 'upstream.error', 'store.reset',
    'upstream.claims_challenge',
    'device.requested', 'device.approved', 'device.denied', 'device.expired',
    'admin.signed_in', 'admin.refused', 'admin.signed_out',
    'admin.grant_revoked', 'admin.user_revoked', 'admin.client_deleted', 'admin.consent_deleted'
  ])
})

t.test('AUDIT_REDIS_STREAM: events are appended to the stream, bounded by MAXLEN ~ N', async t => {
  await requireRedis()
  const stream = `test:audit:${randomUUID()}`
  const client = new Redis(REDIS_URL)
  t.teardown(async () => { await client.del(stream); client.disconnect() })
  const app = await buildWithRoutes(t, redisEnv({ AUDIT_REDIS_STREAM: stream, AUDIT_STREAM_MAXLEN: '100', RATE_LIMIT_REGISTER: '1/60' }), undefined, scope => {
    scope.post('/t/audit-many', async (request) => {
      for (let i = 0; i < 1000; i++) scope.audit('tool.called', { tool: 'bulk', n: i }, request)
      return { ok: true }
    })
  })

  // The app's client pipelines commands (sent on the next tick); PING answers after its XADD.
  await app.inner.redis?.ping()
  const [first] = await client.xrange(stream, '-', '+', 'COUNT', 1)
  const fields = Object.fromEntries([first[1].slice(0, 2), first[1].slice(2, 4)])
  t.equal(fields.event, 'config.loaded', 'config.loaded is in the stream')
  const loaded = JSON.parse(fields.line)
  t.equal(loaded.event, 'config.loaded')
  t.type(loaded.time, 'string')
  t.same(loaded.audit_stream, { name: stream, max_len: 100 })
  t.equal(loaded.config.store, 'redis')

  await app.inject({ method: 'POST', url: '/t/register', remoteAddress: '198.51.100.8' })
  await app.inject({ method: 'POST', url: '/t/register', remoteAddress: '198.51.100.8' })
  const res = await app.inject({ method: 'POST', url: '/t/audit-many' })
  t.equal(res.statusCode, 200)
  // XADD is fire and forget; PING on the same connection answers after the queued XADDs.
  await app.inner.redis?.ping()

  const exceeded = (await client.xrange(stream, '-', '+')).map(([, f]) => JSON.parse(f[3])).filter(l => l.event === 'rate_limit.exceeded')
  const length = await client.xlen(stream)
  t.ok(length >= 100 && length <= 200, `stream trimmed to about 100 entries (has ${length}) after 1003 events`)
  const [, last] = (await client.xrevrange(stream, '+', '-', 'COUNT', 1))[0]
  t.equal(last[1], 'tool.called')
  t.match(JSON.parse(last[3]), { event: 'tool.called', tool: 'bulk', n: 999, outcome: 'success' })
  t.equal(exceeded.length, 0, 'older entries (the 429 audit) were trimmed away')
})

t.test('an unreachable audit stream never fails a request and is reported once', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, AUDIT_REDIS_STREAM: 'audit', LOG_LEVEL: 'warn' }, logs, scope => {
    scope.post('/t/audit-down', async (request) => {
      scope.audit('client.registered', { client_id: 'c1' }, request)
      return { ok: true }
    })
  })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'POST', url: '/t/audit-down' })).statusCode, 200)
  await new Promise(resolve => setImmediate(resolve))
  t.equal(auditLines(logs, 'client.registered').length, 3, 'still in the log')
  const warnings = logs.map(l => JSON.parse(l)).filter(l => /audit stream unavailable/.test(l.msg))
  t.equal(warnings.length, 1, 'one warning')
  t.equal(warnings[0].stream, 'audit')
})

t.test('docs/rate-limit-and-audit.md has an example line, valid JSON, for every catalogue event', async t => {
  const doc = readFileSync(new URL('../../docs/rate-limit-and-audit.md', import.meta.url), 'utf8')
  const examples = [...doc.matchAll(/```json\n(.+)\n```/g)].map(m => JSON.parse(m[1]))
  for (const event of AUDIT_EVENTS) {
    const example = examples.find(e => e.event === event)
    t.ok(example, `${event} has an example`)
    t.equal(example?.audit, true)
    t.type(example?.outcome, 'string')
  }
})

t.test('fastify.onAudit hands every written line to its listeners until they unsubscribe; a failing listener fails nothing', async t => {
  const logs: string[] = []
  let service: FastifyInstance | undefined
  const app = await buildWithRoutes(t, { LOG_LEVEL: 'error' }, logs, scope => {
    service = scope
    scope.post('/t/audit-listen', async (request) => {
      scope.audit('token.rejected', { outcome: 'failure', reason: 'expired', client_secret: 'never-seen' }, request)
      return { ok: true }
    })
  })
  const seen: Array<{ line: Readonly<Record<string, unknown>>, at: number }> = []
  const stop = service!.onAudit((line, at) => { seen.push({ line, at }) })
  service!.onAudit(() => { throw new Error('listener bug') })
  const before = Date.now()
  const first = await app.inject({ method: 'POST', url: '/t/audit-listen' })
  t.equal(first.statusCode, 200, 'the audited request still succeeds')
  t.equal(seen.length, 1)
  t.match(seen[0].line, { event: 'token.rejected', outcome: 'failure', reason: 'expired', client_secret: '[Redacted]' })
  t.ok(seen[0].at >= before && seen[0].at <= Date.now(), 'with the time it was written')
  t.ok(logs.some(l => l.includes('audit listener failed')), 'the failing listener is logged')
  stop()
  await app.inject({ method: 'POST', url: '/t/audit-listen' })
  t.equal(seen.length, 1, 'no line after unsubscribing')
})
