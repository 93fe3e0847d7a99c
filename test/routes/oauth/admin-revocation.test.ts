// What an administrator's revocation (fastify.grants.admin) does to the tokens out there, through
// /mcp and /token: refused at once, on the instance that revoked and on another one sharing Redis;
// nobody else's tokens touched. The operations themselves: test/plugins/oauth-proxy/grants/admin.test.ts.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { redisEnv, requireRedis } from '../../helper.ts'
import { ADA, injectedOAuth } from '../../support/oauth-inject.ts'
import { SIGNING_KEY_PEM } from '../../support/mcp.ts'

const ENV = { RATE_LIMIT_ENABLED: 'false' }
const BOB = { sub: 'sub-bob', oid: 'oid-bob', tid: 'tid', name: 'Bob' }
const ADA_ELSEWHERE = { ...ADA, sub: 'sub-ada-2', tid: 'other-tenant' }

/** Two instances on one Redis (same keys), or one instance on memory twice over. */
async function instances (t: Test, shared: 'memory' | 'redis', extra: Record<string, string> = {}) {
  if (shared === 'memory') {
    const one = await injectedOAuth(t, { ...ENV, ...extra })
    return [one, one] as const
  }
  await requireRedis()
  const env = redisEnv({ ...ENV, ...extra, TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') })
  return [await injectedOAuth(t, env), await injectedOAuth(t, env)] as const
}

for (const shared of ['memory', 'redis'] as const) {
  t.test(`${shared}: a revoked grant's access token is refused at /mcp at once and its refresh token at /token, on ${shared === 'redis' ? 'another instance too' : 'the instance'}`, async t => {
    const [a, b] = await instances(t, shared)
    const client = await a.register()
    const { tokens } = await a.signedIn(client)
    t.equal(await b.mcpStatus(tokens.body.access_token), 200, 'works before')
    const [listed] = await a.api.grants.admin.listGrants()
    const revoked = await a.api.grants.admin.revokeGrant(listed.sid)
    t.equal(revoked?.sid, listed.sid)
    t.equal(await b.mcpStatus(tokens.body.access_token), 401, 'access token refused')
    t.equal(await a.mcpStatus(tokens.body.access_token), 401)
    const refreshed = await b.token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
    t.equal(refreshed.status, 400)
    t.equal(refreshed.body.error, 'invalid_grant', 'refresh token refused')
    t.same(await b.api.grants.admin.listGrants(), [], 'gone from the listing of every instance')
  })

  t.test(`${shared}: revoking a user's grants refuses all their tokens and leaves another user and the same oid in another tenant working`, async t => {
    const [a, b] = await instances(t, shared)
    const client = await a.register()
    const other = await a.register({ client_name: 'Other' })
    const ada1 = await a.signedIn(client)
    const ada2 = await a.signedIn(other)
    const bob = await a.signedIn(client, BOB)
    const elsewhere = await a.signedIn(client, ADA_ELSEWHERE)
    const revoked = await a.api.grants.admin.revokeUser({ tid: ADA.tid as string, oid: ADA.oid as string })
    t.equal(revoked.length, 2)
    for (const { tokens } of [ada1, ada2]) t.equal(await b.mcpStatus(tokens.body.access_token), 401)
    for (const [{ tokens }, c] of [[ada1, client], [ada2, other]] as const) {
      const refreshed = await b.token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: c.client_id })
      t.equal(refreshed.body.error, 'invalid_grant')
    }
    for (const { tokens } of [bob, elsewhere]) {
      t.equal(await b.mcpStatus(tokens.body.access_token), 200, 'untouched')
      const refreshed = await b.token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
      t.equal(refreshed.status, 200, 'still refreshes')
    }
  })

  t.test(`${shared}: deleting a client refuses its tokens and its registration; other clients keep theirs`, async t => {
    const [a, b] = await instances(t, shared)
    const client = await a.register()
    const keeper = await a.register({ client_name: 'Keeper' })
    const doomed = await a.signedIn(client)
    const kept = await a.signedIn(keeper)
    const deleted = await a.api.grants.admin.deleteClient(client.client_id)
    t.equal(deleted.registration, true)
    t.equal(deleted.grants.length, 1)
    t.equal(await b.mcpStatus(doomed.tokens.body.access_token), 401)
    const refreshed = await b.token({ grant_type: 'refresh_token', refresh_token: doomed.tokens.body.refresh_token, client_id: client.client_id })
    t.equal(refreshed.status, 401, 'the client is unknown now')
    t.equal(refreshed.body.error, 'invalid_client')
    t.equal(await b.mcpStatus(kept.tokens.body.access_token), 200)
    t.same((await b.api.grants.admin.listClients()).map(c => c.clientId), [keeper.client_id])
  })

  t.test(`${shared}: the index survives refresh rotation and reuse detection at /token`, async t => {
    const [a, b] = await instances(t, shared, { REFRESH_TOKEN_REUSE_GRACE: '0' })
    const client = await a.register()
    const { tokens } = await a.signedIn(client)
    const rotated = await b.token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
    t.equal(rotated.status, 200)
    t.equal((await a.api.grants.admin.listGrants()).length, 1, 'listed once after a rotation')
    t.equal(await a.api.grants.admin.countActiveGrants(), 1)
    const replay = await b.token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
    t.equal(replay.body.error, 'invalid_grant', 'reuse detected')
    t.same(await a.api.grants.admin.listGrants(), [], 'the revoked grant left the index')
    t.equal(await a.api.grants.admin.countActiveGrants(), 0)
    t.equal(await a.mcpStatus(rotated.body.access_token), 401)
  })
}

t.test('listing JSON holds no token, refresh token, secret or sealed Entra tokens', async t => {
  const o = await injectedOAuth(t, ENV)
  const client = await o.register({ token_endpoint_auth_method: 'client_secret_post' })
  const { tokens } = await o.signedIn(client, { ...ADA, sub: randomUUID() })
  const grant = await o.api.grants.readGrant((await o.api.grants.admin.listGrants())[0].sid)
  const text = JSON.stringify([await o.api.grants.admin.listGrants(), await o.api.grants.admin.listClients(), await o.api.grants.admin.listConsents()])
  for (const secret of [tokens.body.access_token, tokens.body.refresh_token, client.client_secret as string, grant?.upstream as string, 'entra-at', 'client_secret_hash', 'secret_expires']) {
    t.notOk(text.includes(secret), 'not in the listings')
  }
})
