// The admin operations of the grants model (grants.admin) against the in-memory store, without
// Fastify: the grants index follows creation, refresh, rotation, reuse detection, revocation and
// expiry; revoking a user touches no one else; listings show no secret. Through HTTP, on memory,
// Redis and two instances: test/routes/oauth/admin-revocation.test.ts.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../../../../plugins/store/memory.ts'
import { createTokenCipher } from '../../../../plugins/oauth-proxy/grants/token-crypto.ts'
import { createGrantStore } from '../../../../plugins/oauth-proxy/grants/model.ts'
import type { ClientDirectory } from '../../../../plugins/oauth-proxy/grants/admin.ts'
import type { GrantUser } from '../../../../plugins/oauth-proxy/grants/records.ts'
import type { ClientRecord } from '../../../../plugins/oauth-proxy/clients/metadata.ts'
import { s256Challenge } from '../../../../plugins/oauth-proxy/authorize/pkce.ts'
import { CONSENT_INDEX_KEY, GRANT_INDEX_KEY } from '../../../../plugins/store/keys.ts'

const VERIFIER = 'v'.repeat(43)
const TTL = 3600
const ADA: GrantUser = { sub: 's1', oid: 'oid-ada', tid: 'tenant-1', name: 'Ada Lovelace', preferred_username: 'ada@example.com' }
const BOB: GrantUser = { sub: 's2', oid: 'oid-bob', tid: 'tenant-1', name: 'Bob' }
const ADA_ELSEWHERE: GrantUser = { sub: 's3', oid: 'oid-ada', tid: 'tenant-2', name: 'Ada in another tenant' }

const registered = (clientId: string, name: string): ClientRecord => ({
  client_id: clientId, client_name: name, client_secret_hash: 'SECRET-HASH', token_endpoint_auth_method: 'client_secret_post', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], client_id_issued_at: 1, source: 'registered'
})

function setup (t: Test, graceSeconds = 0) {
  let clock = 1_800_000_000
  const store = new MemoryStore({ now: () => clock * 1000 })
  t.teardown(() => store.close())
  const denied: string[] = []
  const directory = new Map([['client-a', registered('client-a', 'Client A')], ['client-b', registered('client-b', 'Client B')]])
  const clients: ClientDirectory = {
    known: async id => directory.get(id) ?? null,
    registered: async limit => [...directory.values()].slice(0, limit),
    remove: async id => directory.delete(id)
  }
  const grants = createGrantStore({
    store,
    cipher: createTokenCipher(randomBytes(32)),
    config: { refreshTokenTtl: TTL, refreshReuseGrace: graceSeconds, consentTtl: 600, scopes: ['tools.read', 'tools.write'] },
    signAccessToken: async grant => ({ accessToken: `at-${grant.sid}`, jti: randomBytes(4).toString('hex'), expiresIn: 900 }),
    denyGrant: async sid => { denied.push(sid) },
    audit: () => {},
    // As when Entra's token nears its end: the grant is saved again with renewed tokens.
    renewUpstream: async grant => await grants.saveUpstream(grant, grants.openUpstream(grant)),
    clients,
    now: () => clock,
    nowMs: () => clock * 1000
  })
  const signIn = async (user: GrantUser, clientId = 'client-a') => {
    const tx = { id: randomBytes(32).toString('base64url'), clientId, redirectUri: 'https://app.example/cb', state: 's', codeChallenge: s256Challenge(VERIFIER), scopes: ['tools.read'], resource: 'https://gw.example/mcp', csrf: 'c', browser: 'b', createdAt: clock }
    const { grant, code } = await grants.createGrant({ tx, user, tokens: { access_token: 'ENTRA-AT', expires_in: 3600, refresh_token: 'ENTRA-RT' } })
    await grants.redeemCode({ code, clientId, verifier: VERIFIER })
    const issued = await grants.issueTokens(grant, grant.scopes, { refreshToken: true })
    return { grant, refreshToken: issued.refresh_token as string }
  }
  return { store, grants, admin: grants.admin, denied, directory, signIn, elapse: (s: number) => { clock += s }, now: () => clock }
}

