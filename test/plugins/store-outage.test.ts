import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { build, freePort, redisEnv } from '../helper.ts'

// A private redis-server on a spare port, so the test can stop and restart it.

async function answers (port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.ping() === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

async function startRedis (t: Test, port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const failed = new Promise<never>((_resolve, reject) => child.once('error', err => reject(new Error(`redis-server could not start (install it: apt-get install -y redis-server): ${err.message}`))))
  t.teardown(() => { child.kill('SIGKILL') })
  const deadline = Date.now() + 10000
  while (!await Promise.race([answers(port), failed])) {
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`)
    await sleep(50)
  }
  return child
}

async function stopRedis (child: ChildProcess) {
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

/** The app with a test-only route that needs the store. */
async function app (t: Test, port: number) {
  return build(t, { ...redisEnv(), REDIS_URL: `redis://127.0.0.1:${port}` }, {
    setup: (fastify: FastifyInstance) => {
      fastify.post('/test/store', async () => {
        const count = await fastify.store.incr('outage-test', 60)
        return { count }
      })
    }
  })
}

async function until (what: string, check: () => Promise<boolean>, ms = 10000) {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`)
    await sleep(100)
  }
}

t.test('Redis going away: readiness 503 naming the store within 2 s, store requests 503 JSON, recovery by itself', async t => {
  const port = await freePort()
  const redis = await startRedis(t, port)
  const fastify = await app(t, port)

  const ready = await fastify.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().checks.store, { ok: true, detail: 'redis' })
  t.equal((await fastify.inject({ method: 'POST', url: '/test/store' })).json().count, 1)

  await stopRedis(redis)

  let started = Date.now()
  const down = await fastify.inject('/health/ready')
  t.ok(Date.now() - started < 2000, `readiness answered in ${Date.now() - started} ms`)
  t.equal(down.statusCode, 503)
  t.equal(down.json().status, 'not_ready')
  t.equal(down.json().checks.store.ok, false, 'names the store')
  t.match(down.json().checks.store.detail, /^redis: \S/, 'and says it is Redis')

  started = Date.now()
  const refused = await fastify.inject({ method: 'POST', url: '/test/store' })
  t.ok(Date.now() - started < 2000, `a store request answered in ${Date.now() - started} ms`)
  t.equal(refused.statusCode, 503)
  t.match(refused.headers['content-type'], /application\/json/)
  t.same(refused.json(), { error: 'temporarily_unavailable', error_description: 'The state store is unavailable; retry shortly' })

  t.equal((await fastify.inject('/health')).statusCode, 200, 'liveness stays up')

  await startRedis(t, port)
  await until('readiness recovering', async () => (await fastify.inject('/health/ready')).statusCode === 200)
  const back = await fastify.inject({ method: 'POST', url: '/test/store' })
  t.equal(back.statusCode, 200, 'store requests work again')
  t.equal(back.json().count, 1, 'a fresh server: the counter starts again')
})

t.test('Redis absent at start: the service starts, reports 503, and becomes ready when Redis arrives', async t => {
  const port = await freePort()
  const started = Date.now()
  const fastify = await app(t, port)
  t.ok(Date.now() - started < 5000, 'start is not held up for long')
  const down = await fastify.inject('/health/ready')
  t.equal(down.statusCode, 503)
  t.equal(down.json().checks.store.ok, false)
  t.equal((await fastify.inject({ method: 'POST', url: '/test/store' })).statusCode, 503)

  await startRedis(t, port)
  await until('readiness after Redis starts', async () => (await fastify.inject('/health/ready')).statusCode === 200)
  t.equal((await fastify.inject({ method: 'POST', url: '/test/store' })).json().count, 1)
})

t.test('RATE_LIMIT_FAIL_OPEN=true during an outage: the limiter lets requests by, but whatever reads state answers 503 (/mcp included); discovery, JWKS and liveness stay up', async t => {
  const port = await freePort()
  const redis = await startRedis(t, port)
  let inner: FastifyInstance | undefined
  const fastify = await build(t, { ...redisEnv(), REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_FAIL_OPEN: 'true' }, { setup: i => { inner = i } })
  const { accessToken } = inner!.tokenSigner.issueAccessToken({ sub: 'u', client_id: 'c', scope: 'tools.read', sid: 'grant-1' })
  const mcp = () => fastify.inject({
    method: 'POST',
    url: '/mcp',
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    payload: { jsonrpc: '2.0', id: 1, method: 'tools/list' }
  })
  t.equal((await mcp()).statusCode, 200, 'before the outage')

  await stopRedis(redis)
  const down = await mcp()
  t.equal(down.statusCode, 503, '/mcp: the revocation read needs the store')
  t.match(down.json(), { error: 'temporarily_unavailable' })
  t.equal((await fastify.inject({ method: 'POST', url: '/register', payload: { redirect_uris: ['http://127.0.0.1:1/cb'], token_endpoint_auth_method: 'none' } })).statusCode, 503, '/register')
  t.equal((await fastify.inject({ method: 'POST', url: '/token', payload: { grant_type: 'refresh_token', refresh_token: 'x'.repeat(43), client_id: 'c' } })).statusCode, 503, '/token')
  t.equal((await fastify.inject('/authorize?client_id=c&response_type=code')).statusCode, 503, '/authorize')
  t.equal((await fastify.inject(`/auth/callback?state=${'s'.repeat(43)}&code=x`)).statusCode, 503, '/auth/callback')
  t.equal((await fastify.inject({ method: 'POST', url: '/revoke', payload: { token: 'x'.repeat(43), client_id: 'c' } })).statusCode, 503, '/revoke')
  t.equal((await fastify.inject('/health/ready')).statusCode, 503, 'not ready')
  for (const url of ['/health', '/auth/info', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource/mcp', '/.well-known/jwks.json']) {
    t.equal((await fastify.inject(url)).statusCode, 200, `${url} stays up`)
  }
  t.equal((await fastify.inject({ method: 'POST', url: '/mcp', payload: {} })).statusCode, 401, '/mcp without a token: still the 401 challenge')
})
