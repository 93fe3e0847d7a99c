import t from 'tap'
import { createServer } from 'node:http'
import { createMetadataProbe } from '../../../../plugins/oauth-proxy/upstream-entra/metadata.ts'
import { build, freePort } from '../../../helper.ts'

const METADATA = { authorization_endpoint: 'a', token_endpoint: 't', jwks_uri: 'k' }

t.test('the probe trusts a fresh success, then serves a stale one for an hour while the upstream is down', async t => {
  let clock = 1_000_000
  let calls = 0
  let up = true
  const probe = createMetadataProbe({
    now: () => clock,
    fetchMetadata: async () => {
      calls++
      if (!up) throw new Error('connect ECONNREFUSED')
      return METADATA
    }
  })
  t.same(await probe(), { ok: true, detail: 'reachable' })
  clock += 60_000
  t.same(await probe(), { ok: true, detail: 'reachable (cached)' })
  t.equal(calls, 1, 'no refetch while fresh')
  up = false
  clock += 5 * 60_000
  const stale = await probe()
  t.equal(stale.ok, true, 'a recent success still counts')
  t.match(stale.detail, /last fetch failed \(connect ECONNREFUSED\)/)
  clock += 60 * 60_000
  const down = await probe()
  t.equal(down.ok, false, 'too old to count')
  t.match(down.detail, /metadata not reachable/)
})

t.test('the probe refuses metadata without the endpoints sign-in needs', async t => {
  const probe = createMetadataProbe({ fetchMetadata: async () => ({ issuer: 'x' }) })
  t.same(await probe(), { ok: false, detail: 'metadata not reachable: metadata has no authorization_endpoint' })
})

const AZURE = {
  AZURE_TENANT_ID: '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b',
  AZURE_CLIENT_ID: '8b7a6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d',
  AZURE_CLIENT_SECRET: 'test-secret-value',
  MCP_BASE_URL: 'http://127.0.0.1:8000'
}

t.test('readiness names upstream_metadata: 200 when Entra metadata answers, 503 when nothing listens', async t => {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(req.url === `/${AZURE.AZURE_TENANT_ID}/v2.0/.well-known/openid-configuration` ? METADATA : {}))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const up = await build(t, { ...AZURE, AZURE_AUTHORITY_HOST: `http://127.0.0.1:${(server.address() as { port: number }).port}` })
  const ready = await up.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().checks.upstream_metadata, { ok: true, detail: 'reachable' })

  const down = await build(t, { ...AZURE, AZURE_AUTHORITY_HOST: `http://127.0.0.1:${await freePort()}` })
  const started = Date.now()
  const notReady = await down.inject('/health/ready')
  t.ok(Date.now() - started < 2000, 'answered within 2 s')
  t.equal(notReady.statusCode, 503)
  t.equal(notReady.json().checks.upstream_metadata.ok, false)
})

t.test('with the development identity provider the check reports the in-process provider', async t => {
  const app = await build(t)
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 200)
  t.same(res.json().checks.upstream_metadata, { ok: true, detail: 'in-process development provider' })
})
