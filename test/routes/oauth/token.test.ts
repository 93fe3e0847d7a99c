import t from 'tap'
import { buildListening } from '../../helper.ts'
import { pkcePair } from '../../support/browserless.ts'
import { REDIRECT_URI, auditsOf, claimsOf, fullFlow, mcpStatus as mcpStatusAt, registerClient } from '../../support/oauth-flow.ts'
import { injectedOAuth } from '../../support/oauth-inject.ts'

// The first case signs in end to end (listening server, browser-less sign-in); the others are about
// /token itself and seed the signed-in code through the grants model, with inject (support/oauth-inject.ts).
const ENV = { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }

t.test('authorization_code: tokens issued once, no-store, the proxy JWT accepted at /mcp', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, ENV, { logs })
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  t.equal(tokens.status, 200)
  t.equal(tokens.headers.get('cache-control'), 'no-store')
  t.equal(tokens.headers.get('pragma'), 'no-cache')
  t.match(tokens.body, { token_type: 'Bearer', expires_in: 900, scope: 'tools.read tools.write', refresh_token: /^[\w-]{43}$/ })
  const claims = claimsOf(tokens.body.access_token)
  t.match(claims, { iss: baseUrl, aud: `${baseUrl}/mcp`, client_id: client.client_id, scope: 'tools.read tools.write', name: 'Ada Lovelace', oid: /^[0-9a-f-]{36}$/, tid: /^[0-9a-f-]{36}$/, sid: /^[\w-]+$/ })
  t.equal(await mcpStatusAt(baseUrl, tokens.body.access_token), 200)
  t.equal(auditsOf(logs, 'token.issued').length, 1)
  t.match(auditsOf(logs, 'token.issued')[0], { client_id: client.client_id, oid: claims.oid, tid: claims.tid, grant_type: 'authorization_code' })
  const all = logs.join('\n')
  t.notMatch(all, tokens.body.access_token, 'no access token in any log line')
  t.notMatch(all, tokens.body.refresh_token, 'no refresh token in any log line')
})

t.test('code replay: the second redemption fails and revokes every token of the grant', async t => {
  const { logs, register, signedIn, token, mcpStatus } = await injectedOAuth(t, ENV)
  const client = await register()
  const { code, verifier, tokens } = await signedIn(client)
  t.equal(await mcpStatus(tokens.body.access_token), 200)
  const replay = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: client.client_id })
  t.equal(replay.status, 400)
  t.equal(replay.body.error, 'invalid_grant')
  t.equal(await mcpStatus(tokens.body.access_token), 401, 'the first access token stops working')
  const refresh = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refresh.body.error, 'invalid_grant', 'the refresh token of the grant too')
  t.match(auditsOf(logs, 'token.revoked'), [{ reason: 'code_replay', token_type: 'grant', client_id: client.client_id }])
})

t.test('concurrent redemptions of one code: exactly one succeeds', async t => {
  const { register, codeFor, token } = await injectedOAuth(t, ENV)
  const client = await register()
  const { code, verifier } = await codeFor(client)
  const answers = await Promise.all(Array.from({ length: 5 }, () => token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: client.client_id })))
  t.equal(answers.filter(a => a.status === 200).length, 1)
  t.ok(answers.filter(a => a.status !== 200).every(a => a.body.error === 'invalid_grant'))
})

