import fp from 'fastify-plugin'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { RateRule } from '../config/index.ts'
import { RATE_LIMIT_FAMILIES, type RateLimitFamily, consumerKey, type CallerClaims } from './rate-limit/keys.ts'
import { MemoryCounter, RedisCounter, rateLimitStore, type Counter } from './rate-limit/counter.ts'
import { bearerBuckets, type RateLimitResult } from './rate-limit/buckets.ts'
import { createCounting } from './rate-limit/counting.ts'
import { createCheck } from './rate-limit/check.ts'
import { createRateLimitHooks } from './rate-limit/hooks.ts'
import type { EpochRead } from './store/contract.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** True from the /mcp onRequest check until `limitBearer` counts the request (its token must verify first). */
    bearerUncounted: boolean
  }
  interface FastifyContextConfig {
    /** Opt a route into a rate-limit family; routes without one are never limited. */
    rateLimitFamily?: RateLimitFamily
  }
  interface FastifyInstance {
    /**
     * Counts one hit for `key` in `family` (e.g. `tool:whoami`, key `tid:oid`) against `rule`,
     * in the same shared counters as the route limits. For limits decided inside a handler.
     */
    consumeRateLimit: (family: string, key: string, rule: RateRule) => Promise<RateLimitResult>
    /**
     * The one store round trip of a bearer request, once its token was checked: counts the budgets
     * of an /mcp request (`caller`: the verified caller, its user budget and the IP ceiling; null for
     * a token that did not verify: the IP ceiling only) and reads `reads` with the store epoch in the
     * same step (`Store.getManyWithEpoch`). A request over a limit is answered here (429/503, the
     * reply is sent); otherwise the entries read, or undefined when none were asked for.
     */
    limitBearer: (request: FastifyRequest, reply: FastifyReply, caller: CallerClaims | null, reads?: string[]) => Promise<EpochRead | undefined>
  }
}

/** Unknown family names are a programming error: refused when the route is declared. */
function refuseUnknownFamily (routeOptions: RouteOptions) {
  const family = routeOptions.config?.rateLimitFamily
  if (family !== undefined && !(RATE_LIMIT_FAMILIES as readonly string[]).includes(family)) {
    throw new Error(`Unknown rateLimitFamily "${family}" on ${String(routeOptions.method)} ${routeOptions.url}; expected one of ${RATE_LIMIT_FAMILIES.join(', ')}`)
  }
}

/**
 * Rate limits shared across instances (design-notes §6, docs/rate-limit-and-audit.md).
 *
 * Counting goes through @fastify/rate-limit's `createRateLimit` with a store of our own (Redis
 * from the store plugin, or memory), keyed `rl:{family}:{key}` (rate-limit/counting.ts); the check
 * and the answer are ours (rate-limit/check.ts, answer.ts): routes opt in with
 * `config.rateLimitFamily`, the check runs at onRequest (before any JWT or JWKS work), except for
 * /mcp with a bearer token, counted by `limitBearer` once the token is checked; which counters a
 * request counts is rate-limit/buckets.ts.
 */
export default fp(async function rateLimit (fastify) {
  const { config } = fastify
  const settings = config.rateLimit
  const counter: Counter = fastify.redis !== null
    ? new RedisCounter(fastify.redis, config.redisKeyPrefix)
    : new MemoryCounter({ maxEntries: config.memoryStoreMaxEntries })

  await fastify.register(fastifyRateLimit, {
    global: false, // only routes with a family are limited; health probes never are
    store: rateLimitStore(counter) as any,
    skipOnError: false // store errors reach us, and RATE_LIMIT_FAIL_OPEN decides
  })
  const counting = createCounting(fastify, counter, settings.failOpen)
  const { check, refuseKnown } = createCheck(fastify, counting)

  fastify.decorate('consumeRateLimit', async function consumeRateLimit (family: string, key: string, rule: RateRule): Promise<RateLimitResult> {
    if (!settings.enabled) return { allowed: true, limit: rule.max, remaining: rule.max, resetSeconds: rule.windowSeconds }
    const { bucket: _bucket, uncounted: _uncounted, ...result } = await counting.hit({ name: `${consumerKey(family)}:${consumerKey(key)}`, rule, keyKind: 'user' })
    return result
  })

  async function limitBearer (request: FastifyRequest, reply: FastifyReply, caller: CallerClaims | null, reads?: string[]): Promise<EpochRead | undefined> {
    if (!request.bearerUncounted) return reads === undefined ? undefined : await fastify.store.getManyWithEpoch(reads)
    request.bearerUncounted = false
    const read = await check(request, reply, 'mcp', bearerBuckets(request.ip, caller, settings), caller, reads)
    if (reply.sent || reads === undefined) return undefined
    // A memory counter, or Redis counters that could not be reached (fail-open): the store reads them.
    return read ?? await fastify.store.getManyWithEpoch(reads)
  }
  fastify.decorate('limitBearer', limitBearer)
  fastify.decorateRequest('bearerUncounted', false)

  if (!settings.enabled) return

  fastify.addHook('onRoute', refuseUnknownFamily)

  // Hooks on the root, added before the token, OAuth and MCP plugins register: they run before
  // every hook those plugins add (at any level), so nothing else, least of all JWT work, runs
  // for a refused request. Routes without a family pay one property lookup.
  const { rateLimitOnRequest, rateLimitLater } = createRateLimitHooks({ check, refuseKnown }, limitBearer, settings)
  fastify.addHook('onRequest', rateLimitOnRequest)
  fastify.addHook('preValidation', rateLimitLater)
}, { name: 'rate-limit', dependencies: ['config', 'store', 'audit-log'] })
