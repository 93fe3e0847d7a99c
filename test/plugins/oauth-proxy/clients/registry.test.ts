import t from 'tap'
import { Redis } from 'ioredis'
import { validateClientMetadata, metadataDocumentUrlProblem } from '../../../../plugins/oauth-proxy/clients/metadata.ts'
import { cacheSeconds } from '../../../../plugins/shared/safe-fetch.ts'
import { hashSecret, secretMatches, CIMD_CACHE, type ClientRecord } from '../../../../plugins/oauth-proxy/clients/registry.ts'
import { REDIS_URL, redisEnv, requireRedis } from '../../../helper.ts'
import { buildWithRegistry } from '../../../support/metadata-document-server.ts'

const rules = { scopes: ['tools.read', 'tools.write', 'graph.read'], allowedRedirectUris: [] }

t.test('validateClientMetadata applies the RFC 7591 defaults', async t => {
  const result = validateClientMetadata({ redirect_uris: ['https://app.example.com/cb'] }, rules)
  t.same(result, {
    ok: true,
    metadata: {
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: ['https://app.example.com/cb'],
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code']
    }
  })
})

t.test('validateClientMetadata keeps the metadata an MCP client sends', async t => {
  const result = validateClientMetadata({
    redirect_uris: ['http://localhost:6274/oauth/callback', 'http://localhost:6274/oauth/callback'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    client_name: '  MCP Inspector ',
    client_uri: 'https://github.com/modelcontextprotocol/inspector',
    logo_uri: 'https://example.com/logo.png',
    scope: 'tools.read tools.read graph.read',
    software_id: 'ignored',
    jwks_uri: 'https://ignored.example/jwks'
  }, rules)
  t.same(result, {
    ok: true,
    metadata: {
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://localhost:6274/oauth/callback'],
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: 'tools.read graph.read',
      client_name: 'MCP Inspector',
      client_uri: 'https://github.com/modelcontextprotocol/inspector',
      logo_uri: 'https://example.com/logo.png'
    }
  })
})

t.test('validateClientMetadata drops grant and response types this server does not offer, and keeps the device grant', async t => {
  const result = validateClientMetadata({ redirect_uris: ['https://app.example.com/cb'], grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code', 'client_credentials'], response_types: ['code', 'id_token'] }, rules)
  t.match(result, { ok: true })
  if (result.ok) {
    t.same(result.metadata.grant_types, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'])
    t.same(result.metadata.response_types, ['code'])
  }
})

t.test('validateClientMetadata refuses bad metadata with the RFC 7591 error code', async t => {
  const good = { redirect_uris: ['https://app.example.com/cb'] }
  const cases: Array<[unknown, string, RegExp]> = [
    [null, 'invalid_client_metadata', /JSON object/],
    [[good], 'invalid_client_metadata', /JSON object/],
    [{}, 'invalid_redirect_uri', /required/],
    [{ redirect_uris: [] }, 'invalid_redirect_uri', /at least one/],
    [{ redirect_uris: 'https://app.example.com/cb' }, 'invalid_redirect_uri', /array/],
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', /scheme/],
    [{ redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri', /loopback/],
    [{ redirect_uris: Array.from({ length: 21 }, (_, i) => `https://app.example.com/${i}`) }, 'invalid_redirect_uri', /at most 20/],
    [{ ...good, token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata', /token_endpoint_auth_method/],
    [{ ...good, token_endpoint_auth_method: 7 }, 'invalid_client_metadata', /string/],
    [{ ...good, grant_types: ['client_credentials'] }, 'invalid_client_metadata', /must include "authorization_code" or "urn:ietf:params:oauth:grant-type:device_code"/],
    [{ grant_types: ['refresh_token'] }, 'invalid_redirect_uri', /required/],
    [{ ...good, grant_types: ['refresh_token'] }, 'invalid_client_metadata', /authorization_code/],
    [{ ...good, grant_types: 'authorization_code' }, 'invalid_client_metadata', /array/],
    [{ ...good, response_types: ['token'] }, 'invalid_client_metadata', /response_types/],
    [{ ...good, scope: 'tools.read admin' }, 'invalid_client_metadata', /admin/],
    [{ ...good, scope: ['tools.read'] }, 'invalid_client_metadata', /string/],
    [{ ...good, client_name: 'x'.repeat(201) }, 'invalid_client_metadata', /at most 200/],
    [{ ...good, client_name: 'evil\u0000name' }, 'invalid_client_metadata', /control/],
    [{ ...good, client_name: '   ' }, 'invalid_client_metadata', /non-empty/],
    [{ ...good, client_uri: 'javascript:alert(1)' }, 'invalid_client_metadata', /http\(s\)/],
    [{ ...good, logo_uri: 'not a url' }, 'invalid_client_metadata', /absolute/],
    [{ ...good, application_type: 'browser' }, 'invalid_client_metadata', /application_type must be one of: native, web/],
    [{ ...good, application_type: 'Native' }, 'invalid_client_metadata', /application_type/],
    [{ ...good, application_type: ['native'] }, 'invalid_client_metadata', /application_type/]
  ]
  for (const [input, error, description] of cases) {
    const result = validateClientMetadata(input, rules)
    t.equal(result.ok, false, JSON.stringify(input).slice(0, 80))
    if (!result.ok) {
      t.equal(result.error, error)
      t.match(result.description, description)
    }
  }
})

t.test('validateClientMetadata: a device-only client (RFC 8628) needs no redirect URI and has no response type', async t => {
  const device = 'urn:ietf:params:oauth:grant-type:device_code'
  for (const input of [{ grant_types: ['refresh_token', device] }, { grant_types: [device], redirect_uris: [], response_types: [] }]) {
    t.match(validateClientMetadata({ ...input, token_endpoint_auth_method: 'none' }, rules), {
      ok: true, metadata: { redirect_uris: [], response_types: [], grant_types: input.grant_types }
    }, JSON.stringify(input))
  }
  t.match(validateClientMetadata({ grant_types: [device, 'client_credentials'] }, rules), { ok: true, metadata: { grant_types: [device], response_types: [] } }, 'grants not offered are dropped as for any client')
  const refused: Array<[unknown, string, RegExp]> = [
    [{ grant_types: [device], response_types: ['code'] }, 'invalid_client_metadata', /response_types "code" belongs to the authorization_code grant/],
    [{ grant_types: [device], redirect_uris: ['https://app.example.com/cb'] }, 'invalid_client_metadata', /redirect_uris are used only by the authorization_code grant/],
    [{ grant_types: [device], redirect_uris: 'https://app.example.com/cb' }, 'invalid_redirect_uri', /array/],
    [{ grant_types: ['refresh_token'] }, 'invalid_redirect_uri', /required/],
    [{ grant_types: ['refresh_token'], redirect_uris: ['https://app.example.com/cb'] }, 'invalid_client_metadata', /must include "authorization_code" or/],
    [{ grant_types: [device, 'authorization_code'] }, 'invalid_redirect_uri', /required/]
  ]
  for (const [input, error, description] of refused) {
    t.match(validateClientMetadata(input, rules), { ok: false, error, description }, JSON.stringify(input))
  }
  const doc = { ...rules, metadataDocument: true }
  t.match(validateClientMetadata({ client_id: 'https://cli.example.com/client.json', grant_types: [device, 'refresh_token'] }, doc), { ok: true, metadata: { redirect_uris: [], response_types: [], token_endpoint_auth_method: 'none' } }, 'a client ID metadata document may be device-only too')
})

t.test('validateClientMetadata for metadata documents: public clients only, unknown scopes dropped', async t => {
  const doc = { ...rules, metadataDocument: true }
  const base = { client_id: 'https://app.example.com/client.json', redirect_uris: ['https://app.example.com/cb'] }
  const ok = validateClientMetadata({ ...base, scope: 'tools.read other' }, doc)
  t.ok(ok.ok)
  if (ok.ok) {
    t.equal(ok.metadata.token_endpoint_auth_method, 'none', 'defaults to none')
    t.equal(ok.metadata.scope, 'tools.read')
  }
  for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
    const refused = validateClientMetadata({ ...base, token_endpoint_auth_method: method }, doc)
    t.equal(refused.ok, false, `${method} refused`)
  }
  t.equal(validateClientMetadata({ ...base, client_secret: 'shh' }, doc).ok, false, 'a document must not carry a secret')
})

t.test('validateClientMetadata: application_type native or web (SEP-837), web when a registration leaves it out, never a redirect rule', async t => {
  const loopback = { redirect_uris: ['http://127.0.0.1:33418/callback'], token_endpoint_auth_method: 'none' }
  t.match(validateClientMetadata(loopback, rules), { ok: true, metadata: { application_type: 'web' } }, 'OIDC default; loopback URIs still accepted')
  t.match(validateClientMetadata({ ...loopback, application_type: 'native' }, rules), { ok: true, metadata: { application_type: 'native' } })
  t.match(validateClientMetadata({ ...loopback, application_type: 'web' }, rules), { ok: true, metadata: { application_type: 'web' } }, 'web + loopback is not refused')
  t.match(validateClientMetadata({ redirect_uris: ['https://app.example.com/cb'], application_type: 'native' }, rules), { ok: true, metadata: { application_type: 'native' } }, 'native + https is not refused')
  const doc = { ...rules, metadataDocument: true }
  const base = { client_id: 'https://app.example.com/client.json', redirect_uris: ['http://127.0.0.1/cb'] }
  const without = validateClientMetadata(base, doc)
  t.ok(without.ok && !('application_type' in without.metadata), 'a document without it keeps its absence')
  t.match(validateClientMetadata({ ...base, application_type: 'native' }, doc), { ok: true, metadata: { application_type: 'native' } })
  t.match(validateClientMetadata({ ...base, application_type: 'desktop' }, doc), { ok: false, error: 'invalid_client_metadata', description: /application_type/ })
})

t.test('ALLOWED_REDIRECT_URIS narrows registration', async t => {
  const narrowed = { ...rules, allowedRedirectUris: ['https://claude.ai/api/mcp/auth_callback'] }
  t.ok(validateClientMetadata({ redirect_uris: ['https://claude.ai/api/mcp/auth_callback'] }, narrowed).ok)
  const refused = validateClientMetadata({ redirect_uris: ['https://app.example.com/cb'] }, narrowed)
  t.same(refused.ok ? null : refused.error, 'invalid_redirect_uri')
})

t.test('metadataDocumentUrlProblem follows the draft URL rules', async t => {
  t.equal(metadataDocumentUrlProblem('https://app.example.com/oauth/client.json'), null)
  t.equal(metadataDocumentUrlProblem('https://app.example.com:8443/client'), null, 'ports are allowed')
  t.equal(metadataDocumentUrlProblem('https://app.example.com/client?v=1'), null, 'a query is allowed')
  const refused: Array<[string, RegExp]> = [
    ['http://app.example.com/client.json', /https/],
    ['https://app.example.com', /path/],
    ['https://app.example.com/', /path/],
    ['https://app.example.com?x=/a', /path/],
    ['https://app.example.com/client.json#x', /fragment/],
    ['https://user@app.example.com/client.json', /user information/],
    ['https://app.example.com/a/../client.json', /dot segments/],
    ['https://app.example.com/./client.json', /dot segments/],
    ['https://app.example.com/a/%2E%2e/client.json', /dot segments/],
    ['https://app.example.com/ client.json', /not a valid URL/]
  ]
  for (const [url, reason] of refused) t.match(metadataDocumentUrlProblem(url), reason, url)
})

t.test('cacheSeconds honours max-age within bounds', async t => {
  const bounds = CIMD_CACHE
  t.equal(cacheSeconds('max-age=3600', bounds), 3600)
  t.equal(cacheSeconds('public, max-age=120', bounds), 120)
  t.equal(cacheSeconds('max-age=5', bounds), 60, 'floor')
  t.equal(cacheSeconds('max-age=31536000, immutable', bounds), 86400, 'ceiling')
  t.equal(cacheSeconds('no-store', bounds), 60)
  t.equal(cacheSeconds('no-cache, max-age=3600', bounds), 60)
  t.equal(cacheSeconds(undefined, bounds), 300)
  t.equal(cacheSeconds('public', bounds), 300)
  t.equal(cacheSeconds(['public', 'max-age=600'], bounds), 600)
})

t.test('client secrets are compared by hash, in constant time', async t => {
  const hash = hashSecret('s3cret')
  t.notMatch(hash, /s3cret/)
  t.ok(secretMatches('s3cret', hash))
  t.notOk(secretMatches('s3cret ', hash))
  t.notOk(secretMatches('', hash))
  t.notOk(secretMatches('s3cret', 'garbage'))
})

t.test('fastify.clients registers, finds and authenticates clients', async t => {
  const { inner } = await buildWithRegistry(t)
  const metadata = { token_endpoint_auth_method: 'client_secret_post' as const, redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }
  const { client, clientSecret } = await inner.clients.register(metadata)
  t.type(clientSecret, 'string')
  t.ok((clientSecret as string).length >= 40, 'a long random secret')
  t.equal(client.source, 'registered')
  t.equal(client.client_secret_expires_at, 0)
  const stored = await inner.clients.get(client.client_id) as ClientRecord
  t.same(stored, client)
  t.notMatch(JSON.stringify(stored), clientSecret as string, 'the plain secret is not stored')
  t.equal(await inner.store.get(`client:${client.client_id}`), JSON.stringify(client), 'kept at client:{id}')

  t.ok(inner.clients.authenticate(stored, { clientSecret }))
  t.notOk(inner.clients.authenticate(stored, { clientSecret: 'wrong' }))
  t.notOk(inner.clients.authenticate(stored, {}))
  t.notOk(inner.clients.authenticate({ ...stored, client_secret_expires_at: 1 }, { clientSecret }), 'an expired secret fails')

  const pub = await inner.clients.register({ ...metadata, token_endpoint_auth_method: 'none' })
  t.equal(pub.clientSecret, undefined)
  t.equal(pub.client.client_secret_hash, undefined)
  t.ok(inner.clients.authenticate(pub.client, {}), 'public clients need no secret')

  t.equal(await inner.clients.get('no-such-client'), null)
  t.match(await inner.clients.lookup('no-such-client'), { client: null, reason: /no client is registered/ })
  t.match(await inner.clients.lookup(''), { client: null, reason: /missing/ })
  t.match(await inner.clients.lookup('x'.repeat(3000)), { client: null, reason: /too long/ })
  t.match(await inner.clients.lookup('http://app.example.com/client.json'), { client: null, reason: /https/ })
})

t.test('CLIENT_REGISTRATION_TTL bounds the registration and its secret', async t => {
  const { inner } = await buildWithRegistry(t, { CLIENT_REGISTRATION_TTL: '3600' })
  const { client } = await inner.clients.register({ token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code'], response_types: ['code'] })
  t.equal(client.client_secret_expires_at, client.client_id_issued_at + 3600)
})

t.test('registered clients live in Redis: another instance sees them, with no expiry unless configured', async t => {
  await requireRedis()
  const env = redisEnv()
  const one = await buildWithRegistry(t, env)
  const two = await buildWithRegistry(t, env)
  const { client } = await one.inner.clients.register({ token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'], response_types: ['code'] })
  t.same(await two.inner.clients.get(client.client_id), client)
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  t.equal(await redis.ttl(`${env.REDIS_KEY_PREFIX}client:${client.client_id}`), -1, 'no expiry')

  const ttlEnv = redisEnv({ CLIENT_REGISTRATION_TTL: '600' })
  const three = await buildWithRegistry(t, ttlEnv)
  const expiring = await three.inner.clients.register({ token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'], response_types: ['code'] })
  const ttl = await redis.ttl(`${ttlEnv.REDIS_KEY_PREFIX}client:${expiring.client.client_id}`)
  t.ok(ttl > 590 && ttl <= 600, `expires with CLIENT_REGISTRATION_TTL (${ttl})`)
})
