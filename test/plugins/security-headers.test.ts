import t from 'tap'
import { build } from '../helper.ts'

const ORIGIN = 'https://inspector.example.com'
const CORS_PATHS = [
  '/.well-known/oauth-authorization-server',
  '/.well-known/oauth-protected-resource/mcp',
  '/register',
  '/token',
  '/revoke',
  '/mcp'
]
const NO_CORS_PATHS = ['/health', '/health/ready', '/auth/info', '/authorize', '/auth/callback', '/consent']

t.test('helmet headers are on every answer', async t => {
  const app = await build(t)
  for (const url of ['/health', '/auth/info', '/nowhere']) {
    const res = await app.inject(url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
    t.equal(res.headers['x-frame-options'], 'DENY', url)
    t.match(res.headers['content-security-policy'], /default-src 'none'/, url)
    t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/, url)
    t.equal(res.headers['referrer-policy'], 'no-referrer', url)
    t.equal(res.headers['x-powered-by'], undefined, url)
  }
})

t.test('HSTS only over https: not over plain http, nor from a forged X-Forwarded-Proto', async t => {
  const app = await build(t)
  t.equal((await app.inject('/health')).headers['strict-transport-security'], undefined)
  const forged = await app.inject({ url: '/health', headers: { 'x-forwarded-proto': 'https' } })
  t.equal(forged.headers['strict-transport-security'], undefined, 'proxy headers are not trusted without TRUST_PROXY')
})

t.test('HSTS behind a trusted TLS proxy (X-Forwarded-Proto: https with TRUST_PROXY)', async t => {
  const app = await build(t, { TRUST_PROXY: 'true' })
  const res = await app.inject({ url: '/health', headers: { 'x-forwarded-proto': 'https' } })
  t.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
  const plain = await app.inject({ url: '/health', headers: { 'x-forwarded-proto': 'http' } })
  t.equal(plain.headers['strict-transport-security'], undefined)
})

t.test('CORS on discovery, registration, token, revocation and /mcp, exposing the MCP headers', async t => {
  const app = await build(t)
  for (const url of CORS_PATHS) {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, mcp-protocol-version' }
    })
    t.equal(preflight.statusCode, 204, `${url} preflight`)
    t.equal(preflight.headers['access-control-allow-origin'], ORIGIN, `${url} preflight origin`)
    t.match(preflight.headers['access-control-allow-methods'], /POST/, url)
    for (const header of ['authorization', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'mcp-method', 'mcp-name', 'traceparent']) {
      t.match(preflight.headers['access-control-allow-headers'], header, `${url} allows ${header}`)
    }

    const actual = await app.inject({ method: url.startsWith('/.well-known') ? 'GET' : 'POST', url, headers: { origin: ORIGIN } })
    t.equal(actual.headers['access-control-allow-origin'], ORIGIN, `${url} answer origin`)
    const exposed = String(actual.headers['access-control-expose-headers']).toLowerCase().split(/\s*,\s*/)
    for (const header of ['www-authenticate', 'mcp-session-id', 'mcp-protocol-version']) {
      t.ok(exposed.includes(header), `${url} exposes ${header}`)
    }
  }
})

t.test('no CORS on other routes (health, authorize, callback, consent)', async t => {
  const app = await build(t)
  for (const url of NO_CORS_PATHS) {
    const res = await app.inject({ url, headers: { origin: ORIGIN } })
    t.equal(res.headers['access-control-allow-origin'], undefined, url)
    t.equal(res.headers['access-control-expose-headers'], undefined, url)
    const preflight = await app.inject({ method: 'OPTIONS', url, headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } })
    t.equal(preflight.headers['access-control-allow-origin'], undefined, `${url} preflight`)
  }
})

t.test('the helmet headers, computed once, are the full set helmet gives for these options', async t => {
  const app = await build(t)
  const res = await app.inject('/health')
  t.same({
    csp: res.headers['content-security-policy'],
    coop: res.headers['cross-origin-opener-policy'],
    corp: res.headers['cross-origin-resource-policy'],
    oac: res.headers['origin-agent-cluster'],
    dns: res.headers['x-dns-prefetch-control'],
    download: res.headers['x-download-options'],
    xpcdp: res.headers['x-permitted-cross-domain-policies'],
    xss: res.headers['x-xss-protection']
  }, {
    csp: "default-src 'none';frame-ancestors 'none';base-uri 'none'",
    coop: 'same-origin',
    corp: 'cross-origin',
    oac: '?1',
    dns: 'off',
    download: 'noopen',
    xpcdp: 'none',
    xss: '0'
  })
  t.equal(res.headers.vary, 'Origin', 'Vary: Origin as the CORS delegator always set')
})
