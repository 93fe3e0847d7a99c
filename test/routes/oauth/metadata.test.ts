import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'

const BASE = 'https://mcp.example.com'

t.test('GET /.well-known/oauth-authorization-server describes this authorization server (RFC 8414)', async t => {
  const app = await build(t, { MCP_BASE_URL: BASE, MCP_SCOPES: 'tools.read tools.write' })
  const res = await app.inject('/.well-known/oauth-authorization-server')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /application\/json/)
  t.same(res.json(), {
    issuer: BASE,
    authorization_endpoint: `${BASE}/authorize`,
    token_endpoint: `${BASE}/token`,
    registration_endpoint: `${BASE}/register`,
    revocation_endpoint: `${BASE}/revoke`,
    device_authorization_endpoint: `${BASE}/device_authorization`,
    jwks_uri: `${BASE}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic', 'private_key_jwt'],
    revocation_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256', 'ES256'],
    scopes_supported: ['tools.read', 'tools.write'],
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true
  })
  t.match(res.headers['cache-control'], /max-age=\d+/)
  const cors = await app.inject({ url: '/.well-known/oauth-authorization-server', headers: { origin: 'https://inspector.example' } })
  t.equal(cors.headers['access-control-allow-origin'], 'https://inspector.example', 'browser-based clients may read it')
})

t.test('GET /.well-known/openid-configuration serves the same document', async t => {
  const app = await build(t, { MCP_BASE_URL: BASE })
  const oauth = await app.inject('/.well-known/oauth-authorization-server')
  const oidc = await app.inject('/.well-known/openid-configuration')
  t.equal(oidc.statusCode, 200)
  t.same(oidc.json(), oauth.json())
})

t.test('the issuer equals the base URL the metadata is served from', async t => {
  const app = await build(t, { MCP_BASE_URL: BASE })
  const doc = (await app.inject('/.well-known/oauth-authorization-server')).json()
  t.equal(`${doc.issuer}/.well-known/oauth-authorization-server`, `${BASE}/.well-known/oauth-authorization-server`)
  t.notOk(doc.issuer.endsWith('/'), 'no trailing slash')
})

t.test('client_id_metadata_document_supported is absent when metadata documents are disabled', async t => {
  const app = await build(t, { MCP_BASE_URL: BASE, CLIENT_ID_METADATA_DOCUMENTS: 'false' })
  const doc = (await app.inject('/.well-known/oauth-authorization-server')).json()
  t.notOk('client_id_metadata_document_supported' in doc)
})

t.test('behind a trusted proxy the URLs still come from MCP_BASE_URL, not from forwarded headers', async t => {
  const app = await build(t, { MCP_BASE_URL: BASE, TRUST_PROXY: 'true' })
  const res = await app.inject({
    url: '/.well-known/oauth-authorization-server',
    headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' }
  })
  t.equal(res.json().issuer, BASE)
  t.equal(res.json().token_endpoint, `${BASE}/token`)
  t.notMatch(res.body, /evil\.example/)
})

t.test('one issuer everywhere (SEP-2351, SEP-2352): both metadata documents name config.issuer, and the protected resource names it as its authorization server', async t => {
  let inner: FastifyInstance | undefined
  const app = await build(t, { MCP_BASE_URL: BASE }, { setup: i => { inner = i } })
  const { issuer } = (inner as FastifyInstance).config
  t.equal(issuer, BASE, 'an origin: MCP_BASE_URL has no path, so no path-inserted well-known URL is needed')
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    t.equal((await app.inject(path)).json().issuer, issuer, path)
  }
  for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    const prm = (await app.inject(path)).json()
    t.same(prm.authorization_servers, [issuer], `${path}: exactly this issuer`)
    t.equal(prm.resource, `${issuer}/mcp`, `${path}: the resource it protects`)
  }
})
