import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryStore, memoryStoreBounds, storeKindOf } from '../../plugins/store/memory.ts'
import { RedisStore } from '../../plugins/store/redis.ts'
import { getJson, setJson, takeJson, type Store } from '../../plugins/store/contract.ts'
import { createRedisClient } from '../../plugins/store.ts'
import { clusterOptions, type RedisClient } from '../../plugins/store/connection.ts'
import { build, freePort, redisEnv, requireRedis, REDIS_URL } from '../helper.ts'
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.ts'

interface Subject {
  store: Store
  /** Lets `seconds` pass for every key of this store. */
  elapse: (seconds: number) => Promise<void>
}

/** The behaviour every Store implementation promises; run against memory and a real Redis. */
function contract (name: string, make: (t: Test) => Promise<Subject>) {
  t.test(`${name} store contract`, async t => {
    t.test('get of a missing key is null; set then get returns the value; set overwrites', async t => {
      const { store } = await make(t)
      t.equal(await store.get('missing'), null)
      await store.set('k', 'v1')
      t.equal(await store.get('k'), 'v1')
      await store.set('k', 'v2')
      t.equal(await store.get('k'), 'v2')
    })

    t.test('a value set with a TTL is there until the TTL passes, then gone', async t => {
      const { store, elapse } = await make(t)
      await store.set('short', 'x', 10)
      await elapse(9)
      t.equal(await store.get('short'), 'x', 'still there after 9 of 10 s')
      await elapse(2)
      t.equal(await store.get('short'), null, 'gone after 11 s')
      t.equal(await store.take('short'), null, 'take of an expired key is null')
    })

    t.test('a value set without a TTL (or TTL 0) does not expire; setting again replaces the TTL', async t => {
      const { store, elapse } = await make(t)
      await store.set('forever', 'a')
      await store.set('zero', 'b', 0)
      await store.set('replaced', 'c', 5)
      await store.set('replaced', 'd')
      await elapse(100000)
      t.equal(await store.get('forever'), 'a')
      t.equal(await store.get('zero'), 'b')
      t.equal(await store.get('replaced'), 'd')
    })

    t.test('take returns the value once and deletes it', async t => {
      const { store } = await make(t)
      await store.set('once', 'code', 60)
      t.equal(await store.take('once'), 'code')
      t.equal(await store.take('once'), null)
      t.equal(await store.get('once'), null)
      t.equal(await store.take('never-set'), null)
    })

    t.test('100 parallel takes of one key: exactly one wins', async t => {
      const { store } = await make(t)
      for (let round = 0; round < 3; round++) {
        await store.set('contended', `value-${round}`, 60)
        const results = await Promise.all(Array.from({ length: 100 }, () => store.take('contended')))
        const winners = results.filter(r => r !== null)
        t.equal(winners.length, 1, `round ${round}: one winner`)
        t.equal(winners[0], `value-${round}`)
      }
    })

    t.test('delete removes a key; deleting a missing key is fine', async t => {
      const { store } = await make(t)
      await store.set('d', 'x', 60)
      await store.delete('d')
      t.equal(await store.get('d'), null)
      await store.delete('d')
    })

    t.test('incr counts from 1; the TTL starts with the first increment and is not extended', async t => {
      const { store, elapse } = await make(t)
      t.equal(await store.incr('counter', 10), 1)
      t.equal(await store.incr('counter', 10), 2)
      await elapse(6)
      t.equal(await store.incr('counter', 10), 3, 'same window')
      await elapse(5)
      t.equal(await store.get('counter'), null, 'window over 11 s after the first increment')
      t.equal(await store.incr('counter', 10), 1, 'a new window starts')
    })

    t.test('100 parallel increments give 1..100', async t => {
      const { store } = await make(t)
      const counts = await Promise.all(Array.from({ length: 100 }, () => store.incr('parallel', 60)))
      t.same([...counts].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1))
    })

    t.test('getMany returns values in order, null for missing and expired keys', async t => {
      const { store, elapse } = await make(t)
      t.same(await store.getMany([]), [])
      await store.set('m1', 'one')
      await store.set('m2', 'two', 5)
      await store.set('m3', 'three', 60)
      t.same(await store.getMany(['m1', 'nope', 'm2', 'm3']), ['one', null, 'two', 'three'])
      await elapse(10)
      t.same(await store.getMany(['m1', 'nope', 'm2', 'm3']), ['one', null, null, 'three'])
    })

    t.test('getManyWithEpoch returns values in order with one epoch that stays, for keys of one hash slot or of several', async t => {
      const { store } = await make(t)
      await store.set('revoked:jti:{g1}:j1', '1', 60)
      await store.set('other', 'x', 60)
      const first = await store.getManyWithEpoch(['revoked:jti:{g1}:j1', 'revoked:grant:{g1}'])
      t.same(first.values, ['1', null])
      t.ok(Math.abs(first.epoch - Date.now() / 1000) < 3600 * 24 * 365 * 10, `epoch seconds: ${first.epoch}`)
      const second = await store.getManyWithEpoch(['other', 'revoked:jti:{g1}:j1', 'missing'])
      t.same(second.values, ['x', '1', null])
      t.equal(second.epoch, first.epoch, 'the epoch stays')
      t.equal(second.reset, false, 'only the first read of a store writes it')
      t.same((await store.getManyWithEpoch([])).values, [])
    })

    t.test('JSON helpers round-trip values', async t => {
      const { store } = await make(t)
      await setJson(store, 'j', { a: 1, b: ['x'] }, 60)
      t.same(await getJson(store, 'j'), { a: 1, b: ['x'] })
      t.same(await takeJson(store, 'j'), { a: 1, b: ['x'] })
      t.equal(await getJson(store, 'j'), null)
      t.equal(await takeJson(store, 'j'), null)
    })

    t.test('a sorted index lists highest scores first up to a limit; adding again moves a member; remove and count', async t => {
      const { store } = await make(t)
      const keep = { expired: 0, ttlSeconds: 60 }
      t.same(await store.indexRange('grant-index:t', { expired: 0, limit: 10 }), [], 'a missing index is empty')
      t.equal(await store.indexCount('grant-index:t', 0), 0)
      for (const [member, score] of [['a', 10], ['b', 30], ['c', 20], ['d', 40]] as const) await store.indexAdd('grant-index:t', member, score, keep)
      t.same(await store.indexRange('grant-index:t', { expired: 0, limit: 3 }), [{ member: 'd', score: 40 }, { member: 'b', score: 30 }, { member: 'c', score: 20 }])
      await store.indexAdd('grant-index:t', 'a', 50, keep)
      t.same((await store.indexRange('grant-index:t', { expired: 0, limit: 10 })).map(e => e.member), ['a', 'd', 'b', 'c'], 'a moved to the top, not added twice')
      await store.indexRemove('grant-index:t', ['d', 'missing'])
      await store.indexRemove('grant-index:t', [])
      t.equal(await store.indexCount('grant-index:t', 0), 3)
      t.equal(await store.indexCount('grant-index:t', 20), 2, 'counts only scores above the expired mark')
      t.same(await store.indexRange('grant-index:t', { expired: 0, limit: 0 }), [])
    })

    t.test('a sorted index drops members at or below the expired mark on read and on add, for good', async t => {
      const { store } = await make(t)
      for (const [member, score] of [['old', 100], ['edge', 200], ['new', 300]] as const) await store.indexAdd('grant-index:e', member, score, { expired: 0, ttlSeconds: 60 })
      t.same((await store.indexRange('grant-index:e', { expired: 200, limit: 10 })).map(e => e.member), ['new'])
      t.same((await store.indexRange('grant-index:e', { expired: 0, limit: 10 })).map(e => e.member), ['new'], 'dropped, not only hidden')
      await store.indexAdd('grant-index:f', 'stale', 5, { expired: 0, ttlSeconds: 60 })
      await store.indexAdd('grant-index:f', 'fresh', 50, { expired: 10, ttlSeconds: 60 })
      t.equal(await store.indexCount('grant-index:f', 0), 1, 'an add drops what expired')
    })

    t.test('a sorted index key expires as a whole after its TTL (renewed by each add; 0: none)', async t => {
      const { store, elapse } = await make(t)
      await store.indexAdd('grant-index:ttl', 'a', 1, { expired: 0, ttlSeconds: 10 })
      await store.indexAdd('grant-index:forever', 'a', 1, { expired: 0, ttlSeconds: 0 })
      await elapse(8)
      await store.indexAdd('grant-index:ttl', 'b', 2, { expired: 0, ttlSeconds: 10 })
      await elapse(8)
      t.equal(await store.indexCount('grant-index:ttl', 0), 2, 'the second add renewed it')
      await elapse(3)
      t.equal(await store.indexCount('grant-index:ttl', 0), 0)
      t.equal(await store.indexCount('grant-index:forever', 0), 1)
      await store.delete('grant-index:forever')
      t.same(await store.indexRange('grant-index:forever', { expired: 0, limit: 5 }), [], 'delete removes an index')
    })

    t.test('ping answers', async t => {
      const { store } = await make(t)
      await t.resolves(store.ping())
    })
  })
}

