import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { chooseKey, jwksUriProblem, parseClientJwks, type ClientJwks } from '../../../../plugins/oauth-proxy/client-auth/client-jwks.ts'
import { validateClientMetadata } from '../../../../plugins/oauth-proxy/clients/metadata.ts'
import { CHATGPT_REDIRECT_URI, ecKey, jwksOf, rsaKey } from '../../../support/client-keys.ts'

const rsa = rsaKey('rsa-1')
const ec = ecKey('ec-1')
const rules = { scopes: ['tools.read'], allowedRedirectUris: [], metadataDocument: true }

t.test('a ChatGPT-shaped document (private_key_jwt with jwks_uri) is valid and keeps its jwks_uri', async t => {
  const result = validateClientMetadata({
    client_id: 'https://chatgpt.com/oauth/client.json',
    client_name: 'ChatGPT',
    redirect_uris: [CHATGPT_REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks_uri: 'https://chatgpt.com/oauth/jwks.json'
  }, rules)
  t.match(result, { ok: true, metadata: { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://chatgpt.com/oauth/jwks.json', client_name: 'ChatGPT' } })
})

t.test('private_key_jwt documents need exactly one of jwks_uri (https) and jwks (public keys)', async t => {
  const base = { redirect_uris: [CHATGPT_REDIRECT_URI], token_endpoint_auth_method: 'private_key_jwt' }
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /jwks_uri or jwks/],
    [{ jwks_uri: 'https://a.example/jwks.json', jwks: jwksOf(rsa) }, /not both/],
    [{ jwks_uri: 'http://a.example/jwks.json' }, /https/],
    [{ jwks_uri: 'https://u:p@a.example/jwks.json' }, /user information/],
    [{ jwks_uri: 'https://a.example/jwks.json#x' }, /fragment/],
    [{ jwks: { keys: [{ ...rsa.jwk, d: 'secret' }] } }, /private or symmetric/],
    [{ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /private or symmetric/],
    [{ jwks: { keys: [] } }, /no usable signing key/],
    [{ jwks: [] }, /JSON object/]
  ]
  for (const [extra, reason] of refused) {
    const result = validateClientMetadata({ ...base, ...extra }, rules)
    t.match(result, { ok: false, error: 'invalid_client_metadata', description: reason }, JSON.stringify(extra).slice(0, 80))
  }
  const inline = validateClientMetadata({ ...base, jwks: jwksOf(rsa, ec) }, rules)
  t.match(inline, { ok: true, metadata: { jwks: { keys: [{ kty: 'RSA', kid: 'rsa-1' }, { kty: 'EC', kid: 'ec-1', crv: 'P-256' }] } } })
  t.match(validateClientMetadata({ ...base, token_endpoint_auth_method: 'client_secret_jwt', jwks_uri: 'https://a.example/j' }, rules), { ok: false, description: /only "none".*"private_key_jwt"/ })
  t.match(validateClientMetadata({ ...base, jwks_uri: 'https://a.example/j' }, { ...rules, metadataDocument: false }), { ok: false, description: /must be one of: none, client_secret_post, client_secret_basic/ }, '/register offers no private_key_jwt')
})

t.test('key sets keep only public signing keys that fit RS256, PS256 or ES256', async t => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
  const parsed = parseClientJwks({
    keys: [
      rsa.jwk,
      { ...rsa.jwk, kid: 'enc', use: 'enc' },
      { ...rsa.jwk, kid: 'rs512', alg: 'RS512' },
      { ...small, kid: 'small' },
      { ...p384, kid: 'p384' },
      { kty: 'RSA', kid: 'broken', n: 'AQAB', e: 'AQAB' },
      ec.jwk
    ]
  }) as ClientJwks
  t.same(parsed.keys.map(k => k.kid), ['rsa-1', 'ec-1'])
  t.notOk('ext' in parsed.keys[0] || 'key_ops' in parsed.keys[0], 'only the members that matter are kept')
  t.match(parseClientJwks({ keys: Array.from({ length: 21 }, () => rsa.jwk) }), /at most 20 keys/)
})

t.test('the key is chosen by kid and must fit the algorithm; without a kid only a single fitting key', async t => {
  const jwks = parseClientJwks(jwksOf(rsa, ec)) as ClientJwks
  t.match(chooseKey(jwks, { alg: 'RS256', kid: 'rsa-1' }), { key: { kid: 'rsa-1' } })
  t.match(chooseKey(jwks, { alg: 'PS256', kid: 'rsa-1' }), { key: { kid: 'rsa-1' } })
  t.match(chooseKey(jwks, { alg: 'ES256', kid: 'ec-1' }), { key: { kid: 'ec-1' } })
  t.match(chooseKey(jwks, { alg: 'ES256', kid: 'rsa-1' }), { key: null, unknownKid: false, reason: /not for ES256/ })
  t.match(chooseKey(jwks, { alg: 'RS256', kid: 'ec-1' }), { key: null, unknownKid: false })
  t.match(chooseKey(jwks, { alg: 'RS256', kid: 'rotated' }), { key: null, unknownKid: true })
  t.match(chooseKey(jwks, { alg: 'ES256' }), { key: { kid: 'ec-1' } }, 'one EC key: no kid needed')
  const two = parseClientJwks(jwksOf(rsa, rsaKey('rsa-2'))) as ClientJwks
  t.match(chooseKey(two, { alg: 'RS256' }), { key: null, unknownKid: false, reason: /several keys/ })
  const pinned = parseClientJwks({ keys: [{ ...rsa.jwk, alg: 'RS256' }] }) as ClientJwks
  t.match(chooseKey(pinned, { alg: 'PS256', kid: 'rsa-1' }), { key: null }, 'a key that names its alg is used for that alg only')
})

t.test('jwks_uri must be https without user information or fragment', async t => {
  t.equal(jwksUriProblem('https://chatgpt.com/oauth/jwks.json'), null)
  for (const bad of ['', 'jwks.json', 'http://a.example/j', 'https://a.example/j#f', 'https://a b.example/j', 42]) {
    t.type(jwksUriProblem(bad), 'string', String(bad))
  }
})
