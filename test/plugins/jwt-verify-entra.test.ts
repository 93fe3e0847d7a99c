// Entra-issued tokens against a real local JWKS server: the attack battery (status AND category),
// rotation, outage, multi-tenant allowlist, v1 tokens.
import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import {
  azureEnv, buildWithRoutes, CLIENT_ID, entraClaims, entraToken, makeRsaKey, OTHER_TENANT, probeRoutes,
  publicPemOf, signJwt, startJwksServer, TENANT, type JwksServer
} from '../support/jwks-server.ts'

const A = makeRsaKey('entra-key-a')
const B = makeRsaKey('entra-key-b')
const STRANGER = makeRsaKey('entra-key-a') // same kid as A, another key

type T = Test

function assertRejected (t: T, res: LightMyRequestResponse, category: string, logs?: string[]) {
  t.equal(res.statusCode, 401, `401 for ${category}`)
  const challenge = String(res.headers['www-authenticate'])
  t.match(challenge, /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:8123\/\.well-known\/oauth-protected-resource\/mcp", scope="tools\.read tools\.write graph\.read", error="invalid_token", error_description="/)
  t.match(challenge, `error_description="${category}: `, `category ${category} in the challenge`)
  const body = res.json()
  t.equal(body.error, 'invalid_token')
  t.ok(String(body.error_description).startsWith(`${category}: `), `category ${category} in the body (${body.error_description})`)
  t.notMatch(body.error_description, /FAST_JWT|at .*\.js|Error:/, 'no internals')
  if (logs !== undefined) {
    const audits = logs.map(l => JSON.parse(l)).filter(l => l.event === 'token.rejected')
    t.equal(audits.at(-1)?.reason, category, 'audited as token.rejected with the category')
  }
}

async function entraApp (t: T, jwks: JwksServer, extra: Record<string, string> = {}, logs?: string[]): Promise<FastifyInstance> {
  return buildWithRoutes(t, azureEnv(jwks, extra), probeRoutes, logs)
}

const call = (app: FastifyInstance, token: string, url = '/probe', scheme = 'Bearer') =>
  app.inject({ url, headers: { authorization: `${scheme} ${token}` } })

t.test('a valid Entra v2 token for this API is accepted; scp becomes the scopes', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  const token = entraToken(A, jwks.origin)
  const res = await call(app, token)
  t.equal(res.statusCode, 200)
  const { identity, report } = res.json()
  t.match(identity, { kind: 'entra', tid: TENANT, sub: 'subject-ada', scopes: ['tools.read', 'tools.write'], roles: [], clientId: 'd4e5f6a7-0000-4000-8000-00000000000d' })
  t.match(report, { kind: 'entra', version: '2.0', kid: 'entra-key-a', alg: 'RS256', audience: CLIENT_ID })
  t.notMatch(res.body, token.split('.')[2], 'nothing of the raw token')
  t.equal((await call(app, entraToken(A, jwks.origin, { aud: `api://${CLIENT_ID}` }))).statusCode, 200, 'identifier URI as audience')
  t.equal((await call(app, token, '/probe', 'bearer')).statusCode, 200, 'lowercase bearer accepted (RFC 7235)')
  t.same(jwks.requests, [`/${TENANT}/discovery/v2.0/keys`], 'keys fetched once from the tenant\'s discovery/v2.0/keys')
})

t.test('app-only tokens: roles become permissions', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  const token = entraToken(A, jwks.origin, { scp: undefined, roles: ['tools.read'], azp: undefined, appid: 'app-client' })
  const res = await call(app, token)
  t.equal(res.statusCode, 200)
  t.same(res.json().identity.roles, ['tools.read'])
  const write = await call(app, token, '/probe/write')
  t.equal(write.statusCode, 403)
  t.match(String(write.headers['www-authenticate']), /error="insufficient_scope"/)
})

