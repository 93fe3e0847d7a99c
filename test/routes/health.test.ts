import t from 'tap'
import { build, redisEnv, requireRedis, freePort } from '../helper.ts'

t.test('GET /health answers ok without touching dependencies', async t => {
  const app = await build(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('GET /health/ready is 200 and names each check when the store answers', async t => {
  await requireRedis()
  const app = await build(t, redisEnv())
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'ready')
  t.same(res.json().checks.store, { ok: true, detail: 'redis' })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('GET /health/ready is 503 within 2 s naming the store when Redis is unreachable', async t => {
  const app = await build(t, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const started = Date.now()
  const res = await app.inject('/health/ready')
  t.ok(Date.now() - started < 2000, 'answered within 2 s')
  t.equal(res.statusCode, 503)
  t.equal(res.json().status, 'not_ready')
  t.equal(res.json().checks.store.ok, false)
  t.match(res.json().checks.store.detail, /^redis: \S/, 'the detail says it is Redis that is down, and why')
  const again = await app.inject('/health')
  t.equal(again.statusCode, 200, 'the process is still up')
})

t.test('GET /health/ready names the memory store in its detail', async t => {
  const app = await build(t)
  t.same((await app.inject('/health/ready')).json().checks.store, { ok: true, detail: 'memory' })
})

t.test('GET /auth/info shows the public configuration and no secret', async t => {
  const app = await build(t)
  const res = await app.inject('/auth/info')
  t.equal(res.statusCode, 200)
  const info = res.json()
  t.equal(info.store, 'memory')
  t.equal(info.redirect_uri, 'http://localhost:8000/auth/callback')
  t.equal(info.resource, 'http://localhost:8000/mcp')
  t.notMatch(res.body, /development-only-client-secret/)
})
