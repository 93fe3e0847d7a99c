// The service on a real Redis Cluster (three primaries, each with a replica), started once for this
// file: the OAuth flow, refresh rotation and reuse detection, revocation, rate limits and the audit
// stream work as on one node; and when the primary holding a grant's slot dies, requests fail with
// 503 for a few seconds (never 500), readiness says so, and the service recovers by itself with the
// grant intact (its replica took over).
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildListening } from '../helper.ts'
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.ts'
import { fullFlow, registerClient, revokeRequest, tokenRequest, claimsOf, type TestClient } from '../support/oauth-flow.ts'
import { SIGNING_KEY_PEM, callTool, mintToken, post } from '../support/mcp.ts'
import { grantKey, revokedGrantKey } from '../../plugins/store/keys.ts'
import type { RedisClient } from '../../plugins/store/connection.ts'

let cluster: RedisClusterHandle
t.before(async () => { cluster = await startRedisCluster({ primaries: 3, replicas: 1, nodeTimeoutMs: 1000 }) })
t.teardown(async () => { await cluster?.stop() })

function clusterEnv (extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', REDIS_KEY_PREFIX: `test:${randomUUID().slice(0, 8)}:`, ...extra }
}

async function start (t: Test, env: Record<string, string>) {
  let inner: FastifyInstance | undefined
  const { baseUrl } = await buildListening(t, env, { setup: i => { inner = i } })
  return { baseUrl, app: inner as FastifyInstance, redis: inner?.redis as RedisClient }
}

const whoami = async (baseUrl: string, token: string, id = 1) =>
  await post(baseUrl, callTool(id, 'whoami'), { authorization: `Bearer ${token}` })

const refresh = async (baseUrl: string, client: TestClient, refreshToken: string) =>
  await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id })

t.test('on a Redis Cluster: sign-in, tool calls, refresh rotation, reuse detection and revocation work as on one node, and audit events reach the stream', async t => {
  const stream = `test-audit:${randomUUID().slice(0, 8)}`
  const { baseUrl, app, redis } = await start(t, clusterEnv({ REFRESH_TOKEN_REUSE_GRACE: '0', AUDIT_REDIS_STREAM: stream }))
  t.equal(app.store.kind, 'redis')
  t.ok('nodes' in redis, 'a cluster client')
  const client = await registerClient(baseUrl)

  const first = await fullFlow(baseUrl, client)
  t.equal(first.tokens.status, 200, 'sign-in through the cluster')
  const { access_token: access1, refresh_token: refresh1 } = first.tokens.body
  t.equal((await whoami(baseUrl, access1)).status, 200, 'a tool call with the access token')
  t.ok(await redis.get(app.config.redisKeyPrefix + grantKey(claimsOf(access1).sid)), 'the grant is stored in the cluster')

  const rotated = await refresh(baseUrl, client, refresh1)
  t.equal(rotated.status, 200, 'refresh rotates')
  const { access_token: access2, refresh_token: refresh2 } = rotated.body
  t.not(refresh2, refresh1)
  t.equal((await whoami(baseUrl, access2)).status, 200)

  const reused = await refresh(baseUrl, client, refresh1)
  t.equal(reused.status, 400, 'a used refresh token is refused')
  t.equal(reused.body.error, 'invalid_grant')
  t.equal((await whoami(baseUrl, access2)).status, 401, 'reuse revoked the grant: its access tokens are refused')
  t.equal((await refresh(baseUrl, client, refresh2)).status, 400, 'and its newest refresh token too')

  const second = await fullFlow(baseUrl, client)
  const access3 = second.tokens.body.access_token
  t.equal((await whoami(baseUrl, access3)).status, 200)
  t.equal((await revokeRequest(baseUrl, { token: access3, client_id: client.client_id })).status, 200)
  t.equal((await whoami(baseUrl, access3)).status, 401, 'a revoked access token is refused on the next request')
  t.equal((await refresh(baseUrl, client, second.tokens.body.refresh_token)).status, 200, 'revoking one access token leaves the grant')

  const events = (await redis.xrange(stream, '-', '+')).map(([, fields]) => fields[1])
  for (const event of ['client.registered', 'login.succeeded', 'token.issued', 'token.refreshed', 'token.refresh_reused', 'token.revoked']) {
    t.ok(events.includes(event), `${event} in the audit stream`)
  }
  await redis.del(stream)
})

