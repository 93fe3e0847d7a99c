import t from 'tap'
import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import type { ResolvedAddress } from '../../../../plugins/shared/safe-fetch.ts'
import { REDIS_URL, redisEnv, requireRedis } from '../../../helper.ts'
import { buildWithRegistry, json, startMetadataServer, type MetadataServer } from '../../../support/metadata-document-server.ts'

const to = (...addresses: string[]) => async (): Promise<ResolvedAddress[]> =>
  addresses.map(address => ({ address, family: address.includes(':') ? 6 : 4 }))

/** The registry reaches the local server by name: the resolver answers 127.0.0.1 and the test policy allows it. */
function reachable (server: MetadataServer, extra = {}) {
  return { resolve: to('127.0.0.1'), isAllowedAddress: () => true, ca: server.ca, ...extra }
}

function documentFor (url: string, extra: Record<string, unknown> = {}) {
  return {
    client_id: url,
    client_name: 'Example MCP Client',
    client_uri: 'https://client.example/',
    redirect_uris: ['http://127.0.0.1/callback', 'https://client.example/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra
  }
}

t.test('an https client_id is fetched, validated and cached as a metadata-document client', async t => {
  const server = await startMetadataServer(t)
  const url = server.url('/oauth/client.json')
  server.route('/oauth/client.json', json(documentFor(url), { 'cache-control': 'max-age=600' }))
  const { inner } = await buildWithRegistry(t, {}, reachable(server))

  const client = await inner.clients.get(url)
  t.match(client, {
    client_id: url,
    client_name: 'Example MCP Client',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback', 'https://client.example/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    source: 'metadata_document'
  })
  t.type(client?.client_id_issued_at, 'number')
  t.ok(inner.clients.authenticate(client!, {}), 'a public client')

  const again = await inner.clients.get(url)
  t.same(again, client)
  t.same(server.requests, ['/oauth/client.json'], 'the second lookup is served from the cache')
  const key = `cimd:${createHash('sha256').update(url).digest('hex')}`
  t.ok(await inner.store.get(key), 'cached at cimd:{sha256(url)}')

  // Concurrent lookups of one (uncached) document share one fetch.
  const other = server.url('/other.json')
  server.route('/other.json', json(documentFor(other)))
  const results = await Promise.all(Array.from({ length: 5 }, () => inner.clients.get(other)))
  t.ok(results.every(r => r?.client_id === other))
  t.equal(server.requests.filter(p => p === '/other.json').length, 1, 'five lookups, one fetch')
})

t.test('metadata document URLs resolving to private, loopback or link-local addresses are refused without a request', async t => {
  const server = await startMetadataServer(t)
  const url = server.url('/client.json')
  server.route('/client.json', json(documentFor(url)))
  // The production address policy, with a resolver that answers the address under test.
  let answer = ''
  const { inner } = await buildWithRegistry(t, {}, { resolve: async () => to(answer)(), ca: server.ca })
  for (const address of ['127.0.0.1', '169.254.169.254', '10.0.0.1', '192.168.0.10', '100.64.1.1', '::1', 'fd00::5', '::ffff:169.254.169.254']) {
    answer = address
    const result = await inner.clients.lookup(url)
    t.equal(result.client, null, `${address} refused`)
    t.match(result.reason, /not public/)
  }
  t.same(server.requests, [], 'nothing was fetched')
})

t.test('a real name that resolves to loopback is refused by the default resolver and policy', async t => {
  const { inner } = await buildWithRegistry(t)
  const result = await inner.clients.lookup('https://localhost/client.json')
  t.equal(result.client, null)
  t.match(result.reason, /not public/)
})

t.test('grant types this server does not offer are dropped, not refused (claude.ai lists jwt-bearer); VS Code\'s device_code is kept', async t => {
  const server = await startMetadataServer(t)
  const claude = server.url('/claude.json')
  const vscode = server.url('/vscode.json')
  server.route('/claude.json', json(documentFor(claude, { grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'] })))
  server.route('/vscode.json', json(documentFor(vscode, { grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code', 'token'] })))
  const { inner } = await buildWithRegistry(t, {}, reachable(server))
  const kept = { [claude]: ['authorization_code', 'refresh_token'], [vscode]: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'] }
  for (const url of [claude, vscode]) {
    const { client, reason } = await inner.clients.lookup(url)
    t.match(client, { client_id: url, response_types: ['code'] }, `${url}: accepted (${reason ?? ''})`)
    t.same(client?.grant_types, kept[url], `${url}: with the grant types this server offers`)
  }
  const without = server.url('/no-token-grant.json')
  server.route('/no-token-grant.json', json(documentFor(without, { grant_types: ['refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer'] })))
  t.match((await inner.clients.lookup(without)).reason, /must include "authorization_code" or/, 'a document with neither the code nor the device grant is refused')
})

t.test('a device-only document (RFC 8628) needs no redirect URI, and /authorize refuses it on a page; one that lists redirect URIs anyway is refused', async t => {
  const server = await startMetadataServer(t)
  const device = 'urn:ietf:params:oauth:grant-type:device_code'
  const headless = server.url('/headless.json')
  const { redirect_uris: _r, response_types: _t, ...noRedirect } = documentFor(headless, { grant_types: [device, 'refresh_token'] })
  server.route('/headless.json', json(noRedirect))
  const withRedirect = server.url('/device-with-redirect.json')
  server.route('/device-with-redirect.json', json(documentFor(withRedirect, { grant_types: [device], response_types: [] })))
  const { app, inner } = await buildWithRegistry(t, {}, reachable(server))
  t.match((await inner.clients.lookup(headless)).client, { client_id: headless, redirect_uris: [], response_types: [], grant_types: ['refresh_token', device] })
  t.match((await inner.clients.lookup(withRedirect)).reason, /redirect_uris are used only by the authorization_code grant/)
  const res = await app.inject({
    url: '/authorize',
    query: { response_type: 'code', client_id: headless, redirect_uri: 'https://evil.example.com/cb', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }
  })
  t.equal(res.statusCode, 400)
  t.equal(res.headers.location, undefined, 'never redirected')
  t.match(res.body, '<code id="error-code">unauthorized_client</code>')
})

t.test('a document\'s application_type (SEP-837) is read like a registration\'s: native or web kept, absent left absent, others refused', async t => {
  const server = await startMetadataServer(t)
  const urls = { native: server.url('/native.json'), none: server.url('/none.json'), bad: server.url('/bad.json') }
  server.route('/native.json', json(documentFor(urls.native, { application_type: 'native' })))
  server.route('/none.json', json(documentFor(urls.none)))
  server.route('/bad.json', json(documentFor(urls.bad, { application_type: 'desktop' })))
  const { inner } = await buildWithRegistry(t, {}, reachable(server))
  t.equal((await inner.clients.get(urls.native))?.application_type, 'native')
  const none = await inner.clients.get(urls.none)
  t.ok(none !== null && !('application_type' in none), 'no default invented for a document')
  t.match((await inner.clients.lookup(urls.bad)).reason, /invalid_client_metadata: application_type must be one of: native, web/)
})

t.test('documents that break the rules are refused with a reason', async t => {
  const server = await startMetadataServer(t)
  const big = 'x'.repeat(6000)
  const cases: Array<[string, (url: string) => Parameters<MetadataServer['route']>[1], RegExp]> = [
    ['/wrong-id.json', () => json(documentFor('https://someone-else.example/client.json')), /client_id is not the URL/],
    ['/redirect.json', () => (_req, res) => { res.writeHead(302, { location: '/elsewhere.json' }).end() }, /redirect/],
    ['/missing.json', () => (_req, res) => { res.writeHead(404).end() }, /HTTP 404/],
    ['/big.json', (url) => json(documentFor(url, { client_name: big })), /larger than 5120 bytes/],
    ['/html.json', (url) => (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end(JSON.stringify(documentFor(url))) }, /application\/json/],
    ['/broken.json', () => (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"client_id":') }, /not valid JSON/],
    ['/array.json', () => json([1, 2]), /not a JSON object/],
    ['/secret.json', (url) => json(documentFor(url, { token_endpoint_auth_method: 'client_secret_basic' })), /only "none"/],
    ['/pkjwt.json', (url) => json(documentFor(url, { token_endpoint_auth_method: 'private_key_jwt' })), /private_key_jwt needs .* jwks_uri or jwks/],
    ['/jwt.json', (url) => json(documentFor(url, { token_endpoint_auth_method: 'client_secret_jwt' })), /not supported/],
    ['/js.json', (url) => json(documentFor(url, { redirect_uris: ['javascript:alert(1)'] })), /invalid_redirect_uri/],
    ['/http.json', (url) => json(documentFor(url, { redirect_uris: ['http://client.example/cb'] })), /loopback/],
    ['/no-redirects.json', (url) => json(documentFor(url, { redirect_uris: undefined })), /redirect_uris is required/]
  ]
  for (const [path, handler] of cases) server.route(path, handler(server.url(path)))
  const { inner } = await buildWithRegistry(t, {}, reachable(server))
  for (const [path, , reason] of cases) {
    const result = await inner.clients.lookup(server.url(path))
    t.equal(result.client, null, `${path} refused`)
    t.match(result.reason, reason, `${path}: ${result.reason}`)
  }
  t.notOk(server.requests.includes('/elsewhere.json'), 'the redirect was not followed')

  // Malformed document URLs are refused without a request.
  const before = server.requests.length
  for (const url of [
    `https://client.cimd.test:${server.port}`, `https://client.cimd.test:${server.port}/`, `https://client.cimd.test:${server.port}/a/../wrong-id.json`,
    `https://client.cimd.test:${server.port}/wrong-id.json#frag`, `https://u:p@client.cimd.test:${server.port}/wrong-id.json`
  ]) {
    t.equal(await inner.clients.get(url), null, url)
  }
  t.match(await inner.clients.lookup('http://client.example/client.json'), { client: null, reason: /https/ })
  t.equal(server.requests.length, before, 'no request for a malformed URL')
})

t.test('a slow server is abandoned after the fetch timeout', async t => {
  const server = await startMetadataServer(t)
  server.route('/slow.json', (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{') })
  const { inner } = await buildWithRegistry(t, {}, reachable(server, { fetchTimeoutMs: 200 }))
  const started = Date.now()
  const result = await inner.clients.lookup(server.url('/slow.json'))
  t.equal(result.client, null)
  t.match(result.reason, /within 200 ms/)
  t.ok(Date.now() - started < 3000)
})

t.test('with CLIENT_ID_METADATA_DOCUMENTS=false no document is fetched', async t => {
  const server = await startMetadataServer(t)
  const url = server.url('/client.json')
  server.route('/client.json', json(documentFor(url)))
  const { inner } = await buildWithRegistry(t, { CLIENT_ID_METADATA_DOCUMENTS: 'false' }, reachable(server))
  t.match(await inner.clients.lookup(url), { client: null, reason: /disabled/ })
  t.same(server.requests, [])
})

t.test('the cache lifetime follows Cache-Control within bounds (Redis)', async t => {
  await requireRedis()
  const server = await startMetadataServer(t)
  const headersByPath: Record<string, Record<string, string>> = {
    '/max-age.json': { 'cache-control': 'public, max-age=1200' },
    '/no-store.json': { 'cache-control': 'no-store' },
    '/forever.json': { 'cache-control': 'max-age=31536000' },
    '/none.json': {}
  }
  for (const [path, headers] of Object.entries(headersByPath)) server.route(path, json(documentFor(server.url(path)), headers))
  const env = redisEnv()
  const { inner } = await buildWithRegistry(t, env, reachable(server))
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  const expected: Record<string, number> = { '/max-age.json': 1200, '/no-store.json': 60, '/forever.json': 86400, '/none.json': 300 }
  for (const [path, seconds] of Object.entries(expected)) {
    const url = server.url(path)
    t.ok(await inner.clients.get(url), `${path} accepted`)
    const ttl = await redis.ttl(`${env.REDIS_KEY_PREFIX}cimd:${createHash('sha256').update(url).digest('hex')}`)
    t.ok(ttl > seconds - 10 && ttl <= seconds, `${path} cached for ${ttl} s (expected ${seconds})`)
  }
})

t.test('through GET /authorize: a metadata-document client gets the consent page; one resolving to 169.254.169.254 an error page', async t => {
  const server = await startMetadataServer(t)
  const url = server.url('/client.json')
  server.route('/client.json', json(documentFor(url)))
  let answer = '127.0.0.1'
  const { app } = await buildWithRegistry(t, {}, { resolve: async () => to(answer)(), isAllowedAddress: (a) => a === '127.0.0.1', ca: server.ca })
  const authorize = (clientId: string) => app.inject({
    url: '/authorize',
    query: {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: 'http://127.0.0.1:49152/callback',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'xyz'
    }
  })
  const ok = await authorize(url)
  t.equal(ok.statusCode, 200, 'consent page')
  t.match(ok.body, /Example MCP Client/)

  answer = '169.254.169.254'
  const blockedUrl = server.url('/other-client.json')
  server.route('/other-client.json', json(documentFor(blockedUrl)))
  const blocked = await authorize(blockedUrl)
  t.ok(blocked.statusCode >= 400 && blocked.statusCode < 500, `refused on a page (${blocked.statusCode})`)
  t.notOk(blocked.headers.location, 'never redirected')
  t.notOk(server.requests.includes('/other-client.json'), 'the metadata address was never contacted')
})
