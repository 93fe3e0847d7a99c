// ChatGPT's way in: a client ID metadata document declaring private_key_jwt with a jwks_uri, and an
// RFC 7523 client assertion at /token and /revoke. The document and the JWKS are served over https
// by a local server (test CA), reached through the client registry's resolver seam.
import t from 'tap'
import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import { buildListening, REDIS_URL, redisEnv, requireRedis } from '../../helper.ts'
import { Browserless } from '../../support/browserless.ts'
import { json, startMetadataServer, type MetadataServer } from '../../support/metadata-document-server.ts'
import { CHATGPT_REDIRECT_URI, clientAssertion, ecKey, jwksOf, rsaKey, type TestKey } from '../../support/client-keys.ts'
import { authorizeRequest, claimsOf, mcpStatus, registerClient, revokeRequest, signIn, tokenRequest } from '../../support/oauth-flow.ts'
import { isPublicAddress } from '../../../plugins/shared/safe-fetch.ts'

const ENV = { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** The shape of https://chatgpt.com/oauth/client.json. */
function chatgptDocument (clientId: string, jwksUri: string) {
  return {
    client_id: clientId,
    client_name: 'ChatGPT',
    client_uri: 'https://chatgpt.com',
    redirect_uris: [CHATGPT_REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks_uri: jwksUri
  }
}

interface Setup {
  baseUrl: string
  server: MetadataServer
  clientId: string
  keys: { rsa: TestKey, ps: TestKey, ec: TestKey }
  logs: string[]
  /** The address policy the registry applies from now on (default: allow the local server). */
  setPolicy: (policy: (address: string) => boolean) => void
  /** An assertion for `clientId` (default the ChatGPT client), aud = the token endpoint unless given. */
  assertion: (key: TestKey, extra?: Partial<Parameters<typeof clientAssertion>[0]>) => string
  code: () => Promise<{ code: string, verifier: string }>
  jwksFetches: () => number
}

async function setup (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<Setup> {
  const server = await startMetadataServer(t)
  const keys = { rsa: rsaKey('rsa-1'), ps: rsaKey('ps-1', 'PS256'), ec: ecKey('ec-1') }
  const clientId = server.url('/oauth/client.json')
  server.route('/oauth/client.json', json(chatgptDocument(clientId, server.url('/oauth/jwks.json')), { 'cache-control': 'max-age=600' }))
  server.route('/oauth/jwks.json', json(jwksOf(keys.rsa, keys.ps, keys.ec), { 'cache-control': 'public, max-age=7200' }))
  let policy = (_address: string) => true
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { ...ENV, ...env }, {
    logs,
    app: { clientRegistry: { resolve: async () => [{ address: '127.0.0.1', family: 4 }], isAllowedAddress: (a) => policy(a), ca: server.ca } }
  })
  const client = { client_id: clientId, redirect_uris: [CHATGPT_REDIRECT_URI] }
  return {
    baseUrl,
    server,
    clientId,
    keys,
    logs,
    setPolicy: (p) => { policy = p },
    assertion: (key, extra = {}) => clientAssertion({ clientId, audience: `${baseUrl}/token`, key, ...extra }),
    async code () {
      const request = await authorizeRequest(baseUrl, client)
      const params = await signIn(new Browserless(), request.url, { stopAt: u => u.startsWith(CHATGPT_REDIRECT_URI) })
      const code = params.get('code')
      if (code === null) throw new Error(`no code: ${params.toString()}`)
      return { code, verifier: request.verifier }
    },
    jwksFetches: () => server.requests.filter(p => p === '/oauth/jwks.json').length
  }
}

const redeem = (s: Setup, code: { code: string, verifier: string }, auth: Record<string, string | undefined>) =>
  tokenRequest(s.baseUrl, { grant_type: 'authorization_code', code: code.code, redirect_uri: CHATGPT_REDIRECT_URI, code_verifier: code.verifier, ...auth })

t.test('ChatGPT: sign-in, code redeemed with an RS256 assertion (no client_id), refresh with PS256, revoke with ES256', async t => {
  const s = await setup(t)
  const code = await s.code()
  const assertion = s.assertion(s.keys.rsa)
  const tokens = await redeem(s, code, { client_assertion_type: JWT_BEARER, client_assertion: assertion })
  t.equal(tokens.status, 200, tokens.status === 200 ? 'tokens issued' : JSON.stringify(tokens.body))
  t.match(tokens.body, { token_type: 'Bearer', refresh_token: /^[\w-]{43}$/ })
  t.equal(claimsOf(tokens.body.access_token).client_id, s.clientId)
  t.equal(await mcpStatus(s.baseUrl, tokens.body.access_token), 200, 'the access token is accepted at /mcp')

  const refreshed = await tokenRequest(s.baseUrl, {
    grant_type: 'refresh_token',
    refresh_token: tokens.body.refresh_token,
    client_id: s.clientId,
    client_assertion_type: JWT_BEARER,
    client_assertion: s.assertion(s.keys.ps, { audience: s.baseUrl })
  })
  t.equal(refreshed.status, 200, 'client_id and the assertion agree; the issuer is an accepted audience')
  t.equal(await mcpStatus(s.baseUrl, refreshed.body.access_token), 200)

  const revoked = await revokeRequest(s.baseUrl, { token: refreshed.body.refresh_token, client_assertion_type: JWT_BEARER, client_assertion: s.assertion(s.keys.ec) })
  t.equal(revoked.status, 200)
  t.equal(await mcpStatus(s.baseUrl, refreshed.body.access_token), 401, 'revoking the refresh token ended the grant')
  const unauthenticated = await revokeRequest(s.baseUrl, { token: 'x', client_id: s.clientId })
  t.match(unauthenticated, { status: 401, body: { error: 'invalid_client' } }, '/revoke without an assertion')

  t.equal(s.jwksFetches(), 1, 'the key set was fetched once and cached')
  t.notMatch(s.logs.join('\n'), assertion.split('.')[2], 'no assertion in any log line')
})

t.test('bad client authentication is 401 invalid_client and leaves the code usable', async t => {
  const s = await setup(t)
  const other = rsaKey('rsa-other')
  const code = await s.code()
  const now = Math.floor(Date.now() / 1000)
  const publicPem = s.keys.rsa.publicKey.export({ type: 'spki', format: 'pem' })
  const otherClient = s.server.url('/other/client.json')
  s.server.route('/other/client.json', json({ ...chatgptDocument(otherClient, s.server.url('/other/jwks.json')), client_name: 'Other' }))
  s.server.route('/other/jwks.json', json(jwksOf(other)))
  const bearer = (assertion: string) => ({ client_assertion_type: JWT_BEARER, client_assertion: assertion })
  const cases: Array<[string, Record<string, string | undefined>]> = [
    ['no assertion', { client_id: s.clientId }],
    ['a client secret instead', { client_id: s.clientId, client_secret: 'guess' }],
    ['no client_assertion_type', { client_assertion: s.assertion(s.keys.rsa) }],
    ['another client_assertion_type', { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: s.assertion(s.keys.rsa) }],
    ['client_assertion_type alone', { client_id: s.clientId, client_assertion_type: JWT_BEARER }],
    ['not a JWT', bearer('abc')],
    ['alg none', bearer(s.assertion(s.keys.rsa, { header: { alg: 'none' } }))],
    ['HS256 keyed with the public key', bearer(s.assertion(s.keys.rsa, { header: { alg: 'HS256' }, hmacSecret: publicPem }))],
    ['wrong iss', bearer(s.assertion(s.keys.rsa, { claims: { iss: 'https://evil.example/client.json' } }))],
    ['wrong sub (client_id sent)', { client_id: s.clientId, ...bearer(s.assertion(s.keys.rsa, { claims: { sub: 'https://evil.example/client.json' } })) }],
    ['wrong aud', bearer(s.assertion(s.keys.rsa, { audience: `${s.baseUrl}/authorize` }))],
    ['expired', bearer(s.assertion(s.keys.rsa, { claims: { iat: now - 600, exp: now - 120 } }))],
    ['exp too far ahead', bearer(s.assertion(s.keys.rsa, { claims: { exp: now + 3600 } }))],
    ['no jti', bearer(s.assertion(s.keys.rsa, { claims: { jti: undefined } }))],
    ['a key not in the JWKS, under a known kid', bearer(s.assertion({ ...other, kid: 'rsa-1' }))],
    ['an unknown kid', bearer(s.assertion(other))],
    ['client_id of another client', { client_id: otherClient, ...bearer(s.assertion(s.keys.rsa)) }],
    ['another client\'s assertion with this client_id', { client_id: s.clientId, ...bearer(clientAssertion({ clientId: otherClient, audience: `${s.baseUrl}/token`, key: other })) }],
    ['this client named, another client\'s key', bearer(clientAssertion({ clientId: s.clientId, audience: `${s.baseUrl}/token`, key: other }))]
  ]
  for (const [name, auth] of cases) {
    const answer = await redeem(s, code, auth)
    t.equal(answer.status, 401, `${name}: ${JSON.stringify(answer.body)}`)
    t.equal(answer.body.error, 'invalid_client', name)
  }

  const both = await redeem(s, code, { client_secret: 'x', ...bearer(s.assertion(s.keys.rsa)) })
  t.match(both, { status: 400, body: { error: 'invalid_request' } }, 'a secret and an assertion together: two methods')

  const foreign = await redeem(s, code, bearer(clientAssertion({ clientId: otherClient, audience: `${s.baseUrl}/token`, key: other })))
  t.match(foreign, { status: 400, body: { error: 'invalid_grant' } }, 'the other client authenticates, but the code is not its own')

  const assertion = s.assertion(s.keys.rsa)
  const ok = await redeem(s, code, bearer(assertion))
  t.equal(ok.status, 200, 'the code was not spent by the failures')
  const replay = await tokenRequest(s.baseUrl, { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token, ...bearer(assertion) })
  t.match(replay, { status: 401, body: { error: 'invalid_client', error_description: /already used/ } }, 'a replayed jti')
  const logs = s.logs.join('\n')
  t.match(logs, /client assertion refused/)
  t.notMatch(logs, assertion.split('.')[2], 'no assertion in any log line')
})

t.test('a public client sending an assertion, and a registered client\'s id in one, are invalid_client', async t => {
  const s = await setup(t)
  const registered = await registerClient(s.baseUrl)
  const assertion = clientAssertion({ clientId: registered.client_id, audience: `${s.baseUrl}/token`, key: s.keys.rsa })
  const answer = await tokenRequest(s.baseUrl, { grant_type: 'authorization_code', code: 'x'.repeat(43), code_verifier: 'v'.repeat(43), client_id: registered.client_id, client_assertion_type: JWT_BEARER, client_assertion: assertion })
  t.match(answer, { status: 401, body: { error: 'invalid_client', error_description: /authenticates with none/ } })
  const revoked = await revokeRequest(s.baseUrl, { token: 'x', client_assertion_type: JWT_BEARER, client_assertion: assertion })
  t.match(revoked, { status: 401, body: { error: 'invalid_client' } })
})

t.test('a jwks_uri on 127.0.0.1 is refused by the SSRF policy: invalid_client, nothing fetched', async t => {
  const s = await setup(t)
  const clientId = s.server.url('/private/client.json')
  s.server.route('/private/client.json', json(chatgptDocument(clientId, `https://127.0.0.1:${s.server.port}/oauth/jwks.json`)))
  // The document is read while the test policy allows the local server (the consent page shows)...
  const authorize = await fetch((await authorizeRequest(s.baseUrl, { client_id: clientId, redirect_uris: [CHATGPT_REDIRECT_URI] })).url)
  await authorize.arrayBuffer()
  t.equal(authorize.status, 200, 'the document itself is accepted')
  // ...then the production address policy decides about the key set.
  s.setPolicy(isPublicAddress)
  const answer = await tokenRequest(s.baseUrl, {
    grant_type: 'authorization_code',
    code: 'x'.repeat(43),
    code_verifier: 'v'.repeat(43),
    client_assertion_type: JWT_BEARER,
    client_assertion: clientAssertion({ clientId, audience: `${s.baseUrl}/token`, key: s.keys.rsa })
  })
  t.match(answer, { status: 401, body: { error: 'invalid_client', error_description: /jwks_uri was refused: .*not public/ } })
  t.equal(s.jwksFetches(), 0, 'the key set was never requested')
})

t.test('key rotation: an unknown kid refetches the key set at most once per 30 s; cache and jti records expire (Redis)', async t => {
  await requireRedis()
  const env = redisEnv()
  const s = await setup(t, env)
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  const digest = (value: string) => createHash('sha256').update(value).digest('hex')
  const jwksUri = s.server.url('/oauth/jwks.json')

  const code = await s.code()
  const first = s.assertion(s.keys.rsa)
  const tokens = await redeem(s, code, { client_assertion_type: JWT_BEARER, client_assertion: first })
  t.equal(tokens.status, 200)
  t.equal(s.jwksFetches(), 1)
  const cacheTtl = await redis.ttl(`${env.REDIS_KEY_PREFIX}client-jwks:${digest(jwksUri)}`)
  t.ok(cacheTtl > 3590 && cacheTtl <= 3600, `key set cached for ${cacheTtl} s (max-age=7200 clamped to an hour)`)
  const jti = claimsOf(first).jti as string
  const jtiTtl = await redis.ttl(`${env.REDIS_KEY_PREFIX}client-jti:${digest(`${s.clientId} ${jti}`)}`)
  t.ok(jtiTtl > 300 && jtiTtl <= 360, `the jti is remembered until the assertion expires (${jtiTtl} s)`)

  const rotated = rsaKey('rsa-2')
  s.server.route('/oauth/jwks.json', json(jwksOf(rotated, s.keys.ec)))
  const refresh = await tokenRequest(s.baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_assertion_type: JWT_BEARER, client_assertion: s.assertion(rotated) })
  t.equal(refresh.status, 200, 'the new kid was fetched')
  t.equal(s.jwksFetches(), 2)
  const gate = await redis.ttl(`${env.REDIS_KEY_PREFIX}client-jwks-refetch:${digest(jwksUri)}`)
  t.ok(gate > 0 && gate <= 30, `the next refetch waits ${gate} s`)

  for (const key of [rsaKey('ghost'), s.keys.rsa]) {
    const answer = await tokenRequest(s.baseUrl, { grant_type: 'refresh_token', refresh_token: refresh.body.refresh_token, client_assertion_type: JWT_BEARER, client_assertion: s.assertion(key) })
    t.match(answer, { status: 401, body: { error: 'invalid_client', error_description: /no key with this kid/ } }, `kid ${key.kid} unknown`)
  }
  t.equal(s.jwksFetches(), 2, 'no further fetch within 30 s; the removed key is gone with the refetched set')
})
