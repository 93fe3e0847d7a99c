import t from 'tap'
import {
  TokenRejection, categorizeVerifyError, checkIssuedAt, checkLifetime, checkStoreEpoch, formatChallenge, identityFromClaims, missingScopes,
  peekToken, routeIssuer, stepUpScopes, MAX_TOKEN_LENGTH, type EntraTrust
} from '../../../plugins/jwt-verify/rules.ts'
import { usableJwk } from '../../../plugins/jwt-verify/jwks-cache.ts'

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const jwt = (header: unknown, payload: unknown, sig = 'c2ln') => `${b64(header)}.${b64(payload)}.${sig}`

const TID = 'a1b2c3d4-0000-4000-8000-00000000000a'
const OTHER = 'b2c3d4e5-0000-4000-8000-00000000000b'
const AUTHORITY = 'https://login.microsoftonline.com'
const single: EntraTrust = {
  authorityHost: AUTHORITY,
  multiTenant: false,
  allowedTenants: [TID],
  acceptV1Tokens: false,
  issuerFor: (tid) => `${AUTHORITY}/${tid}/v2.0`
}

function category (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof TokenRejection) return err.category
    throw err
  }
  return undefined
}

t.test('peekToken refuses before any crypto: size, shape, alg, Graph', async t => {
  const ok = jwt({ alg: 'RS256', kid: 'k' }, { iss: 'x' })
  t.equal(peekToken(ok).kid, 'k')
  t.equal(category(() => peekToken('a'.repeat(MAX_TOKEN_LENGTH + 1))), 'malformed', 'too large')
  t.equal(category(() => peekToken(`${ok}.extra`)), 'malformed', 'four parts')
  t.equal(category(() => peekToken('abc.def')), 'malformed', 'two parts')
  t.equal(category(() => peekToken('not.a.jwt')), 'malformed', 'three-part garbage')
  t.equal(category(() => peekToken(`${b64({ alg: 'RS256' })}.$$$.sig`)), 'malformed', 'non-base64')
  t.equal(category(() => peekToken(`${b64([1])}.${b64({})}.sig`)), 'malformed', 'header not an object')
  t.equal(category(() => peekToken(`${b64({ alg: 'RS256' })}.${b64({})}.si+g`)), 'malformed', 'signature not base64url')
  t.equal(category(() => peekToken(jwt({ alg: 'none' }, {}, ''))), 'unsupported_alg')
  t.equal(category(() => peekToken(jwt({ alg: 'HS256' }, {}))), 'unsupported_alg')
  t.equal(category(() => peekToken(jwt({ alg: 'RS384' }, {}))), 'unsupported_alg')
  t.equal(category(() => peekToken(jwt({ alg: 'ES256' }, {}))), 'unsupported_alg')
  t.equal(category(() => peekToken(jwt({ alg: 'rs256' }, {}))), 'unsupported_alg', 'alg is case-sensitive')
  t.equal(category(() => peekToken(jwt({ alg: 'RS256', kid: 42 }, {}))), 'malformed', 'kid not a string')
  t.equal(category(() => peekToken(jwt({ alg: 'RS256', kid: 'k'.repeat(257) }, {}))), 'malformed', 'kid too long')
  t.equal(category(() => peekToken(jwt({ alg: 'RS256' }, { aud: '00000003-0000-0000-c000-000000000000' }))), 'graph_token')
  t.equal(category(() => peekToken(jwt({ alg: 'RS256' }, { aud: ['https://graph.microsoft.com'] }))), 'graph_token')
  t.equal(category(() => peekToken(jwt({ alg: 'RS256', nonce: 'n' }, { aud: 'x' }))), 'graph_token', 'nonce in header')
  try {
    peekToken(jwt({ alg: 'RS256' }, { aud: 'https://graph.microsoft.com' }))
  } catch (err) {
    t.match((err as Error).message, /Microsoft Graph.*Request a token for this resource/, 'says why and what to ask for instead')
  }
})