t.test('listing shows ids and display fields of active grants, the most recently active first, and no secret', async t => {
  const { admin, signIn, elapse, store } = setup(t)
  const first = await signIn(ADA)
  elapse(10)
  const second = await signIn(BOB, 'client-b')
  const list = await admin.listGrants()
  t.same(list.map(g => g.sid), [second.grant.sid, first.grant.sid])
  t.same(list[1], {
    sid: first.grant.sid,
    user: { oid: 'oid-ada', tid: 'tenant-1', name: 'Ada Lovelace', username: 'ada@example.com' },
    clientId: 'client-a',
    clientName: 'Client A',
    scopes: ['tools.read'],
    createdAt: first.grant.createdAt,
    expiresAt: first.grant.createdAt + TTL
  }, 'exactly these fields')
  const text = JSON.stringify([list, await admin.listClients(), await admin.listConsents()])
  for (const secret of ['ENTRA-AT', 'ENTRA-RT', first.refreshToken, first.grant.upstream, 'SECRET-HASH', 'at-']) {
    t.notOk(text.includes(secret), `no ${secret.slice(0, 12)}… in any listing`)
  }
  t.same((await admin.listGrants({ limit: 1 })).map(g => g.sid), [second.grant.sid], 'limit')
  t.same((await admin.listGrants({ user: { tid: 'tenant-1', oid: 'oid-bob' } })).map(g => g.sid), [second.grant.sid], 'by user')
  t.same((await admin.listGrants({ clientId: 'client-a' })).map(g => g.sid), [first.grant.sid], 'by client')
  t.equal(await admin.countActiveGrants(), 2)
  t.equal(await store.indexCount(GRANT_INDEX_KEY, 0), 2)
})

t.test('revoking all grants of a user leaves other users and the same oid in another tenant untouched', async t => {
  const { admin, grants, signIn, denied } = setup(t)
  const ada1 = await signIn(ADA)
  const ada2 = await signIn(ADA, 'client-b')
  const bob = await signIn(BOB)
  const elsewhere = await signIn(ADA_ELSEWHERE)
  const revoked = await admin.revokeUser({ tid: 'tenant-1', oid: 'oid-ada' })
  t.same(revoked.map(g => g.sid).sort(), [ada1.grant.sid, ada2.grant.sid].sort(), 'both of Ada\'s grants, reported')
  t.same(denied.sort(), [ada1.grant.sid, ada2.grant.sid].sort(), 'their access tokens are denied')
  for (const { refreshToken } of [ada1, ada2]) {
    await t.rejects(grants.rotateRefresh({ token: refreshToken, clientId: 'client-a' }), { name: /Error/ }, 'her refresh tokens are refused')
  }
  t.same((await admin.listGrants()).map(g => g.sid).sort(), [bob.grant.sid, elsewhere.grant.sid].sort())
  t.ok(await grants.rotateRefresh({ token: bob.refreshToken, clientId: 'client-a' }), 'Bob refreshes')
  t.ok(await grants.rotateRefresh({ token: elsewhere.refreshToken, clientId: 'client-a' }), 'Ada of tenant 2 refreshes')
  t.same(await admin.revokeUser({ tid: 'tenant-1', oid: 'oid-ada' }), [], 'again: nothing left')
  t.equal(await admin.countActiveGrants(), 2)
})

t.test('revoking one grant by sid: reported once, then null; a malformed sid changes nothing', async t => {
  const { admin, signIn, denied } = setup(t)
  const { grant } = await signIn(ADA)
  t.match(await admin.revokeGrant(grant.sid), { sid: grant.sid, clientId: 'client-a' })
  t.same(denied, [grant.sid])
  t.equal(await admin.revokeGrant(grant.sid), null)
  t.equal(await admin.revokeGrant('{bad}:sid'), null)
  t.same(await admin.listGrants(), [])
})

t.test('the index follows refresh rotation: refreshedAt moves, the expiry with it, and the grant stays listed once', async t => {
  const { admin, grants, signIn, elapse } = setup(t)
  const { grant, refreshToken } = await signIn(ADA)
  elapse(TTL - 60)
  const rotated = await grants.rotateRefresh({ token: refreshToken, clientId: 'client-a' })
  const next = await grants.issueTokens(rotated.grant, rotated.scopes, { refreshToken: true })
  const [listed] = await admin.listGrants()
  t.equal(listed.sid, grant.sid)
  t.equal(listed.refreshedAt, grant.createdAt + TTL - 60)
  t.equal(listed.expiresAt, grant.createdAt + TTL - 60 + TTL)
  elapse(120)
  t.equal((await admin.listGrants()).length, 1, 'listed past its first expiry: the refresh moved it')
  t.ok(await grants.rotateRefresh({ token: next.refresh_token as string, clientId: 'client-a' }))
  t.equal(await admin.countActiveGrants(), 1)
})