t.test('attack battery: each forged or wrong token gets 401 and its category', async t => {
  const jwks = await startJwksServer(t, [A])
  const logs: string[] = []
  const app = await entraApp(t, jwks, {}, logs)
  t.equal((await call(app, entraToken(A, jwks.origin))).statusCode, 200, 'warm keys')
  const now = Math.floor(Date.now() / 1000)
  const claims = entraClaims(jwks.origin)
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

  const cases: Array<[string, string, string]> = [
    ['alg none', signJwt({ alg: 'none', typ: 'JWT', kid: A.kid }, claims, null), 'unsupported_alg'],
    ['HS256 signed with the RSA public key as secret', signJwt({ alg: 'HS256', kid: A.kid }, claims, publicPemOf(A.privateKey)), 'unsupported_alg'],
    ['RS384', signJwt({ alg: 'RS384', kid: A.kid }, claims, A.privateKey), 'unsupported_alg'],
    ['RS512', signJwt({ alg: 'RS512', kid: A.kid }, claims, A.privateKey), 'unsupported_alg'],
    ['ES256', signJwt({ alg: 'ES256', kid: A.kid }, claims, ec), 'unsupported_alg'],
    ['RS256 with an empty signature', signJwt({ alg: 'RS256', kid: A.kid }, claims, null), 'bad_signature'],
    ['kid absent', signJwt({ alg: 'RS256' }, claims, A.privateKey), 'unknown_key'],
    ['kid unknown', entraToken(A, jwks.origin, {}, { kid: 'no-such-key' }), 'unknown_key'],
    ['kid is a path', entraToken(A, jwks.origin, {}, { kid: '../../../etc/passwd' }), 'unknown_key'],
    ['kid is a URL', entraToken(A, jwks.origin, {}, { kid: 'https://evil.example.com/keys.json' }), 'unknown_key'],
    ['expired', entraToken(A, jwks.origin, { exp: now - 3600, iat: now - 7200, nbf: now - 7200 }), 'expired'],
    ['nbf in the future', entraToken(A, jwks.origin, { nbf: now + 3600 }), 'not_yet_valid'],
    ['iat in the future', entraToken(A, jwks.origin, { iat: now + 3600 }), 'not_yet_valid'],
    ['missing exp', entraToken(A, jwks.origin, { exp: undefined }), 'malformed'],
    ['missing aud', entraToken(A, jwks.origin, { aud: undefined }), 'wrong_audience'],
    ['missing iss', entraToken(A, jwks.origin, { iss: undefined }), 'wrong_issuer'],
    ['wrong aud', entraToken(A, jwks.origin, { aud: 'api://someone-else' }), 'wrong_audience'],
    ['wrong iss', entraToken(A, jwks.origin, { iss: 'https://evil.example.com/v2.0' }), 'wrong_issuer'],
    ['iss of the tenant, other host', entraToken(A, jwks.origin, { iss: `https://login.microsoftonline.com/${TENANT}/v2.0` }), 'wrong_issuer'],
    ['issuer of a tenant not allowed', entraToken(A, jwks.origin, { iss: `${jwks.origin}/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT }), 'tenant_not_allowed'],
    ['tid not a GUID', entraToken(A, jwks.origin, { iss: `${jwks.origin}/evil/v2.0`, tid: 'evil' }), 'tenant_not_allowed'],
    ['v1 token while v1 is off', entraToken(A, jwks.origin, { iss: `https://sts.windows.net/${TENANT}/`, ver: '1.0' }), 'wrong_issuer'],
    ['Graph token (aud)', entraToken(A, jwks.origin, { aud: '00000003-0000-0000-c000-000000000000' }), 'graph_token'],
    ['Graph token (aud URL, nonce header)', entraToken(A, jwks.origin, { aud: 'https://graph.microsoft.com' }, { nonce: 'abc' }), 'graph_token'],
    ['signed by an unknown key with a known kid', entraToken(STRANGER, jwks.origin), 'bad_signature'],
    ['payload tampered', (() => {
      const [h, , s] = entraToken(A, jwks.origin).split('.')
      return `${h}.${Buffer.from(JSON.stringify({ ...claims, scp: 'tools.read tools.write graph.read' })).toString('base64url')}.${s}`
    })(), 'bad_signature'],
    ['truncated signature', entraToken(A, jwks.origin).slice(0, -20), 'bad_signature'],
    ['truncated in the payload', entraToken(A, jwks.origin).split('.').slice(0, 2).join('.').slice(0, 60), 'malformed'],
    ['non-base64 characters', `${'ab+/'.repeat(8)}.${'cd+/'.repeat(8)}.${'ef'.repeat(8)}`, 'malformed'],
    ['three-part garbage', 'aaaa.bbbb.cccc', 'malformed'],
    ['header not JSON', `${Buffer.from('{"alg":').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`, 'malformed']
  ]
  for (const [name, token, category] of cases) {
    await t.test(name, async t => assertRejected(t, await call(app, token), category, logs))
  }
  t.ok(jwks.requests.every(p => p === `/${TENANT}/discovery/v2.0/keys`), 'no kid, tenant or path from a token reached a JWKS URL')
  t.ok(jwks.requests.length <= 2, `at most one refetch for all the unknown kids (${jwks.requests.length} fetches)`)
  t.notOk(logs.some(l => l.includes(A.kid) && l.includes('eyJ')), 'no token in the logs')
})

t.test('an absurd exp (1e20, or more than 24 h after iat or now) is refused 401 malformed, never a RangeError or 500', async t => {
  const jwks = await startJwksServer(t, [A])
  const logs: string[] = []
  const app = await entraApp(t, jwks, {}, logs)
  const now = Math.floor(Date.now() / 1000)
  assertRejected(t, await call(app, entraToken(A, jwks.origin, { exp: 1e20 })), 'malformed', logs)
  assertRejected(t, await call(app, entraToken(A, jwks.origin, { iat: now - 60, exp: now - 60 + 24 * 3600 + 1 })), 'malformed', logs)
  assertRejected(t, await call(app, entraToken(A, jwks.origin, { iat: undefined, nbf: undefined, exp: now + 25 * 3600 })), 'malformed', logs)
  t.match((await call(app, entraToken(A, jwks.origin, { exp: 1e20 }))).json().error_description, /lifetime is longer than 24 hours/)
  t.equal((await call(app, entraToken(A, jwks.origin, { iat: now - 60, exp: now - 60 + 24 * 3600 }))).statusCode, 200, 'exactly 24 h is accepted')
})

t.test('a 64 KB token is refused before any crypto or key lookup', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  const big = entraToken(A, jwks.origin, { padding: 'x'.repeat(64 * 1024) }, { kid: 'unknown-kid-that-would-trigger-a-fetch' })
  t.ok(big.length > 64 * 1024)
  const started = process.hrtime.bigint()
  const res = await call(app, big)
  assertRejected(t, res, 'malformed')
  t.match(res.json().error_description, /larger than 8192 bytes/)
  t.same(jwks.requests, [], 'no JWKS fetch')
  t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 500, 'answered at once')
})

t.test('request shape: token only from the header; malformed header is 400; Bearer twice is 400', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  const token = entraToken(A, jwks.origin)

  const query = await app.inject({ url: `/probe?access_token=${token}` })
  t.equal(query.statusCode, 401, 'token in the query string is ignored')
  t.equal(query.headers['www-authenticate'], 'Bearer resource_metadata="http://127.0.0.1:8123/.well-known/oauth-protected-resource/mcp", scope="tools.read tools.write graph.read"', 'no error attributes when no token was sent')

  const body = await app.inject({ method: 'GET', url: '/probe', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `access_token=${token}` })
  t.equal(body.statusCode, 401, 'token in the body is ignored')

  for (const header of [`Bearer Bearer ${token}`, `Bearer ${token} ${token}`, 'Bearer', `Bearer ${token}, Bearer ${token}`, `Bearer "${token}"`]) {
    const res = await app.inject({ url: '/probe', headers: { authorization: header } })
    t.equal(res.statusCode, 400, `400 for ${header.slice(0, 20)}…`)
    t.equal(res.json().error, 'invalid_request')
    t.match(String(res.headers['www-authenticate']), /error="invalid_request"/)
  }
  const basic = await app.inject({ url: '/probe', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.statusCode, 401, 'another scheme: 401 with the Bearer challenge')
  t.notMatch(String(basic.headers['www-authenticate']), /error=/)
  t.equal((await app.inject({ url: '/open' })).statusCode, 200, 'routes without authenticate are untouched')
})

t.test('rotation: a new kid is accepted after one refetch; the removed kid is refused', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  t.equal((await call(app, entraToken(A, jwks.origin))).statusCode, 200)
  jwks.setKeys([B])
  t.equal((await call(app, entraToken(B, jwks.origin))).statusCode, 200, 'new kid accepted')
  t.equal(jwks.requests.length, 2, 'after exactly one refetch')
  assertRejected(t, await call(app, entraToken(A, jwks.origin)), 'unknown_key')
  assertRejected(t, await call(app, entraToken(A, jwks.origin, {}, { kid: 'yet-another' })), 'unknown_key')
  t.equal(jwks.requests.length, 2, 'further unknown kids do not refetch within 30 s')
})

