// The verification cache (fast-jwt `cache`) must not change what is accepted: a token seen before
// still expires on time, revocation is still read on every request, and a refusal for a token
// that is not valid yet is not remembered once it becomes valid.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { parseSigningKeys } from '../../config/keys.ts'
import { buildWithRoutes, makeRsaKey, probeRoutes, signJwt } from '../support/jwks-server.ts'

const BASE = 'http://127.0.0.1:8125'
const KEY = makeRsaKey()
const SIGNING_ENV = { TOKEN_SIGNING_KEY: KEY.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), MCP_BASE_URL: BASE }
const [K1] = parseSigningKeys(SIGNING_ENV.TOKEN_SIGNING_KEY)
const claims = { sub: 'user-1', oid: 'oid-1', tid: 'tid-1', client_id: 'client-1', scope: 'tools.read', sid: 'grant-1' }

const bearer = (app: FastifyInstance, token: string) => app.inject({ url: '/probe', headers: { authorization: `Bearer ${token}` } })

/** Moves the clock every verifier reads (fast-jwt uses Date.now) by `ms` for the rest of the test. */
function shiftClock (t: Test, ms: number) {
  const realNow = Date.now
  Date.now = () => realNow() + ms
  t.teardown(() => { Date.now = realNow })
}

t.test('a cached token is refused once it expires', async t => {
  const app = await buildWithRoutes(t, SIGNING_ENV, probeRoutes)
  const { accessToken, expiresIn } = app.tokenSigner.issueAccessToken(claims)
  t.equal((await bearer(app, accessToken)).statusCode, 200)
  t.equal((await bearer(app, accessToken)).statusCode, 200, 'again (from the cache)')
  shiftClock(t, (expiresIn + 61) * 1000) // past exp and the 60 s tolerance
  const res = await bearer(app, accessToken)
  t.equal(res.statusCode, 401)
  t.match(res.json().error_description, /^expired: /)
})

t.test('a cached token is refused once revoked; revocation is read on every request', async t => {
  const app = await buildWithRoutes(t, SIGNING_ENV, probeRoutes)
  let reads = 0
  const original = app.store.getMany.bind(app.store)
  app.store.getMany = async (keys: string[]) => { reads++; return original(keys) }
  const { accessToken, jti, expiresIn } = app.tokenSigner.issueAccessToken(claims)
  for (let i = 0; i < 3; i++) t.equal((await bearer(app, accessToken)).statusCode, 200)
  t.equal(reads, 3, 'one revocation read per request, cached or not')
  await app.denyAccessToken({ jti, exp: Math.floor(Date.now() / 1000) + expiresIn, sid: claims.sid })
  t.match((await bearer(app, accessToken)).json().error_description, /^revoked: /)
})

t.test('a token refused as not yet valid is accepted once its nbf is reached', async t => {
  const app = await buildWithRoutes(t, SIGNING_ENV, probeRoutes)
  const now = Math.floor(Date.now() / 1000)
  const token = signJwt({ alg: 'RS256', typ: 'at+jwt', kid: K1.kid }, { iss: BASE, aud: `${BASE}/mcp`, ...claims, jti: 'j-nbf', iat: now, nbf: now + 65, exp: now + 900 }, KEY.privateKey)
  const early = await bearer(app, token)
  t.equal(early.statusCode, 401)
  t.match(early.json().error_description, /^not_yet_valid: /)
  // valid from nbf - 60 s (the tolerance); fast-jwt would keep a refusal for the tolerance (60 s)
  shiftClock(t, 10_000)
  t.equal((await bearer(app, token)).statusCode, 200, 'the refusal was not cached')
})
