import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, redisEnv, requireRedis, REDIS_URL } from '../helper.ts'
import { createRedisClient } from '../../plugins/store.ts'
import { RedisTokenAuth, REDIS_SCOPE } from '../../plugins/store/entra-auth.ts'
import { aclUser, ManualClock, TestCredential, until } from '../support/redis-entra.ts'

// REDIS_AUTH=entra against the real Redis: an ACL user of the test's own whose password is the token
// the test credential returns. The clock of the token refresh is moved by hand; Redis and ioredis run
// on real time.

const HOUR = 3600000
const MINUTE = 60000

const register = { method: 'POST' as const, url: '/register', payload: { client_name: 'Entra Redis', redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' } }

async function keysUnder (admin: { scan: (...args: any[]) => Promise<[string, string[]]> }, prefix: string): Promise<string[]> {
  const [, keys] = await admin.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10000)
  return keys
}

/** The service with REDIS_AUTH=entra, the test credential and clock, its log lines collected. */
async function service (t: Parameters<typeof build>[0], env: Record<string, string>, credential: TestCredential, clock: ManualClock) {
  const logs: string[] = []
  const app: FastifyInstance = await build(t, { ...env, REDIS_AUTH: 'entra' }, { logs, app: { store: { redisCredential: credential, redisAuthClock: clock } } })
  return { app, logs }
}

/** The service signed in as an ACL user of the test's own, whose password is the credential's first token (an hour). */
async function signedInAsAclUser (t: Parameters<typeof build>[0]) {
  const env = redisEnv()
  const user = await aclUser(t, env.REDIS_KEY_PREFIX)
  const token1 = user.token()
  await user.setPassword(token1)
  const clock = new ManualClock()
  const credential = new TestCredential(clock, { token: token1, lifetimeMs: HOUR })
  return { env, user, token1, clock, credential, ...await service(t, env, credential, clock) }
}

t.before(requireRedis)

t.test('the service signs in to Redis as the identity (oid) with its token and serves requests', async t => {
  const { env, user, token1, clock, credential, app, logs } = await signedInAsAclUser(t)

  t.same(credential.scopes, [REDIS_SCOPE], 'one token, for the Redis scope')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.match(ready.json().checks.redis_auth, { ok: true, detail: `entra: token for ${user.name} valid until ${new Date(clock.now() + HOUR).toISOString()}` })
  t.equal((await app.inject(register)).statusCode, 201)
  t.ok((await keysUnder(user.admin, env.REDIS_KEY_PREFIX)).length > 0, 'the registration is in Redis under the prefix the ACL user may write')
  t.equal((await user.connections()).length, 1, 'the service\'s connection is signed in as the identity')
  t.same(await user.aclLog(), [], 'no AUTH refused')
  t.notOk(logs.some(line => line.includes(token1)), 'the token is never logged')
})

t.test('when the token changes, every connection re-authenticates before the old one expires; old and new connections keep working without the old password', async t => {
  const { user, token1, clock, credential, app, logs } = await signedInAsAclUser(t)
  const before = await user.connections()
  t.equal(before.length, 1)

  // From now on Redis accepts only the new token, as Azure does once the old one has expired.
  const token2 = user.token()
  await user.setPassword(token2)
  credential.answer = { token: token2, lifetimeMs: HOUR }
  await clock.advance(47 * MINUTE)
  t.equal(credential.calls, 1, 'no refresh before 80 % of the token\'s lifetime')
  await clock.advance(MINUTE)
  t.equal(credential.calls, 2, 'refreshed at 48 minutes of 60 (80 %, earlier than 5 minutes before expiry)')
  await until(async () => (await user.connections()).every(c => c.cmd === 'auth'), 'the connection sent AUTH with the new token')
  t.ok(clock.now() < Date.UTC(2026, 11, 7, 12) + HOUR, 'before the first token expired')
  t.same((await user.connections()).map(c => c.id), before.map(c => c.id), 'the same connection, not a new one')
  t.same(await user.aclLog(), [], 'AUTH with the new token was accepted')
  t.equal((await app.inject(register)).statusCode, 201, 'the existing connection serves requests')

  // A new connection (after Redis dropped the old one) signs in with the new token.
  await user.admin.call('CLIENT', 'KILL', 'USER', user.name)
  await until(async () => (await user.connections()).length === 1, 'the service reconnected')
  t.not((await user.connections())[0].id, before[0].id, 'a new connection')
  t.equal((await app.inject(register)).statusCode, 201, 'the new connection serves requests')
  t.equal((await app.inject('/health/ready')).statusCode, 200)
  t.same(await user.aclLog(), [], 'no AUTH refused, on the old connection nor the new one')
  t.notOk(logs.some(line => line.includes(token1) || line.includes(token2)), 'no token in the logs')
})

t.test('every attached connection, including one opened after the first token, re-authenticates at each refresh', async t => {
  const env = redisEnv()
  const user = await aclUser(t, env.REDIS_KEY_PREFIX)
  await user.setPassword('unused')
  const clock = new ManualClock()
  const credential = new TestCredential(clock, { token: user.token(), lifetimeMs: HOUR })
  await user.setPassword((credential.answer as { token: string }).token)
  const errors: object[] = []
  const auth = new RedisTokenAuth({ credential, clock, log: { info: () => {}, warn: () => {}, error: (obj) => { errors.push(obj) } } })
  t.teardown(() => auth.stop())
  const clients = [createRedisClient(REDIS_URL, { lazyConnect: true }), createRedisClient(REDIS_URL, { lazyConnect: true })]
  t.teardown(() => { for (const c of clients) c.disconnect() })
  for (const c of clients) auth.attach(c)
  await auth.start()
  await until(() => clients.every(c => c.status === 'ready'), 'both clients connected once the token came')
  const late = createRedisClient(REDIS_URL, { lazyConnect: true })
  clients.push(late)
  auth.attach(late)
  await until(() => late.status === 'ready', 'a client attached later connects with the current token')
  t.equal((await user.connections()).length, 3)

  for (const round of [1, 2]) {
    const next = user.token()
    await user.setPassword(next)
    credential.answer = { token: next, lifetimeMs: HOUR }
    await clock.advance(48 * MINUTE)
    await until(async () => (await user.connections()).filter(c => c.cmd === 'auth').length === 3, `round ${round}: all three connections sent AUTH`)
    for (const c of clients) t.equal(await c.set(`${env.REDIS_KEY_PREFIX}k`, String(round)), 'OK', `round ${round}: a connection works with only the new password`)
  }
  t.same(errors, [])
  t.same(await user.aclLog(), [])
})

t.test('a credential that fails: readiness 503 with the reason, retries with backoff, and recovers by itself', async t => {
  const env = redisEnv()
  const user = await aclUser(t, env.REDIS_KEY_PREFIX)
  const clock = new ManualClock()
  const unavailable = Object.assign(new Error('ManagedIdentityCredential: no managed identity endpoint found'), { name: 'CredentialUnavailableError' })
  const credential = new TestCredential(clock, unavailable)
  const { app, logs } = await service(t, env, credential, clock)
  const retries = () => logs.map(l => JSON.parse(l)).filter(l => l.msg === 'could not get a Microsoft Entra token for Redis; retrying')

  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json().checks.redis_auth, { ok: false, detail: 'entra: no valid Microsoft Entra token for Redis (CredentialUnavailableError: ManagedIdentityCredential: no managed identity endpoint found)' })
  t.equal((await user.connections()).length, 0, 'no connection signed in as the identity')

  await clock.advance(999)
  t.equal(credential.calls, 1)
  await clock.advance(1)
  t.equal(credential.calls, 2, 'first retry after 1 s')
  await until(() => retries().length === 2, 'each failure logged')
  await clock.advance(2000)
  t.equal(credential.calls, 3, 'then after 2 s')
  await clock.advance(3999)
  t.equal(credential.calls, 3)
  await clock.advance(1)
  t.equal(credential.calls, 4, 'then after 4 s')
  await until(() => retries().length === 4, 'each failure logged')
  t.same(retries().map(l => [l.level, l.retry_in_ms, l.reason]), [1000, 2000, 4000, 8000].map(ms => ['error', ms, 'CredentialUnavailableError: ManagedIdentityCredential: no managed identity endpoint found']))

  const token = user.token()
  await user.setPassword(token)
  credential.answer = { token, lifetimeMs: HOUR }
  await clock.advance(8000)
  await until(async () => (await app.inject('/health/ready')).statusCode === 200, 'ready once a token is had')
  t.equal((await app.inject(register)).statusCode, 201)
  t.equal((await user.connections()).length, 1)
  t.notOk(logs.some(line => line.includes(token)))
})

