import t from 'tap'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { redisEnv, requireRedis, freePort, REDIS_URL } from '../helper.ts'
import { RedisCounter } from '../../plugins/rate-limit/counter.ts'
import { EPOCH_KEY } from '../../plugins/store/keys.ts'
import { MCP_HEADERS, SIGNING_KEY_PEM, callTool, mintToken } from '../support/mcp.ts'
import { buildWithRoutes, auditLines, PrivateRedis, clientReady, type TestApp } from '../support/rate-limit.ts'

const TID = '11111111-2222-3333-4444-555555555555'
const ALICE = 'aaaaaaaa-0000-0000-0000-000000000001'

t.before(requireRedis)

t.test('two instances sharing one Redis share one budget: the 11th request of 10 fails on the other instance', async t => {
  const env = redisEnv({ RATE_LIMIT_MCP: '10/60', TOKEN_SIGNING_KEY: SIGNING_KEY_PEM })
  const a = await buildWithRoutes(t, env)
  const b = await buildWithRoutes(t, env)
  const authorization = `Bearer ${mintToken('http://localhost:8000', 'tools.read', { tid: TID, oid: ALICE, client_id: 'c1' })}`
  const call = (app: TestApp) => app.inject({ method: 'POST', url: '/mcp', headers: { ...MCP_HEADERS, authorization }, payload: callTool(1, 'whoami') })
  const statuses = []
  for (let i = 0; i < 10; i++) statuses.push((await call(i % 2 === 0 ? a : b)).statusCode)
  t.same(statuses, Array(10).fill(200), 'ten allowed, alternating instances')
  const eleventh = await call(b)
  t.equal(eleventh.statusCode, 429, 'the 11th fails on the other instance')
  t.equal(eleventh.headers['ratelimit-limit'], '10')
  t.equal((await call(a)).statusCode, 429, 'and on the first')

  // The counter lives where the architecture says, with the window as its TTL.
  const client = new Redis(REDIS_URL)
  t.teardown(() => client.disconnect())
  const keys = await client.keys(`${env.REDIS_KEY_PREFIX}rl:*`)
  t.same(keys.sort(), [`${env.REDIS_KEY_PREFIX}rl:mcp-ip:ip:127.0.0.1`, `${env.REDIS_KEY_PREFIX}rl:mcp:user:${TID}:${ALICE}:client:c1`].sort())
  const ttl = await client.pttl(`${env.REDIS_KEY_PREFIX}rl:mcp:user:${TID}:${ALICE}:client:c1`)
  t.ok(ttl > 0 && ttl <= 60000, `ttl ${ttl} ms within the window`)
})

t.test('consumeRateLimit budgets are shared across instances too', async t => {
  const env = redisEnv()
  const a = await buildWithRoutes(t, env)
  const b = await buildWithRoutes(t, env)
  const rule = { max: 3, windowSeconds: 60 }
  const results = []
  for (const app of [a, b, a, b]) results.push((await app.inner.consumeRateLimit('tool:whoami', `${TID}:${ALICE}`, rule)).allowed)
  t.same(results, [true, true, true, false])
})

t.test('RedisCounter.incrMany counts several counters in one script, each with its own window, and reads store entries with the store epoch', async t => {
  const { REDIS_KEY_PREFIX: prefix } = redisEnv()
  const client = new Redis(REDIS_URL)
  t.teardown(() => client.disconnect())
  const counter = new RedisCounter(client, prefix)
  const hits = [{ key: 'mcp:u1', windowMs: 60000 }, { key: 'mcp-ip:ip1', windowMs: 5000 }]
  const first = (await counter.incrMany(hits)).counts
  t.same(first.map(r => r.current), [1, 1])
  t.ok(first[0].ttlMs > 5000 && first[0].ttlMs <= 60000, `first window ${first[0].ttlMs} ms`)
  t.ok(first[1].ttlMs > 0 && first[1].ttlMs <= 5000, `second window ${first[1].ttlMs} ms`)
  await counter.incr('mcp:u1', 60000)
  // Store entries read in the same script: values in order, null when absent.
  await client.set(`${prefix}revoked:jti:{g1}:j1`, '1')
  const third = await counter.incrMany(hits, ['revoked:jti:{g1}:j1', 'revoked:grant:{g1}'])
  t.same(third.counts.map(r => r.current), [3, 2], 'the single and the combined command share the counters')
  t.same(third.read?.values, ['1', null])
  t.equal(third.read?.reset, true, 'the store epoch was missing: written by this call')
  const epoch = Number(await client.get(`${prefix}${EPOCH_KEY}`))
  t.equal(third.read?.epoch, epoch, 'and read in the same script')
  t.ok(Math.abs(epoch - Date.now() / 1000) < 5, 'epoch seconds')
  const fourth = await counter.incrMany([], [])
  t.same(fourth.read, { values: [], epoch, reset: false }, 'an existing epoch is kept')
  t.equal(await client.get(`${prefix}rl:mcp:u1`), '3', 'under rl: with the prefix')
  // A counter left without an expiry (never expected) gets the window rather than living forever.
  await client.set(`${prefix}rl:stale`, '7')
  const [stale] = (await counter.incrMany([{ key: 'stale', windowMs: 30000 }])).counts
  t.equal(stale.current, 8)
  t.equal(stale.ttlMs, 30000)
  const ttl = await client.pttl(`${prefix}rl:stale`)
  t.ok(ttl > 0 && ttl <= 30000, `expiry set: ${ttl} ms`)
  await client.del(`${prefix}rl:mcp:u1`, `${prefix}rl:mcp-ip:ip1`, `${prefix}rl:stale`, `${prefix}revoked:jti:{g1}:j1`, `${prefix}${EPOCH_KEY}`)
})