t.test('on a Redis Cluster the /mcp budget is counted: the 6th request of 5 is refused with 429', async t => {
  const { baseUrl } = await start(t, clusterEnv({ RATE_LIMIT_MCP: '5/60', TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }))
  const token = mintToken(baseUrl, 'tools.read')
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await whoami(baseUrl, token, i)).status)
  t.same(statuses, [200, 200, 200, 200, 200])
  const refused = await whoami(baseUrl, token, 6)
  t.equal(refused.status, 429, 'the counter in the cluster is over its limit')
  t.ok(Number(refused.headers.get('retry-after')) > 0)
})

t.test('the primary holding a grant\'s slot dies under load: 503 temporarily_unavailable for a few seconds, never 500; readiness tells; recovery without help and the grant is kept', async t => {
  const { baseUrl, app } = await start(t, clusterEnv())
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  const { access_token: accessToken, refresh_token: refreshToken } = tokens.body
  const sid = claimsOf(accessToken).sid as string
  // The grant's slot: its hash tag {sid}, which its revocation entries carry (read on every /mcp
  // request of the grant). Its record (grant:<sid>, not tagged) may live on another primary.
  const grantSlotKey = app.config.redisKeyPrefix + revokedGrantKey(sid)
  const victim = await cluster.primaryFor(grantSlotKey)
  const recordOnVictim = await cluster.primaryFor(app.config.redisKeyPrefix + grantKey(sid)) === victim

  const answers: Array<{ at: number, status: number, body: string }> = []
  const readiness: Array<{ at: number, status: number, detail?: string }> = []
  const run = { on: true }
  const load = async (worker: number) => {
    for (let i = 0; run.on; i++) {
      const res = await whoami(baseUrl, accessToken, worker * 100000 + i).catch((err: Error) => ({ status: 0, text: err.message }))
      answers.push({ at: Date.now(), status: res.status, body: res.text })
    }
  }
  const probe = async () => {
    while (run.on) {
      try {
        const res = await fetch(`${baseUrl}/health/ready`)
        const body = await res.json() as { checks: Record<string, { detail?: string }> }
        readiness.push({ at: Date.now(), status: res.status, detail: body.checks.store?.detail })
      } catch (err) {
        readiness.push({ at: Date.now(), status: 0, detail: (err as Error).message })
      }
      await sleep(100)
    }
  }
  const workers = [...Array.from({ length: 4 }, async (_, w) => await load(w)), probe()]
  await sleep(500)
  const killedAt = Date.now()
  cluster.kill(victim)
  let failoverMs = -1
  try {
    failoverMs = await cluster.waitForFailover(grantSlotKey, victim, 20000)
  } finally {
    if (failoverMs < 0) run.on = false
  }
  // Run on until the service has answered 200 for a second in a row (or give up after 15 s).
  const deadline = Date.now() + 15000
  while (Date.now() < deadline) {
    const lastBad = answers.filter(a => a.status !== 200).at(-1)
    if (lastBad === undefined || Date.now() - lastBad.at > 1000) break
    await sleep(100)
  }
  run.on = false
  await Promise.all(workers)

  const after = answers.filter(a => a.at >= killedAt)
  const failed = after.filter(a => a.status !== 200)
  const lastFailure = failed.at(-1)
  const recoveryMs = lastFailure === undefined ? 0 : lastFailure.at - killedAt
  t.comment(`grant record on the killed primary too: ${recordOnVictim}`)
  t.comment(`failover (a replica serves the slot, cluster ok) ${failoverMs} ms; ${answers.length} answers, ${failed.length} not 200 after the kill; last one ${recoveryMs} ms after it`)
  t.same([...new Set(failed.map(a => a.status))].filter(s => s !== 503), [], 'every failure is a 503')
  t.notOk(answers.some(a => a.status >= 500 && a.status !== 503), 'no 500')
  for (const a of failed) t.match(a.body, /temporarily|unavailable/i, 'a 503 says the service is temporarily unavailable')
  t.ok(recoveryMs < 10000, `answers are 200 again within 10 s of the kill (${recoveryMs} ms)`)
  t.equal(answers.at(-1)?.status, 200, 'the service recovered by itself')
  const notReady = readiness.filter(r => r.at > killedAt && r.status === 503)
  t.ok(notReady.length > 0, 'readiness reported the failed primary')
  t.comment(`readiness while failing: ${[...new Set(notReady.map(r => r.detail))].join('; ')}`)
  t.ok(notReady.every(r => r.detail?.startsWith('redis: ')), 'naming the store')
  t.equal(readiness.at(-1)?.status, 200, 'and is ready again')

  const renewed = await refresh(baseUrl, client, refreshToken)
  t.equal(renewed.status, 200, 'the grant survived on the promoted replica: its refresh token still works')
  t.equal((await whoami(baseUrl, renewed.body.access_token)).status, 200)
})