contract('memory', async t => {
  let clock = 1_700_000_000_000
  const store = new MemoryStore({ now: () => clock })
  t.teardown(() => store.close())
  return { store, elapse: async seconds => { clock += seconds * 1000 } }
})

/** A RedisStore on the local Redis under a key prefix of its own; its keys are deleted when the test ends. */
async function openRedisStore (t: Test) {
  await requireRedis()
  const prefix = redisEnv().REDIS_KEY_PREFIX
  const client = createRedisClient(REDIS_URL)
  await new Promise(resolve => client.once('ready', resolve))
  const store = new RedisStore(client, prefix)
  t.teardown(async () => {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    await store.close()
  })
  return { client, prefix, store }
}

/** Time passes for Redis by shortening each key's remaining TTL (PEXPIRE precision, no sleeping for seconds). */
function elapseOn (client: RedisClient, prefix: string) {
  const keysOf = async () => 'nodes' in client
    ? (await Promise.all(client.nodes('master').map(async node => await node.keys(`${prefix}*`)))).flat()
    : await client.keys(`${prefix}*`)
  return async (seconds: number) => {
    for (const key of await keysOf()) {
      const left = await client.pttl(key)
      if (left < 0) continue
      if (left - seconds * 1000 > 0) {
        await client.pexpire(key, left - seconds * 1000)
      } else {
        await client.pexpire(key, 1)
        while (await client.exists(key) === 1) await sleep(2)
      }
    }
  }
}