t.test('outage: cached keys keep working; an unknown kid is 401, never 500, never a hang', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks)
  t.equal((await call(app, entraToken(A, jwks.origin))).statusCode, 200)
  jwks.setMode('hang')
  t.equal((await call(app, entraToken(A, jwks.origin))).statusCode, 200, 'cached key still verifies')
  const started = Date.now()
  const res = await call(app, entraToken(B, jwks.origin))
  const took = Date.now() - started
  assertRejected(t, res, 'unknown_key')
  t.ok(took < 4000, `bounded by the fetch timeout (${took} ms)`)
  jwks.setMode('down')
  const again = Date.now()
  assertRejected(t, await call(app, entraToken(B, jwks.origin, {}, { kid: 'other' })), 'unknown_key')
  t.ok(Date.now() - again < 200, 'no refetch right after a failure')
  t.equal((await call(app, entraToken(A, jwks.origin))).statusCode, 200, 'cached key still verifies')
})

t.test('the JWKS endpoint down from the start: 401 unknown_key, the service stays up', async t => {
  const jwks = await startJwksServer(t, [A])
  jwks.setMode('down')
  const app = await entraApp(t, jwks)
  assertRejected(t, await call(app, entraToken(A, jwks.origin)), 'unknown_key')
  t.equal((await app.inject('/health')).statusCode, 200)
})

