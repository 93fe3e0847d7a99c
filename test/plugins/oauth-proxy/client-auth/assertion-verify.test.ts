import t from 'tap'
import { ClientAssertionError, assertedClientId, verifyClientAssertion } from '../../../../plugins/oauth-proxy/client-auth/assertion-verify.ts'
import { chooseKey, parseClientJwks, type ClientJwks } from '../../../../plugins/oauth-proxy/client-auth/client-jwks.ts'
import { clientAssertion, ecKey, jwksOf, rsaKey } from '../../../support/client-keys.ts'

const CLIENT = 'https://chatgpt.com/oauth/client.json'
const TOKEN_URL = 'https://mcp.example.com/token'
const rsa = rsaKey('rsa-1')
const ps = rsaKey('ps-1', 'PS256')
const ec = ecKey('ec-1')
const jwks = parseClientJwks(jwksOf(rsa, ps, ec)) as ClientJwks

const options = (now = Date.now()) => ({
  clientId: CLIENT,
  audiences: [TOKEN_URL, 'https://mcp.example.com'],
  clockToleranceSeconds: 60,
  now: () => now,
  keyFor: async (header: { alg: 'RS256' | 'PS256' | 'ES256', kid?: string }) => {
    const choice = chooseKey(jwks, header)
    if (choice.key === null) throw new ClientAssertionError('key', choice.reason)
    return choice.key
  }
})

async function refusal (assertion: string, now?: number) {
  try {
    await verifyClientAssertion(assertion, options(now))
  } catch (err) {
    if (err instanceof ClientAssertionError) return err
    throw err
  }
  return null
}

t.test('RS256, PS256 and ES256 assertions with the token endpoint or the issuer as audience verify', async t => {
  for (const key of [rsa, ps, ec]) {
    const { jti, exp } = await verifyClientAssertion(clientAssertion({ clientId: CLIENT, audience: TOKEN_URL, key }), options())
    t.type(jti, 'string', key.alg)
    t.ok(exp > Date.now() / 1000)
  }
  await verifyClientAssertion(clientAssertion({ clientId: CLIENT, audience: 'https://mcp.example.com', key: rsa }), options())
  await verifyClientAssertion(clientAssertion({ clientId: CLIENT, audience: ['https://other.example', TOKEN_URL], key: rsa }), options())
  t.equal(assertedClientId(clientAssertion({ clientId: CLIENT, audience: TOKEN_URL, key: rsa })), CLIENT)
  t.equal(assertedClientId('not a jwt'), null)
})

t.test('each broken rule is refused with its reason', async t => {
  const make = (extra: Partial<Parameters<typeof clientAssertion>[0]>) => clientAssertion({ clientId: CLIENT, audience: TOKEN_URL, key: rsa, ...extra })
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, string, string]> = [
    ['alg none', make({ header: { alg: 'none' } }), 'algorithm'],
    ['HS256 keyed with the public key', make({ header: { alg: 'HS256' }, hmacSecret: rsa.publicKey.export({ type: 'spki', format: 'pem' }) }), 'algorithm'],
    ['RS512', make({ header: { alg: 'RS512' } }), 'algorithm'],
    ['wrong iss', make({ claims: { iss: 'https://evil.example/client.json' } }), 'claims'],
    ['wrong sub', make({ claims: { sub: 'https://evil.example/client.json' } }), 'claims'],
    ['wrong aud', make({ audience: 'https://mcp.example.com/authorize' }), 'claims'],
    ['no exp', make({ claims: { exp: undefined } }), 'claims'],
    ['no jti', make({ claims: { jti: undefined } }), 'claims'],
    ['expired', make({ claims: { iat: now - 600, exp: now - 120 } }), 'expired'],
    ['exp too far', make({ claims: { iat: undefined, exp: now + 3600 } }), 'lifetime'],
    ['valid for too long from iat', make({ claims: { iat: now - 500, exp: now + 200 } }), 'lifetime'],
    ['iat in the future', make({ claims: { iat: now + 300, exp: now + 400 } }), 'claims'],
    ['nbf in the future', make({ claims: { nbf: now + 300 } }), 'claims'],
    ['unknown kid', make({ header: { kid: 'rotated' } }), 'key'],
    ['another key with a known kid', clientAssertion({ clientId: CLIENT, audience: TOKEN_URL, key: { ...rsaKey('x'), kid: 'rsa-1' } }), 'signature'],
    ['an RSA kid with ES256', make({ key: { ...ec, kid: 'rsa-1' } }), 'key'],
    ['crit header', make({ header: { crit: ['exp'] } }), 'malformed'],
    ['not a JWT', 'abc.def', 'malformed']
  ]
  for (const [name, assertion, reason] of cases) {
    const err = await refusal(assertion)
    t.equal(err?.reason, reason, `${name}: ${err?.message}`)
  }
})

t.test('the clock is the one given: an assertion expires after its exp plus the tolerance', async t => {
  const assertion = clientAssertion({ clientId: CLIENT, audience: TOKEN_URL, key: ec })
  const later = Date.now() + (300 + 61) * 1000
  t.equal((await refusal(assertion, later))?.reason, 'expired')
  t.equal(await refusal(assertion, Date.now() + 300 * 1000), null, 'within the tolerance')
})