contract('redis', async t => {
  const { client, prefix, store } = await openRedisStore(t)
  return { store, elapse: elapseOn(client, prefix) }
})

// A Redis Cluster of three primaries and three replicas (as Azure runs it), started once for this file.
let cluster: Promise<RedisClusterHandle> | undefined
t.teardown(async () => { await (await cluster)?.stop() })

contract('redis cluster', async t => {
  cluster ??= startRedisCluster({ primaries: 3, replicas: 1 })
  const { url } = await cluster
  const client = createRedisClient({ url, cluster: true })
  await new Promise(resolve => client.once('ready', resolve))
  const prefix = `test:${Math.random().toString(36).slice(2, 10)}:`
  const store = new RedisStore(client, prefix)
  t.teardown(() => store.close())
  return { store, elapse: elapseOn(client, prefix) }
})

t.test('redis store: keys carry the prefix and TTLs are real Redis TTLs', async t => {
  const { client, prefix, store } = await openRedisStore(t)
  await store.set('k', 'v', 30)
  t.equal(await client.get(`${prefix}k`), 'v')
  const ttl = await client.pttl(`${prefix}k`)
  t.ok(ttl > 29000 && ttl <= 30000, `PTTL ${ttl}`)
  await store.incr('n', 40)
  const incrTtl = await client.pttl(`${prefix}n`)
  t.ok(incrTtl > 39000 && incrTtl <= 40000, `PTTL ${incrTtl}`)
})

t.test('redis store: an unreachable server fails fast with a 503 StoreUnavailableError', async t => {
  const client = createRedisClient(`redis://127.0.0.1:${await freePort()}`)
  const store = new RedisStore(client)
  t.teardown(() => store.close())
  for (const op of [() => store.get('k'), () => store.set('k', 'v', 1), () => store.take('k'), () => store.incr('k', 1), () => store.getMany(['k']), () => store.ping()]) {
    const started = Date.now()
    await t.rejects(op() as Promise<unknown>, { code: 'FST_ERR_STORE_UNAVAILABLE', statusCode: 503 })
    t.ok(Date.now() - started < 500, 'no wait for a connection')
  }
})

