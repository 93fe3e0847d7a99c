import fp from 'fastify-plugin'
import { setTimeout } from 'node:timers/promises'
import { MemoryStore } from './store/memory.ts'
import { RedisStore } from './store/redis.ts'
import type { Store } from './store/contract.ts'
import { createRedisClient, type RedisClient } from './store/connection.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    /** The shared ioredis client (one node or a cluster), or null with the in-memory store. */
    redis: RedisClient | null
  }
}

/** How long a start waits for Redis before going on without it (readiness reports it meanwhile). */
const STARTUP_WAIT_MS = 2000

/**
 * The client is built here (plugins/store/connection.ts) rather than by @fastify/redis because
 * that plugin holds registration until Redis answers, and the service must start (and report 503
 * on readiness) with Redis down.
 */
export { createRedisClient }

export default fp(async function store (fastify) {
  const { config } = fastify
  if (config.redisUrl === undefined) {
    fastify.decorate('redis', null)
    fastify.decorate('store', new MemoryStore({ maxEntries: config.memoryStoreMaxEntries }))
  } else {
    const client = createRedisClient({ url: config.redisUrl, cluster: config.redisCluster })
    let lastWarning = 0
    client.on('error', (err: NodeJS.ErrnoException) => {
      // ioredis repeats the error on every reconnect attempt: say it once every 30 s.
      if (Date.now() - lastWarning < 30000) return
      lastWarning = Date.now()
      fastify.log.warn({ err: { code: err.code, message: err.message } }, 'redis connection problem; retrying in the background')
    })
    client.on('ready', () => {
      if (lastWarning !== 0) fastify.log.info('redis connection restored')
      lastWarning = 0
    })
    fastify.decorate<RedisClient | null>('redis', client)
    fastify.decorate('store', new RedisStore(client, config.redisKeyPrefix))
    // Give the first connection a bounded moment so a healthy start is ready at once;
    // an unreachable Redis does not stop the start (readiness reports it instead).
    let onReady = () => {}
    const connected = await Promise.race([
      new Promise<boolean>(resolve => { onReady = () => resolve(true); client.once('ready', onReady) }),
      setTimeout(STARTUP_WAIT_MS, false, { ref: false })
    ])
    client.off('ready', onReady)
    if (!connected) fastify.log.warn(`redis not reachable within ${STARTUP_WAIT_MS} ms; starting anyway and retrying in the background`)
  }
  // The detail names the kind of store (redis, memory), so whoever reads a 503 knows what is down.
  fastify.readinessChecks.set('store', async () => {
    const { kind } = fastify.store
    try {
      await fastify.store.ping()
    } catch (err) {
      return { ok: false, detail: `${kind}: ${(err as Error).message}` }
    }
    return { ok: true, detail: kind }
  })
  fastify.addHook('onClose', async () => { await fastify.store.close() })
}, { name: 'store', dependencies: ['config', 'readiness'] })
