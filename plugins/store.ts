import fp from 'fastify-plugin'
import { setTimeout } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { TokenCredential } from '@azure/identity'
import { MemoryStore } from './store/memory.ts'
import { RedisStore } from './store/redis.ts'
import { RedisTokenAuth, entraCredential, type AuthClock } from './store/entra-auth.ts'
import type { Store } from './store/contract.ts'
import { createRedisClient, isCluster, type RedisClient } from './store/connection.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    /** The shared ioredis client (one node or a cluster), or null with the in-memory store. */
    redis: RedisClient | null
    /**
     * A connection of its own, for blocking reads (XREAD BLOCK would hold the shared one), made as the
     * shared client is (same target, options, Microsoft Entra authentication); its caller closes it.
     * Null with the in-memory store.
     */
    dedicatedRedis: ((overrides: { commandTimeout: number, connectionName: string }) => RedisClient) | null
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

/** Test seams of Microsoft Entra authentication to Redis (REDIS_AUTH=entra). */
export interface StoreOptions {
  /** Instead of the managed identity that config chooses. */
  redisCredential?: TokenCredential
  /** The clock of the token refresh. */
  redisAuthClock?: AuthClock
}

/**
 * REDIS_AUTH=entra: the client (one node or a cluster) is made without connecting and connects once a
 * token is there; every
 * connection is re-authenticated before the token expires; readiness reports a missing token.
 */
async function entraAuth (fastify: FastifyInstance, opts: StoreOptions, client: RedisClient): Promise<RedisTokenAuth | undefined> {
  const settings = fastify.config.redisEntraAuth
  if (settings === undefined) return undefined
  const credential = opts.redisCredential ?? await entraCredential(settings)
  const auth = new RedisTokenAuth({ credential, log: fastify.log, clock: opts.redisAuthClock })
  if (isCluster(client)) auth.attachCluster(client)
  else auth.attach(client)
  auth.start().catch(() => {})
  fastify.readinessChecks.set('redis_auth', async () => auth.readiness())
  fastify.addHook('onClose', async () => { auth.stop() })
  return auth
}

export default fp<StoreOptions>(async function store (fastify, opts) {
  const { config } = fastify
  if (config.redisUrl === undefined) {
    fastify.decorate('redis', null)
    fastify.decorate('dedicatedRedis', null)
    fastify.decorate('store', new MemoryStore({ maxEntries: config.memoryStoreMaxEntries }))
  } else {
    const client = createRedisClient({ url: config.redisUrl, cluster: config.redisCluster }, config.redisEntraAuth === undefined ? {} : { lazyConnect: true })
    const auth = await entraAuth(fastify, opts, client)
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
    fastify.decorate('dedicatedRedis', function dedicatedRedis (overrides: { commandTimeout: number, connectionName: string }) {
      const copy = isCluster(client)
        ? client.duplicate([], { redisOptions: { ...client.options.redisOptions, ...overrides } })
        : client.duplicate(overrides)
      if (auth !== undefined) {
        if (isCluster(copy)) auth.attachCluster(copy)
        else auth.attach(copy)
      }
      return copy
    })
    fastify.decorate('store', new RedisStore(client, config.redisKeyPrefix))
    // Give the first connection a bounded moment so a healthy start is ready at once;
    // an unreachable Redis does not stop the start (readiness reports it instead).
    let onReady = () => {}
    const connected = await Promise.race([
      new Promise<boolean>(resolve => { onReady = () => resolve(true); client.once('ready', onReady) }),
      setTimeout(STARTUP_WAIT_MS, false, { ref: false })
    ])
    client.off('ready', onReady)
    const missing = auth !== undefined && auth.valid === undefined ? 'no Microsoft Entra token for Redis' : 'redis not reachable'
    if (!connected) fastify.log.warn(`${missing} within ${STARTUP_WAIT_MS} ms; starting anyway and retrying in the background`)
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