t.test('a refresh that fails keeps the service ready while the token is valid, then 503 once it has expired', async t => {
  const env = redisEnv()
  const user = await aclUser(t, env.REDIS_KEY_PREFIX)
  const token = user.token()
  await user.setPassword(token)
  const clock = new ManualClock()
  const credential = new TestCredential(clock, { token, lifetimeMs: 10 * MINUTE })
  const { app, logs } = await service(t, env, credential, clock)

  credential.answer = Object.assign(new Error('ManagedIdentityCredential: connect ETIMEDOUT 169.254.169.254:80'), { name: 'AuthenticationError' })
  await clock.advance(5 * MINUTE) // half of a 10-minute token (shorter than 5 min + 80 %)
  t.equal(credential.calls, 2)
  const stillValid = await app.inject('/health/ready')
  t.equal(stillValid.statusCode, 200)
  t.match(stillValid.json().checks.redis_auth.detail, /^entra: refreshing the token fails \(AuthenticationError: .*ETIMEDOUT.*\); the current one is valid until /)
  await until(() => logs.some(l => l.includes('could not get a Microsoft Entra token for Redis') && JSON.parse(l).level === 'warn'), 'a warning while the token is valid')

  await clock.advance(5 * MINUTE)
  const expired = await app.inject('/health/ready')
  t.equal(expired.statusCode, 503)
  t.match(expired.json().checks.redis_auth, { ok: false, detail: /^entra: no valid Microsoft Entra token for Redis \(AuthenticationError: / })
  t.ok(credential.calls > 6, `kept retrying (${credential.calls} calls)`)
  t.ok(clock.pending.every(ms => ms <= 60000), 'retries at most a minute apart')
  t.notOk(logs.some(line => line.includes(token)))
})

t.test('a token without an oid claim is refused with that reason', async t => {
  const env = redisEnv()
  const clock = new ManualClock()
  const credential = new TestCredential(clock, { token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln', lifetimeMs: HOUR })
  const { app } = await service(t, env, credential, clock)
  const res = await app.inject('/health/ready')
  t.equal(res.statusCode, 503)
  t.equal(res.json().checks.redis_auth.detail, 'entra: no valid Microsoft Entra token for Redis (Error: the token has no oid claim (the object id Redis knows the identity by))')
})