t.test('refresh-token reuse revokes the grant and takes it out of every index', async t => {
  const { admin, grants, signIn, store } = setup(t)
  const { grant, refreshToken } = await signIn(ADA)
  await grants.rotateRefresh({ token: refreshToken, clientId: 'client-a' })
  await t.rejects(grants.rotateRefresh({ token: refreshToken, clientId: 'client-a' }), { message: /already used/ })
  t.same(await admin.listGrants(), [])
  t.same(await admin.listGrants({ user: { tid: 'tenant-1', oid: 'oid-ada' } }), [])
  t.equal(await store.indexCount(GRANT_INDEX_KEY, 0), 0, 'removed, not left to expire')
  t.equal(await grants.readGrant(grant.sid), null)
})

t.test('an expired grant leaves the listing and the count without a read of its record', async t => {
  const { admin, signIn, elapse } = setup(t)
  await signIn(ADA)
  elapse(TTL + 1)
  t.same(await admin.listGrants(), [])
  t.equal(await admin.countActiveGrants(), 0)
})

t.test('deleting a client removes its registration, revokes its grants only, and forgets its consents', async t => {
  const { admin, grants, signIn, denied, directory } = setup(t)
  const a = await signIn(ADA, 'client-a')
  const b = await signIn(BOB, 'client-b')
  await grants.approveScopes('S'.repeat(32), 'client-a', ['tools.read'])
  await grants.approveScopes('S'.repeat(32), 'client-b', ['tools.read'])
  const deleted = await admin.deleteClient('client-a')
  t.equal(deleted.registration, true)
  t.same(deleted.grants.map(g => g.sid), [a.grant.sid])
  t.same(deleted.consents.map(c => c.clientId), ['client-a'])
  t.same(denied, [a.grant.sid])
  t.notOk(directory.has('client-a'))
  await t.rejects(grants.rotateRefresh({ token: a.refreshToken, clientId: 'client-a' }))
  t.same((await admin.listGrants()).map(g => g.sid), [b.grant.sid])
  t.same((await admin.listConsents()).map(c => c.clientId), ['client-b'])
  t.same((await admin.listClients()).map(c => [c.clientId, c.activeGrants]), [['client-b', 1]])
})

t.test('consents are listed by a hash of their session, never the cookie value, and deleted one by one', async t => {
  const { admin, grants, store, elapse } = setup(t)
  const session = 'C'.repeat(32)
  await grants.approveScopes(session, 'client-a', ['tools.read', 'tools.write'])
  const [consent] = await admin.listConsents()
  t.match(consent, { clientId: 'client-a', clientName: 'Client A', scopes: ['tools.read', 'tools.write'] })
  t.notOk(JSON.stringify(consent).includes(session), 'the session id is not shown')
  t.equal(await admin.deleteConsent('x'.repeat(43), 'client-a'), null, 'an unknown id')
  t.equal(await admin.deleteConsent('../../etc', 'client-a'), null, 'a malformed id')
  t.match(await admin.deleteConsent(consent.id, 'client-a'), { id: consent.id, clientId: 'client-a' })
  t.equal(await grants.approvedScopes(session, 'client-a'), null, 'the browser is asked again')
  t.equal(await store.indexCount(CONSENT_INDEX_KEY, 0), 0)
  await grants.approveScopes(session, 'client-b', ['tools.read'])
  elapse(601)
  t.same(await admin.listConsents(), [], 'expired consents leave the listing')
})

t.test('clients with grants but no registration (metadata documents) are listed after the registered ones', async t => {
  const { admin, signIn } = setup(t)
  await signIn(ADA, 'https://app.example/client.json')
  const clients = await admin.listClients()
  t.same(clients.map(c => c.clientId), ['client-a', 'client-b', 'https://app.example/client.json'])
  t.match(clients[2], { source: 'metadata_document', activeGrants: 1 })
  t.notOk(JSON.stringify(clients).includes('SECRET-HASH'))
})
