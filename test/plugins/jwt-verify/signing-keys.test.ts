import t from 'tap'
import { createPublicKey } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { createTokenSigner } from '../../../plugins/jwt-verify/signing-keys.ts'
import { parseSigningKeys } from '../../../config/keys.ts'
import { buildWithRoutes, makeRsaKey } from '../../support/jwks-server.ts'

// buildWithRoutes: the app with its decorators visible at the root (tokenSigner).
const noRoutes = () => {}

const pem = (key: ReturnType<typeof makeRsaKey>) => key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString())

t.test('without TOKEN_SIGNING_KEY: an ephemeral key, a loud warning, readiness says so', async t => {
  const logs: string[] = []
  const app = await buildWithRoutes(t, {}, noRoutes, logs)
  t.equal(app.tokenSigner.source, 'ephemeral')
  const warning = logs.map(l => JSON.parse(l)).find(l => /EPHEMERAL/.test(l.msg))
  t.ok(warning, 'warning logged')
  t.equal(warning.level, 'warn')
  t.match(warning.msg, /dies when the process stops/)
  const ready = await app.inject('/health/ready')
  t.same(ready.json().checks.signing_key, { ok: true, detail: 'ephemeral' })
  t.equal(app.tokenSigner.jwks().keys.length, 1)
})

t.test('with TOKEN_SIGNING_KEY: the first key signs, every key is published, readiness counts them', async t => {
  const [a, b] = [makeRsaKey(), makeRsaKey()]
  const app = await buildWithRoutes(t, { TOKEN_SIGNING_KEY: pem(a) + '\n' + pem(b), MCP_BASE_URL: 'https://mcp.example.com', ACCESS_TOKEN_TTL: '300' }, noRoutes)
  const [k1, k2] = parseSigningKeys(pem(a) + pem(b))
  t.equal(app.tokenSigner.source, 'configured')
  t.same((await app.inject('/health/ready')).json().checks.signing_key, { ok: true, detail: 'configured (2 keys)' })
  t.same(app.tokenSigner.jwks().keys.map(k => k.kid), [k1.kid, k2.kid])
  for (const jwk of app.tokenSigner.jwks().keys) {
    t.same(Object.keys(jwk).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'], 'public members only')
  }

  const issued = app.tokenSigner.issueAccessToken({ sub: 'u', oid: 'o', tid: 't', client_id: 'c', scope: 'tools.read tools.write', sid: 'g' })
  t.equal(issued.expiresIn, 300)
  const [header, payload] = issued.accessToken.split('.').map((p, i) => i < 2 ? decode(p) : p)
  t.same(header, { alg: 'RS256', typ: 'at+jwt', kid: k1.kid })
  t.equal(payload.iss, 'https://mcp.example.com')
  t.equal(payload.aud, 'https://mcp.example.com/mcp')
  t.equal(payload.exp - payload.iat, 300)
  t.equal(payload.nbf, payload.iat)
  t.equal(payload.jti, issued.jti)
  t.match(payload, { sub: 'u', oid: 'o', tid: 't', client_id: 'c', scope: 'tools.read tools.write', sid: 'g' })
  t.notOk('name' in payload, 'absent optional claims are left out')

  // Anyone holding the published JWKS can verify it.
  const publicPem = createPublicKey({ key: app.tokenSigner.jwks().keys[0] as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
  const verify = createVerifier({ key: publicPem, algorithms: ['RS256'], allowedAud: 'https://mcp.example.com/mcp', allowedIss: 'https://mcp.example.com' })
  t.equal(verify(issued.accessToken).sub, 'u')
})

t.test('createTokenSigner: unique jti per token, time from the injected clock', async t => {
  const [key] = parseSigningKeys(pem(makeRsaKey()))
  const signer = createTokenSigner([key], { issuer: 'https://i', audience: 'https://i/mcp', ttlSeconds: 60, source: 'configured', now: () => 1_000_000_000_000 })
  const one = signer.issueAccessToken({ sub: 's', client_id: 'c', scope: 'x', sid: 'g' })
  const two = signer.issueAccessToken({ sub: 's', client_id: 'c', scope: 'x', sid: 'g' })
  t.not(one.jti, two.jti)
  t.ok(one.jti.length >= 22)
  const payload = decode(one.accessToken.split('.')[1])
  t.equal(payload.iat, 1_000_000_000)
  t.equal(payload.exp, 1_000_000_060)
  t.same(signer.verificationKeys, [{ kid: key.kid, publicPem: key.publicPem }])
  t.notMatch(JSON.stringify(signer.jwks()), /"d"|PRIVATE/, 'no private material')
})
