// With Redis counters, the /mcp rate-limit script (run once the token's signature verified) also reads
// the token's revocation entries and the store epoch: no store round trip of the verifier's own.
// Revocation must still bite at once.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, redisEnv, requireRedis } from '../helper.ts'
import { revokedGrantKey, revokedTokenKey } from '../../plugins/store/keys.ts'
import { SIGNING_KEY_PEM, callTool, injectMcp, mintToken, payloadOf } from '../support/mcp.ts'

/** The app (its inner instance holds the decorators) with every store `getManyWithEpoch` recorded. */
async function buildRecording (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>) {
  let inner: FastifyInstance | undefined
  const app = await build(t, env, { setup: async instance => { inner = instance } })
  const store = inner!.store
  const getManyWithEpoch = store.getManyWithEpoch.bind(store)
  const storeReads: string[][] = []
  store.getManyWithEpoch = async (keys) => { storeReads.push(keys); return await getManyWithEpoch(keys) }
  return { app, inner: inner!, storeReads }
}

t.test('revocation is read with the rate-limit counters and refuses a revoked token or grant on the next request', async t => {
  await requireRedis()
  const { app, inner, storeReads } = await buildRecording(t, { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_ENABLED: 'true' })

  const call = async (token: string) => await injectMcp(app, token, callTool(1, 'whoami'))

  const token = mintToken('http://localhost:8000', 'tools.read')
  const { jti, sid, exp } = payloadOf(token)
  const ok = await call(token)
  t.equal(ok.statusCode, 200)
  t.notOk(ok.json().result.isError)
  t.same(storeReads, [], 'the verifier needed no store round trip of its own')

  await inner.denyAccessToken({ jti, exp, sid })
  const revoked = await call(token)
  t.equal(revoked.statusCode, 401, 'a revoked access token is refused on the next request')
  t.match(revoked.headers['www-authenticate'], /invalid_token/)

  const sibling = mintToken('http://localhost:8000', 'tools.read', { sid })
  t.equal((await call(sibling)).statusCode, 200, 'another token of the same grant still works')
  await inner.denyGrant(sid)
  t.equal((await call(sibling)).statusCode, 401, 'until the grant is revoked')
  t.same(storeReads, [], 'all read in the rate-limit round trip')
})

t.test('without rate limiting the verifier reads revocation and the store epoch from the store itself', async t => {
  await requireRedis()
  const { app, inner, storeReads } = await buildRecording(t, { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_ENABLED: 'false' })
  const token = mintToken('http://localhost:8000', 'tools.read')
  const { jti, sid, exp } = payloadOf(token)
  const res = await injectMcp(app, token, callTool(1, 'whoami'))
  t.equal(res.statusCode, 200)
  t.same(storeReads, [[revokedTokenKey(jti, sid), revokedGrantKey(sid)]])
  await inner.denyAccessToken({ jti, exp, sid })
  const again = await injectMcp(app, token, callTool(1, 'whoami'))
  t.equal(again.statusCode, 401)
})