t.test('routeIssuer trusts only this service and Entra for allowed tenants', async t => {
  t.same(routeIssuer({ iss: 'https://mcp.example.com' }, 'https://mcp.example.com', single), { kind: 'self' })
  t.same(routeIssuer({ iss: `${AUTHORITY}/${TID}/v2.0`, tid: TID }, 'https://mcp.example.com', single), { kind: 'entra', tid: TID, version: 2 })
  t.equal(category(() => routeIssuer({}, 'https://mcp', single)), 'wrong_issuer', 'missing iss')
  t.equal(category(() => routeIssuer({ iss: 42 }, 'https://mcp', single)), 'wrong_issuer')
  t.equal(category(() => routeIssuer({ iss: 'https://evil.example.com', tid: TID }, 'https://mcp', single)), 'wrong_issuer')
  t.equal(category(() => routeIssuer({ iss: 'https://mcp.example.com/', tid: TID }, 'https://mcp.example.com', single)), 'wrong_issuer', 'exact match only')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/${OTHER}/v2.0`, tid: OTHER }, 'https://mcp', single)), 'tenant_not_allowed')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/${OTHER}/v2.0`, tid: TID }, 'https://mcp', single)), 'wrong_issuer', 'iss of one tenant, tid of another')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/not-a-guid/v2.0`, tid: 'not-a-guid' }, 'https://mcp', single)), 'tenant_not_allowed', 'tid not a GUID')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/${TID}/v2.0` }, 'https://mcp', single)), 'tenant_not_allowed', 'no tid')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/${TID}/v2.0/`, tid: TID }, 'https://mcp', single)), 'wrong_issuer', 'trailing slash')
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/common/v2.0`, tid: TID }, 'https://mcp', single)), 'wrong_issuer', 'templated issuer not substituted')
})

t.test('routeIssuer: v1 tokens only when enabled; multi-tenant uses the allowlist', async t => {
  const v1 = { iss: `https://sts.windows.net/${TID}/`, tid: TID }
  t.equal(category(() => routeIssuer(v1, 'https://mcp', single)), 'wrong_issuer')
  try {
    routeIssuer(v1, 'https://mcp', single)
  } catch (err) {
    t.match((err as Error).message, /accessTokenAcceptedVersion/, 'tells how to get v2 tokens')
  }
  t.same(routeIssuer(v1, 'https://mcp', { ...single, acceptV1Tokens: true }), { kind: 'entra', tid: TID, version: 1 })
  t.equal(category(() => routeIssuer({ iss: `https://sts.windows.net/${OTHER}/`, tid: OTHER }, 'https://mcp', { ...single, acceptV1Tokens: true })), 'tenant_not_allowed')
  const multi: EntraTrust = { ...single, multiTenant: true, allowedTenants: [TID, OTHER] }
  t.same(routeIssuer({ iss: `${AUTHORITY}/${OTHER}/v2.0`, tid: OTHER }, 'https://mcp', multi), { kind: 'entra', tid: OTHER, version: 2 })
  const third = 'c3d4e5f6-0000-4000-8000-00000000000c'
  t.equal(category(() => routeIssuer({ iss: `${AUTHORITY}/${third}/v2.0`, tid: third }, 'https://mcp', multi)), 'tenant_not_allowed')
})

t.test('categorizeVerifyError maps fast-jwt failures without leaking their text', async t => {
  const e = (code: string, message = '') => Object.assign(new Error(message), { code })
  t.equal(categorizeVerifyError(e('FAST_JWT_EXPIRED', 'The token has expired at 2020-01-01')).category, 'expired')
  t.notMatch(categorizeVerifyError(e('FAST_JWT_EXPIRED', 'The token has expired at 2020-01-01')).message, /2020/)
  t.equal(categorizeVerifyError(e('FAST_JWT_INACTIVE')).category, 'not_yet_valid')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_SIGNATURE')).category, 'bad_signature')
  t.equal(categorizeVerifyError(e('FAST_JWT_MISSING_SIGNATURE')).category, 'bad_signature')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_ALGORITHM')).category, 'unsupported_alg')
  t.equal(categorizeVerifyError(e('FAST_JWT_MISSING_REQUIRED_CLAIM', 'The aud claim is required.')).category, 'wrong_audience')
  t.equal(categorizeVerifyError(e('FAST_JWT_MISSING_REQUIRED_CLAIM', 'The exp claim is required.')).category, 'malformed')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_CLAIM_VALUE', 'The aud claim value is not allowed.')).category, 'wrong_audience')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_CLAIM_VALUE', 'The iss claim value is not allowed.')).category, 'wrong_issuer')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_CLAIM_TYPE', 'The exp claim must be a number.')).category, 'malformed')
  t.equal(categorizeVerifyError(e('FAST_JWT_INVALID_TYPE')).category, 'malformed')
  t.equal(categorizeVerifyError(new Error('boom')).category, 'malformed')
  const rejection = new TokenRejection('revoked', 'x')
  t.equal(categorizeVerifyError(rejection), rejection)
})

t.test('checkIssuedAt refuses an iat in the future beyond the tolerance', async t => {
  const now = 1_700_000_000_000
  t.doesNotThrow(() => checkIssuedAt({}, now, 60000))
  t.doesNotThrow(() => checkIssuedAt({ iat: now / 1000 + 59 }, now, 60000))
  t.equal(category(() => checkIssuedAt({ iat: now / 1000 + 61 }, now, 60000)), 'not_yet_valid')
  t.equal(category(() => checkIssuedAt({ iat: 'soon' }, now, 60000)), 'malformed')
})