t.test('PKCE, redirect URI, client and resource are bound to the code', async t => {
  const { register, codeFor, token } = await injectedOAuth(t, ENV)
  const client = await register()
  const other = await register()
  const { code, verifier } = await codeFor(client)
  const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: client.client_id }
  const cases: Array<[string, Record<string, string | undefined>, number, string]> = [
    ['wrong verifier', { code_verifier: 'w'.repeat(43) }, 400, 'invalid_grant'],
    ['verifier missing', { code_verifier: undefined }, 400, 'invalid_request'],
    ['verifier equal to the challenge (plain)', { code_verifier: (await pkcePair()).challenge }, 400, 'invalid_grant'],
    ['redirect URI mismatch', { redirect_uri: 'http://127.0.0.1:53682/other' }, 400, 'invalid_grant'],
    ['another client', { client_id: other.client_id }, 400, 'invalid_grant'],
    ['unknown client', { client_id: 'nobody' }, 401, 'invalid_client'],
    ['resource mismatch', { resource: 'https://elsewhere.example.com/mcp' }, 400, 'invalid_target'],
    ['code missing', { code: undefined }, 400, 'invalid_request'],
    ['unknown code', { code: 'A'.repeat(43) }, 400, 'invalid_grant'],
    ['grant type missing', { grant_type: undefined }, 400, 'invalid_request'],
    ['unsupported grant type', { grant_type: 'password' }, 400, 'unsupported_grant_type']
  ]
  for (const [name, change, status, error] of cases) {
    const res = await token({ ...base, ...change })
    t.equal(res.status, status, name)
    t.equal(res.body.error, error, name)
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: no-store on errors too`)
  }
  const ok = await token(base)
  t.equal(ok.status, 200, 'failed attempts did not burn the code for its client')
})

t.test('refresh: rotated on every use; reusing an old one revokes the grant (no grace period)', async t => {
  const { logs, register, signedIn, token, mcpStatus } = await injectedOAuth(t, { ...ENV, REFRESH_TOKEN_REUSE_GRACE: '0' })
  const client = await register()
  const { tokens } = await signedIn(client)
  const first = tokens.body
  const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: client.client_id })
  t.equal(second.status, 200)
  t.not(second.body.refresh_token, first.refresh_token, 'rotated')
  t.equal(second.headers.get('cache-control'), 'no-store')
  t.equal(claimsOf(second.body.access_token).sid, claimsOf(first.access_token).sid, 'same grant')
  const narrowed = await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token, client_id: client.client_id, scope: 'tools.read' })
  t.equal(narrowed.status, 200)
  t.equal(narrowed.body.scope, 'tools.read')
  t.equal(claimsOf(narrowed.body.access_token).scope, 'tools.read')
  const widened = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: client.client_id, scope: 'tools.read graph.read' })
  t.equal(widened.body.error, 'invalid_scope')
  const withSignIn = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: client.client_id, scope: 'tools.read offline_access' })
  t.equal(withSignIn.body.scope, 'tools.read', 'offline_access in a refresh is ignored, not refused')
  const full = await token({ grant_type: 'refresh_token', refresh_token: withSignIn.body.refresh_token, client_id: client.client_id })
  t.equal(full.body.scope, 'tools.read tools.write', 'the narrowed refresh token still carries the whole grant')
  t.equal(await mcpStatus(full.body.access_token), 200)

  const reuse = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: client.client_id })
  t.equal(reuse.status, 400)
  t.equal(reuse.body.error, 'invalid_grant')
  t.equal(await mcpStatus(full.body.access_token), 401, 'access tokens of the grant refused')
  const latest = await token({ grant_type: 'refresh_token', refresh_token: full.body.refresh_token, client_id: client.client_id })
  t.equal(latest.body.error, 'invalid_grant', 'the newest refresh token is dead too')
  t.equal(auditsOf(logs, 'token.refresh_reused').length, 1)
  t.equal(auditsOf(logs, 'token.refreshed').length, 4)
  t.match(auditsOf(logs, 'token.revoked'), [{ reason: 'refresh_reused' }])
})

t.test('refresh: two refreshes at once with one token (a client\'s processes sharing it) both succeed within the grace period', async t => {
  const { logs, register, signedIn, token, mcpStatus } = await injectedOAuth(t, ENV)
  const client = await register()
  const { tokens } = await signedIn(client)
  const refresh = () => token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  const [a, b] = await Promise.all([refresh(), refresh()])
  t.same([a.status, b.status], [200, 200], 'both refreshed')
  t.not(a.body.refresh_token, b.body.refresh_token, 'each with its own new refresh token')
  const later = await refresh()
  t.equal(later.status, 200, 'a third use a moment later, still within the grace period')
  for (const answer of [a, b, later]) {
    t.equal(await mcpStatus(answer.body.access_token), 200)
    const next = await token({ grant_type: 'refresh_token', refresh_token: answer.body.refresh_token, client_id: client.client_id })
    t.equal(next.status, 200, 'every new refresh token works')
  }
  t.equal(auditsOf(logs, 'token.refresh_reused').length, 0, 'no reuse detected')
  t.equal(auditsOf(logs, 'token.refreshed').filter(e => e.reuse_within_grace === true).length, 2, 'the second and third use are audited as reuse within the grace period')
})

t.test('refresh: a rotated token presented after the grace period revokes the grant', async t => {
  // The grants model's clock, advanced past the grace period instead of sleeping through it.
  let elapsed = 0
  const { logs, register, signedIn, token, mcpStatus } = await injectedOAuth(t, { ...ENV, REFRESH_TOKEN_REUSE_GRACE: '1' }, { app: { grantsClock: () => Date.now() + elapsed } })
  const client = await register()
  const { tokens } = await signedIn(client)
  const first = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(first.status, 200)
  elapsed += 1300
  const replay = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(replay.body.error, 'invalid_grant', 'after the grace period: a replay')
  t.equal(await mcpStatus(first.body.access_token), 401, 'the grant is revoked')
  t.match(auditsOf(logs, 'token.revoked'), [{ reason: 'refresh_reused' }])
})

t.test('refresh tokens are bound to their client; clients without the refresh grant get none', async t => {
  const { register, signedIn, token } = await injectedOAuth(t, ENV)
  const client = await register()
  const other = await register()
  const { tokens } = await signedIn(client)
  const stolen = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: other.client_id })
  t.equal(stolen.body.error, 'invalid_grant')
  const still = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(still.status, 200, 'the owner can still use it')
  const codeOnly = await register({ grant_types: ['authorization_code'] })
  const flow = await signedIn(codeOnly)
  t.equal(flow.tokens.status, 200)
  t.equal(flow.tokens.body.refresh_token, undefined)
  const refused = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: codeOnly.client_id })
  t.equal(refused.body.error, 'unauthorized_client')
})

t.test('confidential clients: client_secret_basic and client_secret_post; wrong or missing secret is invalid_client', async t => {
  const { register, codeFor, token } = await injectedOAuth(t, ENV)
  const basicClient = await register({ token_endpoint_auth_method: 'client_secret_basic' })
  const postClient = await register({ token_endpoint_auth_method: 'client_secret_post' })
  t.type(basicClient.client_secret, 'string')
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

  const a = await codeFor(basicClient)
  const form = { grant_type: 'authorization_code', code: a.code, redirect_uri: REDIRECT_URI, code_verifier: a.verifier }
  const wrong = await token(form, { authorization: basic(basicClient.client_id, 'not-the-secret') })
  t.equal(wrong.status, 401)
  t.equal(wrong.body.error, 'invalid_client')
  t.match(wrong.headers.get('www-authenticate'), /^Basic realm=/)
  const missing = await token({ ...form, client_id: basicClient.client_id })
  t.equal(missing.status, 401)
  const both = await token({ ...form, client_secret: basicClient.client_secret }, { authorization: basic(basicClient.client_id, basicClient.client_secret as string) })
  t.equal(both.body.error, 'invalid_request', 'two authentication methods at once')
  const malformed = await token(form, { authorization: 'Basic !!!' })
  t.equal(malformed.body.error, 'invalid_client')
  const ok = await token(form, { authorization: basic(basicClient.client_id, basicClient.client_secret as string) })
  t.equal(ok.status, 200, 'client_secret_basic')

  const b = await codeFor(postClient)
  const viaPost = await token({ grant_type: 'authorization_code', code: b.code, redirect_uri: REDIRECT_URI, code_verifier: b.verifier, client_id: postClient.client_id, client_secret: postClient.client_secret })
  t.equal(viaPost.status, 200, 'client_secret_post')
})

t.test('oversized, malformed and repeated bodies answer RFC 6749 errors, never 500', async t => {
  const { post } = await injectedOAuth(t, ENV)
  const big = await post('grant_type=authorization_code&code=' + 'a'.repeat(40000))
  t.equal(big.status, 413)
  t.equal(big.body.error, 'invalid_request')
  const repeated = await post('grant_type=refresh_token&grant_type=authorization_code')
  t.equal(repeated.status, 400)
  t.equal(repeated.body.error, 'invalid_request')
  const garbage = await post('%%%&&&===&grant_type=%ZZ')
  t.equal(garbage.status, 400)
  const json = await post('{"grant_type":', 'application/json')
  t.equal(json.status, 400)
  t.equal(json.body.error, 'invalid_request')
  const xml = await post('<x/>', 'application/xml')
  t.equal(xml.status, 415)
  const longVerifier = await post(`grant_type=authorization_code&code=${'a'.repeat(43)}&code_verifier=${'v'.repeat(300)}&client_id=x`)
  t.equal(longVerifier.status, 400)
  t.equal(longVerifier.body.error, 'invalid_request')
})