t.test('redis cluster store: a cluster that cannot be reached fails fast with a 503 StoreUnavailableError, ping included', async t => {
  const client = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}`, cluster: true })
  client.on('error', () => {})
  const store = new RedisStore(client)
  t.teardown(() => store.close())
  for (const op of [() => store.get('k'), () => store.set('k', 'v', 1), () => store.take('k'), () => store.incr('k', 1), () => store.getMany(['a', 'b']), () => store.getManyWithEpoch(['k']), () => store.ping()]) {
    const started = Date.now()
    await t.rejects(op() as Promise<unknown>, { code: 'FST_ERR_STORE_UNAVAILABLE', statusCode: 503 })
    t.ok(Date.now() - started < 500, 'no wait for a connection')
  }
})

t.test('memory store: filling the transactions never evicts revocations, clients or grants', async t => {
  const store = new MemoryStore({ maxEntries: 100 })
  t.teardown(() => store.close())
  await store.set('revoked:jti:j1', '1', 900)
  await store.set('client:c1', '{}')
  await store.set('grant:g1', '{}', 3600)
  await store.set('rt:r1', '{}', 3600)
  await store.set('client-jti:a1', '1', 300)
  const { transaction } = memoryStoreBounds(100)
  for (let i = 0; i < transaction; i++) await store.set(`tx:${i}`, '{}', 600)
  await t.rejects(store.set('tx:one-more', '{}', 600), { code: 'FST_ERR_STORE_FULL', statusCode: 503, kind: 'transaction' })
  t.equal(await store.get('tx:one-more'), null, 'the refused write left nothing')
  for (const key of ['revoked:jti:j1', 'client:c1', 'grant:g1', 'rt:r1', 'client-jti:a1', 'tx:0']) {
    t.not(await store.get(key), null, `${key} is still there`)
  }
  await store.set('tx:0', '{"again":true}', 600)
  t.equal(await store.get('tx:0'), '{"again":true}', 'rewriting a key that exists is never refused')
  await store.take('tx:1')
  await t.resolves(store.set('tx:after-take', '{}', 600), 'a taken transaction frees its place')
})

t.test('memory store: each kind has its own bound; clients and sign-in state refuse, caches evict their oldest', async t => {
  let clock = 0
  const store = new MemoryStore({ maxEntries: 100, now: () => clock })
  t.teardown(() => store.close())
  const bounds = memoryStoreBounds(100)
  t.same(bounds, { grant: 100, transaction: 10, client: 10, cache: 10, revocation: Infinity })

  for (let i = 0; i < bounds.client; i++) await store.set(`client:${i}`, '{}')
  await t.rejects(store.set('client:more', '{}'), { code: 'FST_ERR_STORE_FULL', kind: 'client' })
  t.equal(await store.get('client:0'), '{}')

  for (let i = 0; i < bounds.grant; i++) await store.incr(`code-use:${i}`, 600)
  await t.rejects(store.incr('rt-use:more', 600), { code: 'FST_ERR_STORE_FULL', kind: 'grant' })
  await t.rejects(store.set('an-unknown-kind:x', '1'), { code: 'FST_ERR_STORE_FULL', kind: 'grant' }, 'unknown prefixes count as sign-in state')
  t.equal(await store.get('code-use:0'), '1')

  for (let i = 0; i < 30; i++) await store.set(`cimd:${i}`, '{}', 300)
  t.equal(await store.get('cimd:19'), null, 'caches drop their oldest')
  t.equal(await store.get('cimd:20'), '{}')
  t.equal(await store.get('cimd:29'), '{}')
  for (let i = 0; i < 30; i++) await store.incr(`client-jwks-refetch:${i}`, 300)
  t.equal(await store.get('cimd:29'), null, 'one bound for every cache')

  for (let i = 0; i < 500; i++) await store.set(`revoked:jti:${i}`, '1', 900)
  t.equal(await store.get('revoked:jti:0'), '1', 'revocations are never refused nor evicted')

  clock += 601_000
  await t.resolves(store.set('code:fresh', '{}', 60), 'expired entries are swept before refusing')
})

t.test('memory store: an index holds at most its kind\'s bound of members; expired ones make room, live ones are never dropped', async t => {
  const store = new MemoryStore({ maxEntries: 100 })
  t.teardown(() => store.close())
  for (let i = 0; i < 100; i++) await store.indexAdd('grant-index:all', `g${i}`, 1000 + i, { expired: 0, ttlSeconds: 60 })
  await t.rejects(store.indexAdd('grant-index:all', 'one-more', 5000, { expired: 0, ttlSeconds: 60 }), { code: 'FST_ERR_STORE_FULL', kind: 'grant' })
  await store.indexAdd('grant-index:all', 'g0', 2000, { expired: 0, ttlSeconds: 60 })
  t.equal(await store.indexCount('grant-index:all', 0), 100, 'moving a member takes no room; nothing was dropped')
  await store.indexAdd('grant-index:all', 'one-more', 5000, { expired: 1010, ttlSeconds: 60 })
  t.equal(await store.indexCount('grant-index:all', 0), 91, 'the ten expired (g1..g10) made room for it')
  t.equal(storeKindOf('grant-index:user:t:o'), 'grant', 'indexes are bounded as sign-in state')
  t.equal(storeKindOf('client-index:registered'), 'grant')
})

t.test('memory store: a full kind is swept of expired entries before a write is refused', async t => {
  let clock = 0
  const store = new MemoryStore({ maxEntries: 100, now: () => clock })
  t.teardown(() => store.close())
  for (let i = 0; i < 10; i++) await store.set(`tx:${i}`, '{}', 600)
  await t.rejects(store.set('tx:10', '{}', 600), { code: 'FST_ERR_STORE_FULL', kind: 'transaction' })
  clock += 601_000
  await store.set('tx:10', '{}', 600)
  t.equal(await store.get('tx:10'), '{}')
})

t.test('the memory store\'s kinds come from the key prefixes the service writes', async t => {
  const cases: Record<string, string> = {
    'revoked:jti:x': 'revocation',
    'revoked:grant:x': 'revocation',
    'tx:x': 'transaction',
    'client:x': 'client',
    'cimd:x': 'cache',
    'client-jwks:x': 'cache',
    'client-jwks-refetch:x': 'cache',
    'grant:x': 'grant',
    'code:x': 'grant',
    'code-use:x': 'grant',
    'rt:x': 'grant',
    'rt-use:x': 'grant',
    'consent:s:c': 'grant',
    'client-jti:x': 'grant',
    whatever: 'grant'
  }
  for (const [key, kind] of Object.entries(cases)) t.equal(storeKindOf(key), kind, key)
})

t.test('the store plugin picks Redis when REDIS_URL is set, memory otherwise', async t => {
  let memory: FastifyInstance | undefined
  await build(t, {}, { setup: app => { memory = app } })
  t.equal(memory?.store.kind, 'memory')
  t.equal(memory?.redis, null)

  await requireRedis()
  const env = redisEnv()
  let redis: FastifyInstance | undefined
  await build(t, env, { setup: app => { redis = app } })
  t.equal(redis?.store.kind, 'redis')
  t.ok(redis?.redis !== null)
  await redis?.store.set('plugin-check', 'ok', 10)
  t.equal(await redis?.redis?.get(`${env.REDIS_KEY_PREFIX}plugin-check`), 'ok')
  await redis?.store.delete('plugin-check')
})

t.test('REDIS_CLUSTER with a rediss:// URL (Azure Managed Redis): TLS to every node under the host\'s name, primaries only, no offline queue', async t => {
  const options = clusterOptions('rediss://:access-key@name.westeurope.redis.azure.net:10000')
  t.same(options.redisOptions?.tls, { servername: 'name.westeurope.redis.azure.net' }, 'TLS checks the public host name, whatever address a node announces')
  t.equal(options.redisOptions?.password, 'access-key')
  t.equal(options.scaleReads, 'master', 'never a lagging replica (a fresh revocation must be seen)')
  t.equal(options.enableOfflineQueue, false)
  t.ok((options.redisOptions?.commandTimeout ?? Infinity) <= 2000, 'bounded command time on every node')
  let looked: string | undefined
  options.dnsLookup?.('10.0.0.7', (_err, address) => { looked = address })
  t.equal(looked, '10.0.0.7', 'announced addresses are used as they are')
  t.notOk(clusterOptions('redis://127.0.0.1:7000').redisOptions?.tls, 'redis:// has no TLS')
  t.equal(clusterOptions('redis://u:p@h:1', { password: 'from-a-credential' }).redisOptions?.password, 'from-a-credential', 'connection options given to createRedisClient win over the URL')
})

t.test('a rediss:// URL (Azure Cache for Redis) gives a TLS client on its port with the access key', async t => {
  const client = createRedisClient('rediss://:access-key@name.redis.cache.windows.net:6380')
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  t.ok(client.options.tls, 'TLS on')
  t.equal(client.options.port, 6380)
  t.equal(client.options.host, 'name.redis.cache.windows.net')
  t.equal(client.options.password, 'access-key')
  t.equal(client.options.enableOfflineQueue, false, 'commands fail at once while disconnected')
  t.ok((client.options.commandTimeout ?? Infinity) <= 2000, 'bounded command time')
  t.ok((client.options.connectTimeout ?? Infinity) <= 2000, 'bounded connect time')
})
