// The grants model against the in-memory store, without Fastify: codes redeem once, a replay
// revokes the grant, refresh tokens rotate and a reused one revokes, revoke removes everything.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../../../../plugins/store/memory.ts'
import { createTokenCipher } from '../../../../plugins/oauth-proxy/grants/token-crypto.ts'
import { createGrantStore, type GrantStoreOptions } from '../../../../plugins/oauth-proxy/grants/model.ts'
import { s256Challenge } from '../../../../plugins/oauth-proxy/authorize/pkce.ts'
import type { AuthorizeTransaction } from '../../../../plugins/oauth-proxy/authorize/transactions.ts'
import { InvalidGrantError, InvalidScopeError, TemporarilyUnavailableError } from '../../../../plugins/errors/oauth.ts'

const VERIFIER = 'v'.repeat(43)
const REDIRECT = 'http://127.0.0.1:1/cb'

function setup (t: Test, config: Partial<GrantStoreOptions['config']> = {}, renew?: GrantStoreOptions['renewUpstream'], nowMs?: () => number) {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const denied: string[] = []
  const audits: Array<{ event: string, fields?: Record<string, unknown> }> = []
  let jti = 0
  const grants = createGrantStore({
    store,
    cipher: createTokenCipher(randomBytes(32)),
    config: { refreshTokenTtl: 3600, refreshReuseGrace: 0, consentTtl: 600, scopes: ['tools.read', 'tools.write'], ...config },
    signAccessToken: async (grant, scope) => ({ accessToken: `at-${grant.sid}-${scope}`, jti: String(++jti), expiresIn: 900 }),
    denyGrant: async sid => { denied.push(sid) },
    audit: (event, fields) => { audits.push({ event, fields }) },
    renewUpstream: renew ?? (async grant => grant),
    nowMs
  })
  const tx = (clientId = 'client-a'): AuthorizeTransaction => ({ id: randomBytes(32).toString('base64url'), clientId, redirectUri: REDIRECT, state: 's', codeChallenge: s256Challenge(VERIFIER), scopes: ['tools.read', 'tools.write'], resource: 'http://127.0.0.1:1/mcp', csrf: 'c', browser: 'b', createdAt: Math.floor(Date.now() / 1000) })
  const signIn = async (clientId = 'client-a') => await grants.createGrant({
    tx: tx(clientId), user: { sub: 'sub', oid: 'oid', tid: 'tid' }, tokens: { access_token: 'entra-at', expires_in: 3600, refresh_token: 'entra-rt' }
  })
  return { store, grants, denied, audits, tx, signIn }
}

t.test('a code redeems once for its client, redirect URI and verifier; Entra\'s tokens are sealed in the grant', async t => {
  const { grants, signIn } = setup(t)
  const { grant, code } = await signIn()
  t.not(grant.upstream.includes('entra-rt'), true, 'sealed')
  t.match(grants.openUpstream(grant), { accessToken: 'entra-at', refreshToken: 'entra-rt' })
  const redeem = (change: Record<string, string | undefined> = {}) => grants.redeemCode({ code, clientId: 'client-a', verifier: VERIFIER, redirectUri: REDIRECT, ...change })
  await t.rejects(redeem({ clientId: 'client-b' }), { message: /another client/ })
  await t.rejects(redeem({ redirectUri: 'http://127.0.0.1:1/other' }), { message: /redirect_uri/ })
  await t.rejects(redeem({ verifier: 'w'.repeat(43) }), { message: /PKCE/ })
  const redeemed = await redeem({ redirectUri: undefined })
  t.same(redeemed.scopes, ['tools.read', 'tools.write'], 'failed attempts did not burn the code')
  t.equal(redeemed.grant.sid, grant.sid)
  await t.rejects(grants.redeemCode({ code: 'A'.repeat(43), clientId: 'client-a', verifier: VERIFIER }), InvalidGrantError)
})

t.test('a replayed code revokes its grant; concurrent redemptions: exactly one succeeds', async t => {
  const { grants, signIn, denied, audits } = setup(t)
  const { grant, code } = await signIn()
  const redeem = () => grants.redeemCode({ code, clientId: 'client-a', verifier: VERIFIER })
  const results = await Promise.allSettled([redeem(), redeem(), redeem()])
  t.equal(results.filter(r => r.status === 'fulfilled').length, 1)
  t.ok(results.filter(r => r.status === 'rejected').every(r => (r as PromiseRejectedResult).reason instanceof InvalidGrantError))
  await t.rejects(redeem(), { message: /already used; every token issued with it is revoked/ })
  t.equal(await grants.readGrant(grant.sid), null, 'grant removed')
  t.ok(denied.includes(grant.sid), 'its access tokens denied')
  t.match(audits.filter(a => a.event === 'token.revoked'), [{ fields: { reason: 'code_replay', token_type: 'grant', client_id: 'client-a' } }])
})