/** Waits until the app's Redis client has noticed the server is gone. */
async function disconnected (app: TestApp) {
  const client = app.inner.redis as Redis
  if (client.status !== 'ready') return
  await once(client, 'close')
}

t.test('Redis stopped mid-run', async t => {
  t.test('fail-open: requests pass with ONE warning and one audit event, and limits resume when Redis returns', async t => {
    const redis = new PrivateRedis(await freePort())
    await redis.start()
    t.teardown(() => redis.stop())
    const logs: string[] = []
    const app = await buildWithRoutes(t, { REDIS_URL: redis.url, RATE_LIMIT_REGISTER: '3/60' }, logs)
    const register = () => app.inject({ method: 'POST', url: '/t/register' })

    t.equal((await register()).statusCode, 200)
    t.equal((await register()).statusCode, 200)
    await redis.stop()
    await disconnected(app)
    for (let i = 0; i < 6; i++) {
      const res = await register()
      t.equal(res.statusCode, 200, `request ${i + 1} during the outage passes`)
      t.notOk(res.headers['ratelimit-limit'], 'no RateLimit headers without counters')
    }
    const warnings = logs.map(l => JSON.parse(l)).filter(l => /rate limit counters unavailable/.test(l.msg))
    t.equal(warnings.length, 1, 'one warning, not one per request')
    t.equal(warnings[0].level, 'warn')
    t.equal(warnings[0].policy, 'fail_open')
    const audits = auditLines(logs, 'rate_limit.unavailable')
    t.equal(audits.length, 1)
    t.match(audits[0], { event: 'rate_limit.unavailable', outcome: 'failure', reason: 'store_unavailable', policy: 'fail_open' })

    await redis.start()
    await clientReady(app.inner.redis as Redis)
    const after = []
    for (let i = 0; i < 4; i++) after.push((await register()).statusCode)
    t.same(after, [200, 200, 200, 429], 'counting again (a fresh window: the private Redis kept nothing)')
    t.ok(logs.some(l => /rate limit counters reachable again/.test(l)), 'recovery is logged')
  })

  t.test('fail-closed: limited requests get 503 in their dialect, unlimited ones still pass, recovery when Redis returns', async t => {
    const redis = new PrivateRedis(await freePort())
    await redis.start()
    t.teardown(() => redis.stop())
    const logs: string[] = []
    const app = await buildWithRoutes(t, { REDIS_URL: redis.url, RATE_LIMIT_FAIL_OPEN: 'false' }, logs)
    t.equal((await app.inject({ method: 'POST', url: '/t/register' })).statusCode, 200)
    await redis.stop()
    await disconnected(app)

    const oauth = await app.inject({ method: 'POST', url: '/t/register' })
    t.equal(oauth.statusCode, 503)
    t.equal(oauth.json().error, 'temporarily_unavailable')
    t.match(oauth.json().error_description, /Rate limiting is unavailable.*RATE_LIMIT_FAIL_OPEN=false/)
    t.equal(oauth.headers['retry-after'], '5')
    const mcp = await app.inject({ method: 'POST', url: '/t/mcp' })
    t.equal(mcp.statusCode, 503)
    t.equal(mcp.json().jsonrpc, '2.0')
    t.equal(mcp.json().error.code, -32000)
    t.equal(mcp.json().id, null)
    t.match(await app.inner.consumeRateLimit('tool:x', 'k', { max: 5, windowSeconds: 60 }), { allowed: false, unavailable: true })
    t.equal((await app.inject('/health')).statusCode, 200, 'health is never limited')
    t.equal((await app.inject('/t/free')).statusCode, 200, 'routes without a family pass')
    const warnings = logs.map(l => JSON.parse(l)).filter(l => /rate limit counters unavailable/.test(l.msg))
    t.equal(warnings.length, 1)
    t.equal(warnings[0].policy, 'fail_closed')
    t.equal(auditLines(logs, 'rate_limit.unavailable').length, 1)

    await redis.start()
    await clientReady(app.inner.redis as Redis)
    t.equal((await app.inject({ method: 'POST', url: '/t/register' })).statusCode, 200, 'recovered')
  })
})
