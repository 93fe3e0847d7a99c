import t from 'tap'
import { buildWithRoutes } from '../support/jwks-server.ts'

// The app with its decorators visible at the root (bearerChallenge, tokenSigner).
const build = (t: Parameters<typeof buildWithRoutes>[0], env: Record<string, string> = {}) => buildWithRoutes(t, env, () => {})

t.test('protected resource metadata (RFC 9728) at both paths', async t => {
  const app = await build(t, { MCP_BASE_URL: 'https://mcp.example.com', MCP_SCOPES: 'tools.read tools.write' })
  const expected = {
    resource: 'https://mcp.example.com/mcp',
    authorization_servers: ['https://mcp.example.com'],
    scopes_supported: ['tools.read', 'tools.write'],
    bearer_methods_supported: ['header'],
    resource_name: 'Entra MCP Gateway'
  }
  for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    const res = await app.inject({ url, headers: { origin: 'https://inspector.example.com' } })
    t.equal(res.statusCode, 200, url)
    t.same(res.json(), expected)
    t.match(res.headers['content-type'], /application\/json/)
    t.equal(res.headers['access-control-allow-origin'], 'https://inspector.example.com', 'browser clients may read it')
    t.match(res.headers['cache-control'], /public/)
  }
})

t.test('the resource metadata URL in the 401 challenge is served', async t => {
  const app = await build(t, { MCP_BASE_URL: 'https://mcp.example.com' })
  const challenge = app.bearerChallenge()
  const url = /resource_metadata="([^"]+)"/.exec(challenge)?.[1]
  t.equal(url, 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp')
  t.equal((await app.inject(new URL(url as string).pathname)).statusCode, 200)
})

t.test('GET /.well-known/jwks.json publishes the public signing keys', async t => {
  const app = await build(t)
  const res = await app.inject('/.well-known/jwks.json')
  t.equal(res.statusCode, 200)
  const { keys } = res.json()
  t.equal(keys.length, 1)
  t.match(keys[0], { kty: 'RSA', alg: 'RS256', use: 'sig', kid: String, n: String, e: 'AQAB' })
  t.notOk('d' in keys[0], 'no private part')
  t.same(res.json(), app.tokenSigner.jwks())
  t.match(res.headers['cache-control'], /max-age=300/)
})