t.test('refresh: rotated, narrowed never widened, bound to its client; reuse revokes the grant (no grace)', async t => {
  const { grants, signIn, denied, audits } = setup(t)
  const { grant } = await signIn()
  const first = await grants.issueTokens(grant, grant.scopes, { refreshToken: true })
  t.match(first, { access_token: String, token_type: 'Bearer', expires_in: 900, scope: 'tools.read tools.write', refresh_token: /^[\w-]{43}$/ })
  const rt = first.refresh_token as string
  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-b' }), { message: /another client/ })
  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-a', scope: 'tools.read graph.read' }), InvalidScopeError)
  const rotated = await grants.rotateRefresh({ token: rt, clientId: 'client-a', scope: 'tools.read offline_access' })
  t.same(rotated.scopes, ['tools.read'], 'narrowed; offline_access ignored')
  t.equal(rotated.reusedWithinGrace, false)
  const next = await grants.issueTokens(rotated.grant, rotated.scopes, { refreshToken: true })
  t.equal(next.scope, 'tools.read')
  t.same((await grants.rotateRefresh({ token: next.refresh_token as string, clientId: 'client-a' })).scopes, ['tools.read', 'tools.write'], 'the new refresh token carries the whole grant')

  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-a' }), { message: /already used; the grant is revoked/ })
  t.equal(await grants.readGrant(grant.sid), null)
  t.ok(denied.includes(grant.sid))
  t.equal(audits.filter(a => a.event === 'token.refresh_reused').length, 1)
  t.match(audits.filter(a => a.event === 'token.revoked'), [{ fields: { reason: 'refresh_reused' } }])
  await t.rejects(grants.rotateRefresh({ token: 'B'.repeat(43), clientId: 'client-a' }), { message: /unknown, expired or revoked/ })
})

t.test('refresh within the grace period: a second use refreshes too, marked as reuse within grace', async t => {
  const { grants, signIn, audits } = setup(t, { refreshReuseGrace: 60 })
  const { grant } = await signIn()
  const rt = (await grants.issueTokens(grant, grant.scopes, { refreshToken: true })).refresh_token as string
  const [a, b] = await Promise.all([grants.rotateRefresh({ token: rt, clientId: 'client-a' }), grants.rotateRefresh({ token: rt, clientId: 'client-a' })])
  t.same([a.reusedWithinGrace, b.reusedWithinGrace].sort(), [false, true])
  t.equal((await grants.rotateRefresh({ token: rt, clientId: 'client-a' })).reusedWithinGrace, true)
  t.equal(audits.filter(a => a.event === 'token.refresh_reused').length, 0)
})

t.test('refresh grace is measured on the model\'s clock: reuse just inside it refreshes, just past it revokes', async t => {
  let now = 1_000_000
  const { grants, signIn, audits, denied } = setup(t, { refreshReuseGrace: 10 }, undefined, () => now)
  const { grant } = await signIn()
  const rt = (await grants.issueTokens(grant, grant.scopes, { refreshToken: true })).refresh_token as string
  await grants.rotateRefresh({ token: rt, clientId: 'client-a' })
  now += 10_000
  t.equal((await grants.rotateRefresh({ token: rt, clientId: 'client-a' })).reusedWithinGrace, true, 'at exactly the grace period: still a refresh')
  now += 1
  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-a' }), InvalidGrantError, 'one millisecond past it: a replay')
  t.same(denied, [grant.sid], 'the grant is revoked')
  t.equal(audits.filter(a => a.event === 'token.refresh_reused').length, 1)
})

t.test('refresh: Entra ending the sign-in revokes the grant; a passing failure spends nothing', async t => {
  let refusal: Error | undefined
  const { grants, signIn, audits } = setup(t, {}, async grant => { if (refusal !== undefined) throw refusal; return grant })
  const { grant } = await signIn()
  const rt = (await grants.issueTokens(grant, grant.scopes, { refreshToken: true })).refresh_token as string
  refusal = new TemporarilyUnavailableError('Entra down')
  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-a' }), TemporarilyUnavailableError)
  refusal = undefined
  const again = await grants.rotateRefresh({ token: rt, clientId: 'client-a' })
  t.equal(again.reusedWithinGrace, false, 'the refresh token was not spent by the failed attempt')
  const rt2 = (await grants.issueTokens(again.grant, again.scopes, { refreshToken: true })).refresh_token as string
  refusal = new InvalidGrantError('The sign-in with Microsoft Entra ID has ended')
  await t.rejects(grants.rotateRefresh({ token: rt2, clientId: 'client-a' }), InvalidGrantError)
  t.equal(await grants.readGrant(grant.sid), null)
  t.match(audits.filter(a => a.event === 'token.revoked'), [{ fields: { reason: 'upstream_ended' } }])
})

t.test('revokeRefreshToken: only the client\'s own token revokes its grant', async t => {
  const { grants, signIn, audits } = setup(t)
  const { grant } = await signIn()
  const rt = (await grants.issueTokens(grant, grant.scopes, { refreshToken: true })).refresh_token as string
  await grants.revokeRefreshToken(rt, 'client-b')
  await grants.revokeRefreshToken('not opaque!', 'client-a')
  t.not(await grants.readGrant(grant.sid), null, 'a foreign or malformed token changes nothing')
  await grants.revokeRefreshToken(rt, 'client-a')
  t.equal(await grants.readGrant(grant.sid), null)
  t.match(audits.filter(a => a.event === 'token.revoked'), [{ fields: { reason: 'revoked_by_client', client_id: 'client-a', oid: 'oid', tid: 'tid' } }])
  await t.rejects(grants.rotateRefresh({ token: rt, clientId: 'client-a' }), { message: /no longer exists/ })
})

t.test('transactions are taken once; consent approvals are stored per session and client', async t => {
  const { grants, tx } = setup(t)
  const one = tx()
  await grants.saveTransaction(one)
  t.same(await grants.readTransaction(one.id), one)
  const [a, b] = await Promise.all([grants.takeTransaction(one.id), grants.takeTransaction(one.id)])
  t.equal([a, b].filter(x => x !== null).length, 1)
  t.equal(await grants.readTransaction('not-a-transaction-id'), null)
  t.equal(await grants.approvedScopes('session', 'client-a'), null)
  await grants.approveScopes('session', 'client-a', ['tools.read'])
  t.same(await grants.approvedScopes('session', 'client-a'), ['tools.read'])
  t.equal(await grants.approvedScopes('session', 'client-b'), null)
})
