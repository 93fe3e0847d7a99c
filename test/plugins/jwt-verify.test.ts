// Self-issued tokens through fastify.authenticate: acceptance, exact 401/403 answers,
// revocation (memory and Redis store, one getMany), key rotation, store down.
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { createTokenSigner } from '../../plugins/jwt-verify/signing-keys.ts'
import { parseSigningKeys } from '../../config/keys.ts'
import { buildWithRoutes, makeRsaKey, probeRoutes, signJwt } from '../support/jwks-server.ts'
import { freePort, redisEnv, requireRedis } from '../helper.ts'

const BASE = 'http://127.0.0.1:8124'
const pem = (key: ReturnType<typeof makeRsaKey>) => key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const KEY_1 = makeRsaKey()
const KEY_2 = makeRsaKey()
const SIGNING_ENV = { TOKEN_SIGNING_KEY: pem(KEY_1) + pem(KEY_2), MCP_BASE_URL: BASE }
const [K1, K2] = parseSigningKeys(SIGNING_ENV.TOKEN_SIGNING_KEY)
const CHALLENGE = `Bearer resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp", scope="tools.read tools.write graph.read"`

const claims = (extra: Partial<{ scope: string, sid: string }> = {}) => ({ sub: 'user-1', oid: 'oid-1', tid: 'tid-1', name: 'Ada', client_id: 'client-1', scope: 'tools.read', sid: 'grant-1', ...extra })

async function selfApp (t: Test, env: Record<string, string> = {}, logs?: string[]): Promise<FastifyInstance> {
  return buildWithRoutes(t, { ...SIGNING_ENV, ...env }, probeRoutes, logs)
}

const bearer = (app: FastifyInstance, token: string, url = '/probe') => app.inject({ url, headers: { authorization: `Bearer ${token}` } })

t.test('a token this service issued is accepted; request.identity and tokenReport are set', async t => {
  const app = await selfApp(t)
  const { accessToken, jti } = app.tokenSigner.issueAccessToken(claims())
  const res = await bearer(app, accessToken)
  t.equal(res.statusCode, 200)
  const { identity, report } = res.json()
  t.same(identity, { kind: 'self', sub: 'user-1', oid: 'oid-1', tid: 'tid-1', name: 'Ada', scopes: ['tools.read'], roles: [], clientId: 'client-1', grantId: 'grant-1', expiresAt: identity.expiresAt })
  t.match(report, { kind: 'self', issuer: BASE, audience: `${BASE}/mcp`, kid: K1.kid, alg: 'RS256' })
  t.ok(report.checks.includes('not revoked'))
  t.notMatch(res.body, accessToken.split('.')[2], 'no raw token')
  t.notMatch(res.body, jti, 'no jti either')
})

t.test('no token: 401 with the exact challenge and a JSON body', async t => {
  const app = await selfApp(t)
  const res = await app.inject('/probe')
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], CHALLENGE)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(res.json(), { error: 'invalid_token', error_description: 'This resource needs a bearer token in the Authorization header' })
})

t.test('insufficient scope: 403 with scope = granted + needed, audited as scope.denied', async t => {
  const logs: string[] = []
  const app = await selfApp(t, {}, logs)
  const { accessToken } = app.tokenSigner.issueAccessToken(claims({ scope: 'tools.read graph.read' }))
  const res = await bearer(app, accessToken, '/probe/write')
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], `Bearer resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp", scope="tools.read graph.read tools.write", error="insufficient_scope", error_description="This needs the scope tools.write"`)
  t.same(res.json(), { error: 'insufficient_scope', error_description: 'This needs the scope tools.write' })
  const denied = logs.map(l => JSON.parse(l)).find(l => l.event === 'scope.denied')
  t.match(denied, { audit: true, outcome: 'denied', missing: ['tools.write'], oid: 'oid-1', client_id: 'client-1' }, 'audit line carries the caller')
})

t.test('forged or foreign self tokens: typ, audience, key, expiry', async t => {
  const logs: string[] = []
  const app = await selfApp(t, {}, logs)
  const now = Math.floor(Date.now() / 1000)
  const payload = { iss: BASE, aud: `${BASE}/mcp`, sub: 's', client_id: 'c', scope: 'tools.read', sid: 'g', jti: 'j', iat: now, nbf: now, exp: now + 600 }
  const cases: Array<[string, string, string]> = [
    ['typ JWT instead of at+jwt', signJwt({ alg: 'RS256', typ: 'JWT', kid: K1.kid }, payload, K1.privateKey), 'malformed'],
    ['audience of another resource', signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, { ...payload, aud: 'https://other.example.com/mcp' }, K1.privateKey), 'wrong_audience'],
    ['our kid, another key', signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, payload, makeRsaKey().privateKey), 'bad_signature'],
    ['unknown kid', signJwt({ alg: 'RS256', typ: 'at+jwt', kid: 'nope' }, payload, K1.privateKey), 'unknown_key'],
    ['no jti', signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, { ...payload, jti: undefined }, K1.privateKey), 'malformed'],
    ['expired beyond the tolerance', signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, { ...payload, exp: now - 61 }, K1.privateKey), 'expired']
  ]
  for (const [name, token, category] of cases) {
    const res = await bearer(app, token)
    t.equal(res.statusCode, 401, name)
    t.match(res.json().error_description, new RegExp(`^${category}: `), `${name}: ${category}`)
    t.match(String(res.headers['www-authenticate']), `error="invalid_token", error_description="${category}: `)
  }
  const within = signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, { ...payload, exp: now - 30 }, K1.privateKey)
  t.equal((await bearer(app, within)).statusCode, 200, 'expired within the clock tolerance (60 s) still passes')
  const rejected = logs.map(l => JSON.parse(l)).filter(l => l.event === 'token.rejected').map(l => l.reason)
  t.same(rejected, cases.map(c => c[2]), 'every rejection audited with its category')
  t.notOk(logs.some(l => cases.some(([, token]) => l.includes(token.split('.')[2]))), 'no token in any log line')
})

