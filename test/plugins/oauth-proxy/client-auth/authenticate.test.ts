import t from 'tap'
import { createClientAuthentication, type ClientCredentials } from '../../../../plugins/oauth-proxy/client-auth/authenticate.ts'
import { clientSecretValid, hashSecret, type ClientRecord } from '../../../../plugins/oauth-proxy/clients/registry.ts'
import type { ClientAssertionCredentials } from '../../../../plugins/oauth-proxy/client-auth/private-key-jwt.ts'
import { setJson } from '../../../../plugins/store/contract.ts'
import { clientKey } from '../../../../plugins/store/keys.ts'
import { buildWithRegistry } from '../../../support/metadata-document-server.ts'
import { clientAssertion, jwksOf, rsaKey } from '../../../support/client-keys.ts'
import { parseClientJwks, type ClientJwks } from '../../../../plugins/oauth-proxy/client-auth/client-jwks.ts'

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const SECRET = 's3cret: with + and %'
const CHALLENGE = 'Basic realm="entra-mcp-gateway", charset="UTF-8"'
const key = rsaKey('rsa-1')

function client (id: string, method: ClientRecord['token_endpoint_auth_method'], extra: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id: id,
    token_endpoint_auth_method: method,
    redirect_uris: ['https://app.example.com/cb'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    client_id_issued_at: 1,
    source: 'registered',
    ...extra
  }
}

const CLIENTS: Record<string, ClientRecord> = {
  post: client('post', 'client_secret_post', { client_secret_hash: hashSecret(SECRET) }),
  basic: client('basic', 'client_secret_basic', { client_secret_hash: hashSecret(SECRET) }),
  public: client('public', 'none'),
  keyed: client('keyed', 'private_key_jwt', { jwks: parseClientJwks(jwksOf(key)) as ClientJwks })
}