t.test('checkLifetime refuses an exp more than 24 h after iat or now', async t => {
  const now = 1_700_000_000_000
  const nowS = now / 1000
  t.doesNotThrow(() => checkLifetime({ iat: nowS, exp: nowS + 24 * 3600 }, now, 60000))
  t.doesNotThrow(() => checkLifetime({ exp: nowS + 3600 }, now, 60000), 'no iat: measured from now')
  t.equal(category(() => checkLifetime({ iat: nowS, exp: nowS + 24 * 3600 + 1 }, now, 60000)), 'malformed')
  t.equal(category(() => checkLifetime({ iat: nowS - 10 * 86400, exp: nowS + 60 }, now, 60000)), 'malformed', 'issued ten days ago for eleven')
  t.equal(category(() => checkLifetime({ exp: nowS + 24 * 3600 + 61 }, now, 60000)), 'malformed')
  t.equal(category(() => checkLifetime({ exp: 1e20 }, now, 60000)), 'malformed')
  t.equal(category(() => checkLifetime({ exp: Infinity }, now, 60000)), 'malformed')
})

t.test('checkStoreEpoch refuses a token issued before the store epoch', async t => {
  t.doesNotThrow(() => checkStoreEpoch(1000, 1000))
  t.doesNotThrow(() => checkStoreEpoch(1001, 1000))
  t.equal(category(() => checkStoreEpoch(999, 1000)), 'store_reset')
})

t.test('identityFromClaims: scp and roles become permissions, nothing of the token kept', async t => {
  const entra = identityFromClaims('entra', { sub: 's', oid: 'o', tid: 't', scp: 'tools.read  tools.write', roles: ['tools.admin', 7], azp: 'client', exp: 99, name: 'N', upn: 'u@x' })
  t.same(entra, { kind: 'entra', sub: 's', oid: 'o', tid: 't', name: 'N', preferredUsername: 'u@x', email: undefined, scopes: ['tools.read', 'tools.write'], roles: ['tools.admin'], clientId: 'client', grantId: undefined, expiresAt: 99 })
  const v1 = identityFromClaims('entra', { sub: 's', appid: 'app', roles: ['tools.read'], exp: 1 })
  t.equal(v1.clientId, 'app')
  t.same(v1.scopes, [])
  const self = identityFromClaims('self', { sub: 's', scope: 'tools.read', client_id: 'c', sid: 'g', scp: 'ignored', exp: 5 })
  t.same(self.scopes, ['tools.read'])
  t.equal(self.grantId, 'g')
  t.equal(self.clientId, 'c')
})

t.test('scope maths: roles count as permissions; step-up asks for granted + needed', async t => {
  t.same(missingScopes({ scopes: ['tools.read'], roles: [] }, ['tools.read', 'tools.write']), ['tools.write'])
  t.same(missingScopes({ scopes: [], roles: ['tools.write'] }, ['tools.write']), [])
  t.same(stepUpScopes({ scopes: ['tools.read'] }, ['tools.write', 'tools.read']), ['tools.read', 'tools.write'])
})

t.test('formatChallenge builds RFC 6750 parameters with resource_metadata and safe quoting', async t => {
  t.equal(formatChallenge({ resourceMetadata: 'https://m/.well-known/oauth-protected-resource/mcp', scope: ['a', 'b'] }),
    'Bearer resource_metadata="https://m/.well-known/oauth-protected-resource/mcp", scope="a b"')
  t.equal(formatChallenge({ resourceMetadata: 'https://m/x', error: 'invalid_token', description: 'say "hi"\\\n' }),
    'Bearer resource_metadata="https://m/x", error="invalid_token", error_description="say hi"')
  t.equal(formatChallenge({ resourceMetadata: 'https://m/x', scope: ['ok', 'b"ad'] }), 'Bearer resource_metadata="https://m/x", scope="ok"')
})

t.test('usableJwk keeps only RSA signing keys of 2048 bits or more with a kid', async t => {
  const n = 'A'.repeat(342)
  t.ok(usableJwk({ kty: 'RSA', n, e: 'AQAB', kid: 'k' }))
  t.ok(usableJwk({ kty: 'RSA', n, e: 'AQAB', kid: 'k', use: 'sig', alg: 'RS256' }))
  t.notOk(usableJwk({ kty: 'RSA', n, e: 'AQAB' }), 'no kid')
  t.notOk(usableJwk({ kty: 'RSA', n, e: 'AQAB', kid: 'k', use: 'enc' }), 'encryption key')
  t.notOk(usableJwk({ kty: 'RSA', n, e: 'AQAB', kid: 'k', alg: 'RS512' }))
  t.notOk(usableJwk({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'k' }))
  t.notOk(usableJwk({ kty: 'RSA', n: 'A'.repeat(171), e: 'AQAB', kid: 'k' }), '1024-bit')
  t.notOk(usableJwk(null))
  t.notOk(usableJwk('x'))
})