t.test('multi-tenant: tid must be a GUID on the allowlist; keys come from that tenant', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks, { AZURE_TENANT_ID: 'organizations', AZURE_ALLOWED_TENANTS: `${TENANT} ${OTHER_TENANT}` })
  t.equal((await call(app, entraToken(A, jwks.origin, {}, {}, TENANT))).statusCode, 200)
  t.equal((await call(app, entraToken(A, jwks.origin, {}, {}, OTHER_TENANT))).statusCode, 200)
  t.same(jwks.requests.sort(), [`/${OTHER_TENANT}/discovery/v2.0/keys`, `/${TENANT}/discovery/v2.0/keys`].sort())
  const third = 'f0f0f0f0-0000-4000-8000-0000000000ff'
  assertRejected(t, await call(app, entraToken(A, jwks.origin, {}, {}, third)), 'tenant_not_allowed')
  assertRejected(t, await call(app, entraToken(A, jwks.origin, { iss: `${jwks.origin}/organizations/v2.0`, tid: 'organizations' })), 'tenant_not_allowed')
  assertRejected(t, await call(app, entraToken(A, jwks.origin, { iss: `${jwks.origin}/common/v2.0` })), 'wrong_issuer')
  t.equal(jwks.requests.length, 2, 'no fetch for a tenant that is not allowed')
})

t.test('v1 tokens are accepted only with AZURE_ACCEPT_V1_TOKENS=true', async t => {
  const jwks = await startJwksServer(t, [A])
  const app = await entraApp(t, jwks, { AZURE_ACCEPT_V1_TOKENS: 'true' })
  const v1 = entraToken(A, jwks.origin, { iss: `https://sts.windows.net/${TENANT}/`, aud: `api://${CLIENT_ID}`, ver: '1.0', azp: undefined, appid: 'v1-app', upn: 'ada@example.com', preferred_username: undefined })
  const res = await call(app, v1)
  t.equal(res.statusCode, 200)
  t.match(res.json().identity, { clientId: 'v1-app', preferredUsername: 'ada@example.com' })
  t.equal(res.json().report.version, '1.0')
})