t.test('key rotation: the first key signs, a second configured key still verifies', async t => {
  const app = await selfApp(t)
  const issued = app.tokenSigner.issueAccessToken(claims())
  t.equal(JSON.parse(Buffer.from(issued.accessToken.split('.')[0], 'base64url').toString()).kid, K1.kid)
  const old = createTokenSigner([K2], { issuer: BASE, audience: `${BASE}/mcp`, ttlSeconds: 600, source: 'configured' })
  t.equal((await bearer(app, old.issueAccessToken(claims()).accessToken)).statusCode, 200, 'token of the older key accepted')
  const past = createTokenSigner([K1], { issuer: BASE, audience: `${BASE}/mcp`, ttlSeconds: 600, source: 'configured', now: () => Date.now() - 3600_000 })
  t.match((await bearer(app, past.issueAccessToken(claims()).accessToken)).json().error_description, /^expired: /)
})

async function revocationChecks (t: Test, app: FastifyInstance) {
  const calls: string[][] = []
  const original = app.store.getManyWithEpoch.bind(app.store)
  app.store.getManyWithEpoch = async (keys: string[]) => { calls.push(keys); return await original(keys) }

  const first = app.tokenSigner.issueAccessToken(claims({ sid: 'grant-a' }))
  const second = app.tokenSigner.issueAccessToken(claims({ sid: 'grant-a' }))
  const other = app.tokenSigner.issueAccessToken(claims({ sid: 'grant-b' }))
  t.equal((await bearer(app, first.accessToken)).statusCode, 200)
  t.same(calls, [[`revoked:jti:{grant-a}:${first.jti}`, 'revoked:grant:{grant-a}']], 'one read of both keys, in the grant\'s hash slot (with the store epoch)')

  const exp = Math.floor(Date.now() / 1000) + first.expiresIn
  await app.denyAccessToken({ jti: first.jti, exp, sid: 'grant-a' })
  const res = await bearer(app, first.accessToken)
  t.equal(res.statusCode, 401)
  t.match(res.json().error_description, /^revoked: /)
  t.equal((await bearer(app, second.accessToken)).statusCode, 200, 'another token of the grant still works')

  await app.denyGrant('grant-a')
  t.match((await bearer(app, second.accessToken)).json().error_description, /^revoked: /, 'grant revoked: all its tokens refused')
  t.equal((await bearer(app, other.accessToken)).statusCode, 200, 'tokens of other grants unaffected')
  t.equal(calls.length, 5, 'one store read per verification')
}

t.test('revocation with the memory store', async t => {
  await revocationChecks(t, await selfApp(t))
})

t.test('revocation with the Redis store (shared by instances)', async t => {
  await requireRedis()
  const env = redisEnv({ TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })
  const app = await selfApp(t, env)
  await revocationChecks(t, app)
  const peer = await selfApp(t, env)
  const token = app.tokenSigner.issueAccessToken(claims({ sid: 'grant-c' }))
  t.equal((await bearer(peer, token.accessToken)).statusCode, 200, 'another instance with the same key accepts it')
  await app.denyGrant('grant-c')
  t.match((await bearer(peer, token.accessToken)).json().error_description, /^revoked: /, 'and sees the revocation')
})

t.test('store unreachable: 503 temporarily_unavailable, never a 500 or an accepted revoked token; one warning line, not one per request', async t => {
  const logs: string[] = []
  const app = await selfApp(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }, logs)
  const { accessToken } = app.tokenSigner.issueAccessToken(claims())
  for (let i = 0; i < 50; i++) {
    const res = await bearer(app, accessToken)
    t.equal(res.statusCode, 503)
    t.equal(res.json().error, 'temporarily_unavailable')
  }
  const warnings = logs.map(l => JSON.parse(l)).filter(l => l.msg === 'token verification could not complete')
  t.equal(warnings.length, 1, 'one line for the interval')
  t.equal(warnings[0].occurrences, 1)
})

t.test('a self-issued token with a lifetime over 24 h is refused 401 malformed', async t => {
  const app = await selfApp(t)
  const signer = createTokenSigner([K1], { issuer: BASE, audience: `${BASE}/mcp`, ttlSeconds: 25 * 3600, source: 'configured' })
  const res = await bearer(app, signer.issueAccessToken(claims()).accessToken)
  t.equal(res.statusCode, 401)
  t.match(res.json().error_description, /^malformed: The token lifetime is longer than 24 hours/)
})

t.test('two Authorization headers on the wire: 400 invalid_request', async t => {
  const app = await selfApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const { accessToken } = app.tokenSigner.issueAccessToken(claims())
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /probe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${accessToken}\r\nAuthorization: Bearer ${accessToken}\r\nConnection: close\r\n\r\n`)
    })
    let data = ''
    socket.on('data', chunk => { data += chunk.toString() })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  t.match(raw, /^HTTP\/1\.1 400 /)
  t.match(raw, /"error":"invalid_request"/)
})