/** The factory with a registry of CLIENTS and an assertion check that records what it was given. */
function setup () {
  const assertions: ClientAssertionCredentials[] = []
  const auth = createClientAuthentication({
    clients: {
      get: async (id: string) => CLIENTS[id] ?? null,
      authenticate: (c: ClientRecord, credentials: { clientSecret?: string }) => clientSecretValid(c, credentials.clientSecret)
    },
    privateKeyJwt: {
      async authenticate (credentials) {
        assertions.push(credentials)
        return CLIENTS.keyed
      }
    }
  })
  const authenticate = (body: ClientCredentials, authorization?: string) => auth.authenticate({ headers: { authorization } }, body)
  return { authenticate, assertions }
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

async function refusal (promise: Promise<unknown>) {
  try {
    await promise
  } catch (err) {
    const e = err as { statusCode: number, oauthError: string, message: string, headers?: Record<string, string> }
    return { status: e.statusCode, error: e.oauthError, message: e.message, challenge: e.headers?.['www-authenticate'] }
  }
  throw new Error('expected a refusal')
}

t.test('client_secret_basic, client_secret_post and none each authenticate their client', async t => {
  const { authenticate, assertions } = setup()
  t.equal((await authenticate({}, basic('basic', SECRET))).client_id, 'basic', 'Basic (form-urlencoded parts)')
  t.equal((await authenticate({ client_id: 'basic' }, basic('basic', SECRET))).client_id, 'basic', 'Basic with the same client_id in the body')
  t.equal((await authenticate({ client_id: 'post', client_secret: SECRET })).client_id, 'post', 'secret in the body')
  t.equal((await authenticate({ client_id: 'public' })).client_id, 'public', 'a public client needs no secret')
  t.same(assertions, [], 'no assertion check for secrets')
})

t.test('a client assertion goes to private_key_jwt, with the body as sent', async t => {
  const { authenticate, assertions } = setup()
  const body = { client_id: 'keyed', client_assertion_type: JWT_BEARER, client_assertion: 'a.b.c' }
  t.equal((await authenticate(body)).client_id, 'keyed')
  t.same(assertions, [body])
  await authenticate({ client_assertion_type: JWT_BEARER })
  t.same(assertions[1], { client_assertion_type: JWT_BEARER }, 'either assertion parameter alone means private_key_jwt')
})

t.test('two methods at once are refused with 400 invalid_request', async t => {
  const { authenticate, assertions } = setup()
  t.match(await refusal(authenticate({ client_secret: SECRET }, basic('basic', SECRET))),
    { status: 400, error: 'invalid_request', message: 'Use one client authentication method: Basic or client_secret in the body, not both' })
  t.match(await refusal(authenticate({ client_assertion: 'a.b.c', client_assertion_type: JWT_BEARER }, basic('keyed', SECRET))),
    { status: 400, error: 'invalid_request', message: 'Use one client authentication method: a client assertion or a client secret, not both' })
  t.match(await refusal(authenticate({ client_id: 'keyed', client_secret: SECRET, client_assertion: 'a.b.c' })),
    { status: 400, error: 'invalid_request', message: 'Use one client authentication method: a client assertion or a client secret, not both' })
  t.same(assertions, [], 'the assertion was never checked')
})

t.test('a malformed Basic header is 401 invalid_client with a Basic challenge', async t => {
  const { authenticate } = setup()
  for (const header of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from(':secret').toString('base64')}`]) {
    t.same(await refusal(authenticate({}, header)),
      { status: 401, error: 'invalid_client', message: 'The Basic Authorization header is malformed', challenge: CHALLENGE }, header)
  }
  t.equal((await authenticate({ client_id: 'public' }, 'Bearer x')).client_id, 'public', 'another scheme is not Basic')
})

t.test('an unknown or missing client is 401 invalid_client; the challenge only after Basic', async t => {
  const { authenticate } = setup()
  t.same(await refusal(authenticate({ client_id: 'nobody', client_secret: SECRET })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: unknown client', challenge: undefined })
  t.same(await refusal(authenticate({}, basic('nobody', SECRET))),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: unknown client', challenge: CHALLENGE })
  t.same(await refusal(authenticate({})),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: no client_id', challenge: undefined })
  t.same(await refusal(authenticate({ client_id: '' })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: no client_id', challenge: undefined })
})

t.test('a wrong or missing secret is 401 invalid_client', async t => {
  const { authenticate } = setup()
  t.same(await refusal(authenticate({}, basic('basic', 'wrong'))),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed', challenge: CHALLENGE })
  t.same(await refusal(authenticate({ client_id: 'post', client_secret: 'wrong' })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed', challenge: undefined })
  t.same(await refusal(authenticate({ client_id: 'post' })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed', challenge: undefined })
})

t.test('a private_key_jwt client presenting a secret is told to use its assertion', async t => {
  const { authenticate } = setup()
  const message = `Client authentication failed: this client authenticates with private_key_jwt (client_assertion_type ${JWT_BEARER} and client_assertion)`
  t.same(await refusal(authenticate({ client_id: 'keyed', client_secret: SECRET })), { status: 401, error: 'invalid_client', message, challenge: undefined })
  t.same(await refusal(authenticate({}, basic('keyed', SECRET))), { status: 401, error: 'invalid_client', message, challenge: CHALLENGE })
  t.same(await refusal(authenticate({ client_id: 'keyed' })), { status: 401, error: 'invalid_client', message, challenge: undefined })
})

t.test('a client_id that differs from the Basic credentials is 400 invalid_request', async t => {
  const { authenticate } = setup()
  t.same(await refusal(authenticate({ client_id: 'post' }, basic('basic', SECRET))),
    { status: 400, error: 'invalid_request', message: 'client_id in the body differs from the Basic credentials', challenge: undefined })
})

t.test('fastify.clientAuth checks real assertions through private-key-jwt', async t => {
  const { inner } = await buildWithRegistry(t)
  const keyed = CLIENTS.keyed
  await setJson(inner.store, clientKey(keyed.client_id), keyed)
  const audience = `${inner.config.baseUrl}/token`
  const request = { headers: {} }
  const assertion = () => clientAssertion({ clientId: keyed.client_id, audience, key })

  const body = { client_assertion_type: JWT_BEARER, client_assertion: assertion() }
  t.equal((await inner.clientAuth.authenticate(request, body)).client_id, keyed.client_id, 'the client the assertion names')
  t.match(await refusal(inner.clientAuth.authenticate(request, body)),
    { status: 401, error: 'invalid_client', message: /already used/ }, 'an assertion is accepted once')
  t.same(await refusal(inner.clientAuth.authenticate(request, { client_id: 'someone-else', client_assertion_type: JWT_BEARER, client_assertion: assertion() })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: client_id is not the client the assertion names', challenge: undefined })
  t.same(await refusal(inner.clientAuth.authenticate(request, { client_assertion: assertion() })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: client_assertion_type is required with client_assertion', challenge: undefined })
  t.match(await refusal(inner.clientAuth.authenticate(request, { client_assertion_type: JWT_BEARER, client_assertion: clientAssertion({ clientId: 'post', audience, key }) })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: unknown client' })
  const { client: pub } = await inner.clients.register({ token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code'], response_types: ['code'] })
  t.same(await refusal(inner.clientAuth.authenticate(request, { client_assertion_type: JWT_BEARER, client_assertion: clientAssertion({ clientId: pub.client_id, audience, key }) })),
    { status: 401, error: 'invalid_client', message: 'Client authentication failed: this client authenticates with none, not a client assertion', challenge: undefined })
  t.equal((await inner.clientAuth.authenticate({ headers: { authorization: basic(pub.client_id, '') } }, {})).client_id, pub.client_id, 'Basic for a public client')
})
