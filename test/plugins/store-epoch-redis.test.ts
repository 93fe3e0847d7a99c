// Issue #11 finding 6: a store wipe (Redis restarted without persistence) must mean "sign in again",
// never "revoked tokens are valid again". The store epoch, read with the revocation entries, says
// when the store's data began; tokens of ours issued before it are refused.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, buildListening, redisEnv, requireRedis } from '../helper.ts'
import { parseSigningKeys } from '../../config/keys.ts'
import { EPOCH_KEY, revokedTokenKey } from '../../plugins/store/keys.ts'
import { createTokenSigner } from '../../plugins/jwt-verify/signing-keys.ts'
import { SIGNING_KEY_PEM, callTool, injectMcp, payloadOf } from '../support/mcp.ts'
import { auditsOf, fullFlow, mcpStatus, registerClient, tokenRequest } from '../support/oauth-flow.ts'

const KEY = Buffer.alloc(32, 9).toString('base64')

/** A token of this service issued `ageSeconds` ago (the signer's clock moved back). */
function tokenIssuedAgo (baseUrl: string, ageSeconds: number, sid = 'grant-old'): string {
  const signer = createTokenSigner(parseSigningKeys(SIGNING_KEY_PEM), {
    issuer: baseUrl, audience: `${baseUrl}/mcp`, ttlSeconds: 900, source: 'configured', now: () => Date.now() - ageSeconds * 1000
  })
  return signer.issueAccessToken({ sub: 'user-1', oid: 'aaaaaaaa-0000-0000-0000-000000000001', tid: '11111111-2222-3333-4444-555555555555', client_id: 'test-client', sid, scope: 'tools.read' }).accessToken
}

t.test('Redis wiped: a token revoked before stays refused (store_reset), a fresh sign-in works, an old refresh token is invalid_grant', async t => {
  await requireRedis()
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const env = redisEnv({ TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, TOKEN_ENCRYPTION_KEY: KEY, LOG_LEVEL: 'info' })
  const { baseUrl } = await buildListening(t, env, { logs, setup: i => { inner = i } })
  const redis = inner!.redis!
  const prefix = env.REDIS_KEY_PREFIX

  t.ok(await redis.get(`${prefix}${EPOCH_KEY}`), 'the epoch is written at startup')
  // The store has existed for a minute; a token was issued 10 s ago and then revoked.
  await redis.set(`${prefix}${EPOCH_KEY}`, String(Math.floor(Date.now() / 1000) - 60))
  const revoked = tokenIssuedAgo(baseUrl, 10)
  t.equal(await mcpStatus(baseUrl, revoked), 200)
  const { jti, exp, sid } = payloadOf(revoked)
  await inner!.denyAccessToken({ jti, exp, sid })
  t.equal(await mcpStatus(baseUrl, revoked), 401, 'revoked')
  const client = await registerClient(baseUrl)
  const before = await fullFlow(baseUrl, client)
  t.equal(before.tokens.status, 200)

  // Redis restarts without persistence: every key of this deployment is gone.
  const keys = await redis.keys(`${prefix}*`)
  t.ok(keys.includes(`${prefix}${revokedTokenKey(jti, sid)}`))
  await redis.del(...keys)

  // Registered clients were in the store too: the client registers again, as MCP clients do on invalid_client.
  const refresh = async (c: typeof client) => await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: before.tokens.body.refresh_token, client_id: c.client_id, client_secret: c.client_secret })
  const lost = await refresh(client)
  t.same([lost.status, lost.body.error], [401, 'invalid_client'], 'the registration is gone')
  const again = await registerClient(baseUrl)
  const refreshed = await refresh(again)
  t.same([refreshed.status, refreshed.body.error], [400, 'invalid_grant'], 'a refresh token from before the wipe is invalid_grant, never a 500')
  const fresh = await fullFlow(baseUrl, again)
  t.equal(fresh.tokens.status, 200, 'a new sign-in after the wipe')
  t.equal(await mcpStatus(baseUrl, fresh.tokens.body.access_token), 200, 'its token works')

  const res = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${revoked}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(callTool(1, 'whoami'))
  })
  t.equal(res.status, 401, 'the token revoked before the wipe is still refused')
  const body = await res.json()
  t.equal(body.error, 'invalid_token')
  t.match(body.error_description, /^store_reset: .*sign in again/)
  t.equal(auditsOf(logs, 'token.rejected').at(-1)?.reason, 'store_reset')

  const resets = auditsOf(logs, 'store.reset')
  t.same(resets.map(r => r.detected), ['startup', 'token'], 'the wipe is audited once, where it was noticed')
  t.equal(resets[1].store, 'redis')
})

t.test('Redis wiped: the next /mcp request writes the epoch in its one round trip and audits store.reset once', async t => {
  await requireRedis()
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const env = redisEnv({ TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' })
  const app = await build(t, env, { logs, setup: i => { inner = i } })
  const redis = inner!.redis!
  await redis.set(`${env.REDIS_KEY_PREFIX}${EPOCH_KEY}`, String(Math.floor(Date.now() / 1000) - 60))
  const old = tokenIssuedAgo('http://localhost:8000', 10)
  t.equal((await injectMcp(app, old, callTool(1, 'whoami'))).statusCode, 200)

  await redis.del(...await redis.keys(`${env.REDIS_KEY_PREFIX}*`))
  for (let i = 0; i < 3; i++) {
    const res = await injectMcp(app, old, callTool(1, 'whoami'))
    t.equal(res.statusCode, 401)
    t.match(res.json().error_description, /^store_reset: /)
  }
  t.equal(auditsOf(logs, 'store.reset').filter(r => r.detected === 'request').length, 1, 'audited once')
  const epoch = Number(await redis.get(`${env.REDIS_KEY_PREFIX}${EPOCH_KEY}`))
  t.ok(Math.abs(epoch - Date.now() / 1000) < 5, 'a new epoch, now')
})

t.test('memory store: a restart is a wipe; tokens issued before the process started are refused', async t => {
  const app = await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM })
  const before = await injectMcp(app, tokenIssuedAgo('http://localhost:8000', 30), callTool(1, 'whoami'))
  t.equal(before.statusCode, 401)
  t.match(before.json().error_description, /^store_reset: /)
  t.equal((await injectMcp(app, tokenIssuedAgo('http://localhost:8000', 0), callTool(1, 'whoami'))).statusCode, 200, 'a token issued since works')
})
