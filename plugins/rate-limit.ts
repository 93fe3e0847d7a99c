import fp from 'fastify-plugin'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preValidationAsyncHookHandler } from 'fastify'
import type { RateRule } from '../config/index.ts'
import { createThrottle } from './audit-log.ts'
import {
  RATE_LIMIT_FAMILIES, type RateLimitFamily, ipKey, keyPart, subjectKey, unverifiedBearerClaims,
  basicClientId, formClientId, consumerKey, type UnverifiedClaims
} from './rate-limit-keys.ts'
import { MemoryCounter, RedisCounter, rateLimitStore, type Counter, type CounterResult } from './rate-limit-store.ts'
import { memoizeBounded, revocationKeys } from './token-rules.ts'

export interface RateLimitResult {
  allowed: boolean
  limit: number
  remaining: number
  /** Seconds until the window ends (also the Retry-After when not allowed). */
  resetSeconds: number
  /** Set when the counters could not be reached and RATE_LIMIT_FAIL_OPEN is false. */
  unavailable?: true
}

/** Store entries read in the rate-limit round trip, in the order of `keys` (null: absent). */
export interface PrefetchedReads {
  keys: readonly string[]
  values: ReadonlyArray<string | null>
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the /mcp rate-limit check with Redis counters: the token's revocation entries. */
    prefetchedReads: PrefetchedReads | null
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
  }
}

/** One counter a request is checked against. */
interface Bucket {
  /** `{family}:{key}`: the counter's name in the store (after `rl:`). */
  name: string
  rule: RateRule
  /** What the key is made of, for the audit line. */
  keyKind: 'user' | 'ip' | 'client' | 'ip_ceiling'
}

/** `uncounted`: the counters could not be reached and the request was let through (fail-open). */
type Outcome = RateLimitResult & { bucket: Bucket, uncounted?: true }

const RETRY_WHEN_UNAVAILABLE = 5

/** The counters an onRequest check uses for a family (pure; exported for tests). */
export function onRequestBuckets (family: RateLimitFamily, ip: string, claims: UnverifiedClaims | null, rules: {
  register: RateRule, authorize: RateRule, token: RateRule, revoke: RateRule, mcp: RateRule, mcpPerIp: RateRule, tokenPerIp: RateRule
}): Bucket[] {
  const addr = ipKey(ip)
  switch (family) {
    case 'mcp': {
      const subject = subjectKey(claims)
      if (subject === null) return [{ name: `mcp:${addr}`, rule: rules.mcp, keyKind: 'ip' }]
      // The subject comes from a token not verified yet: the IP ceiling bounds what forged
      // tokens naming made-up users can spend before the verifier turns them away.
      return [
        { name: `mcp:${subject}`, rule: rules.mcp, keyKind: 'user' },
        { name: `mcp-ip:${addr}`, rule: rules.mcpPerIp, keyKind: 'ip_ceiling' }
      ]
    }
    case 'token':
      // The client id is in the body, not parsed yet: only the IP ceiling here; the
      // per-client budget is counted at preValidation (see tokenClientBucket).
      return [{ name: `token-ip:${addr}`, rule: rules.tokenPerIp, keyKind: 'ip_ceiling' }]
    default:
      return [{ name: `${family}:${addr}`, rule: rules[family], keyKind: 'ip' }]
  }
}

/** /token's budget per client id and IP, once the body is parsed (pure; exported for tests). */
export function tokenClientBucket (ip: string, clientId: string | null, rule: RateRule): Bucket {
  const addr = ipKey(ip)
  return clientId === null
    ? { name: `token:${addr}`, rule, keyKind: 'ip' }
    : { name: `token:client:${keyPart(clientId)}:${addr}`, rule, keyKind: 'client' }
}

/** The most telling outcome for the headers: a refusal first, else the one with least room. */
export function decisive (outcomes: Outcome[]): Outcome {
  return outcomes.reduce((a, b) => {
    if (a.allowed !== b.allowed) return a.allowed ? b : a
    if (a.remaining !== b.remaining) return a.remaining < b.remaining ? a : b
    return a.resetSeconds >= b.resetSeconds ? a : b
  })
}

/**
 * Rate limits shared across instances (design-notes §6, docs/rate-limit-and-audit.md).
 *
 * Counting goes through @fastify/rate-limit's `createRateLimit` with a store of our own (Redis
 * from the store plugin, or memory), keyed `rl:{family}:{key}`; the check and the answer are ours:
 * routes opt in with `config.rateLimitFamily`, the check runs at onRequest (before any JWT or
 * JWKS work), and a refusal speaks the family's dialect (JSON-RPC on /mcp, RFC 6749 elsewhere).
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

  // One limiter per rule; the key travels on a small carrier object (the library's
  // keyGenerator receives whatever is passed as the request).
  type Limiter = ReturnType<typeof fastify.createRateLimit>
  const limiters = new Map<string, Limiter>()
  function limiterFor (rule: RateRule): Limiter {
    const id = `${rule.max}/${rule.windowSeconds}`
    let limiter = limiters.get(id)
    if (limiter === undefined) {
      limiter = fastify.createRateLimit({
        max: rule.max,
        timeWindow: rule.windowSeconds * 1000,
        keyGenerator: (carrier) => (carrier as unknown as { bucket: string }).bucket
      })
      limiters.set(id, limiter)
    }
    return limiter
  }

  const outageWarning = createThrottle(60000)
  let inOutage = false

  function reachable () {
    if (inOutage) {
      inOutage = false
      fastify.log.info('rate limit counters reachable again')
    }
  }

  /** The counters could not be reached: warn and audit (at most once a minute). */
  function unreachable (err: unknown, request?: FastifyRequest) {
    inOutage = true
    if (outageWarning()) {
      const policy = settings.failOpen ? 'fail_open' : 'fail_closed'
      const e = err as NodeJS.ErrnoException
      ;(request?.log ?? fastify.log).warn({ err: { code: e.code, message: e.message }, policy },
        settings.failOpen ? 'rate limit counters unavailable: letting requests through (RATE_LIMIT_FAIL_OPEN)' : 'rate limit counters unavailable: refusing limited requests with 503 (RATE_LIMIT_FAIL_OPEN=false)')
      fastify.audit('rate_limit.unavailable', { outcome: 'failure', reason: 'store_unavailable', policy }, request)
    }
  }

  /** What RATE_LIMIT_FAIL_OPEN makes of a counter that could not be reached. */
  function uncountable (bucket: Bucket): Outcome {
    return settings.failOpen
      ? { allowed: true, uncounted: true, limit: bucket.rule.max, remaining: bucket.rule.max, resetSeconds: bucket.rule.windowSeconds, bucket }
      : { allowed: false, unavailable: true, limit: bucket.rule.max, remaining: 0, resetSeconds: RETRY_WHEN_UNAVAILABLE, bucket }
  }

  async function hit (bucket: Bucket, request?: FastifyRequest): Promise<Outcome> {
    const carrier = { bucket: bucket.name, routeOptions: { config: {} } } as unknown as FastifyRequest
    try {
      const r = await limiterFor(bucket.rule)(carrier)
      reachable()
      if (r.isAllowed) return { allowed: true, limit: bucket.rule.max, remaining: bucket.rule.max, resetSeconds: bucket.rule.windowSeconds, bucket }
      return { allowed: !r.isExceeded, limit: r.max, remaining: r.remaining, resetSeconds: Math.max(1, r.ttlInSeconds), bucket }
    } catch (err) {
      unreachable(err, request)
      return uncountable(bucket)
    }
  }

  /**
   * Several counters of one request (/mcp: the user's and the IP ceiling) in one step: one
   * Redis round trip instead of one per counter. Same arithmetic as the library's limiter
   * (exceeded when the count passes max; remaining never below 0; the reset rounded up).
   */
  async function hitAll (buckets: Bucket[], request: FastifyRequest, reads?: readonly string[]): Promise<Outcome[]> {
    if (buckets.length === 1) return [await hit(buckets[0], request)]
    let results: CounterResult[]
    try {
      const many = await counter.incrMany(buckets.map(b => ({ key: b.name, windowMs: b.rule.windowSeconds * 1000 })), reads)
      results = many.counts
      if (reads !== undefined && many.values !== undefined) request.prefetchedReads = { keys: reads, values: many.values }
    } catch (err) {
      unreachable(err, request)
      return buckets.map(uncountable)
    }
    reachable()
    return buckets.map((bucket, i) => {
      const { current, ttlMs } = results[i]
      const max = bucket.rule.max
      return { allowed: current <= max, limit: max, remaining: Math.max(0, max - current), resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)), bucket }
    })
  }

  // rate_limit.exceeded is audited once per counter and window on each instance, not for every
  // refused request, so a flood cannot flood the audit trail too.
  const audited = new Map<string, number>()
  function auditExceeded (request: FastifyRequest, family: string, outcome: Outcome, claims: UnverifiedClaims | null) {
    const now = Date.now()
    const until = audited.get(outcome.bucket.name)
    if (until !== undefined && until > now) return
    if (audited.size >= 10000) audited.clear()
    audited.set(outcome.bucket.name, now + outcome.resetSeconds * 1000)
    fastify.audit('rate_limit.exceeded', {
      outcome: 'denied',
      reason: 'rate_limited',
      family,
      key_kind: outcome.bucket.keyKind,
      limit: outcome.limit,
      window_seconds: outcome.bucket.rule.windowSeconds,
      retry_after: outcome.resetSeconds,
      // from the token as presented: not verified at this point
      ...(claims !== null && outcome.bucket.keyKind === 'user' ? { oid: claims.oid, tid: claims.tid, client_id: claims.clientId, identity: 'unverified' } : {})
    }, request)
  }

  function refuse (reply: FastifyReply, family: RateLimitFamily, outcome: Outcome) {
    const status = outcome.unavailable === true ? 503 : 429
    const message = outcome.unavailable === true
      ? 'Rate limiting is unavailable and this service is set to refuse requests meanwhile (RATE_LIMIT_FAIL_OPEN=false); retry shortly'
      : `Rate limit exceeded; retry in ${outcome.resetSeconds} s`
    reply.code(status).header('retry-after', String(outcome.resetSeconds)).header('cache-control', 'no-store')
    if (family === 'mcp') {
      return reply.send({ jsonrpc: '2.0', error: { code: -32000, message }, id: null })
    }
    return reply.send({ error: 'temporarily_unavailable', error_description: message })
  }

  async function check (request: FastifyRequest, reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[], claims: UnverifiedClaims | null, reads?: readonly string[]) {
    const outcomes = await hitAll(buckets, request, reads)
    const counted = outcomes.filter(o => o.uncounted !== true)
    if (counted.length === 0) return undefined // fail-open with no counter reachable: no headers to tell
    const shown = decisive(counted)
    if (shown.unavailable !== true) {
      reply.header('ratelimit-limit', String(shown.limit))
      reply.header('ratelimit-remaining', String(shown.remaining))
      reply.header('ratelimit-reset', String(shown.resetSeconds))
    }
    if (shown.allowed) return undefined
    if (shown.unavailable !== true) auditExceeded(request, family, shown, claims)
    return refuse(reply, family, shown)
  }

  // Decoded once per distinct Authorization header (a caller sends the same token many times),
  // with the revocation entries the verifier will look up for such a token (ours carry a jti).
  const bearerClaims = memoizeBounded((authorization: string) => {
    const claims = unverifiedBearerClaims(authorization)
    if (claims === null) return null
    return Object.freeze({ claims: Object.freeze(claims), reads: claims.jti !== undefined ? Object.freeze(revocationKeys(claims.jti, claims.sid)) : undefined })
  }, 2000)
  // With Redis counters, those entries are read by the counters' script: the verifier gets
  // them without a round trip of its own (it still checks they belong to the verified token).
  const prefetch = counter.kind === 'redis'

  const onRequestCheck: onRequestAsyncHookHandler = async function (request, reply) {
    const family = request.routeOptions.config.rateLimitFamily as RateLimitFamily
    const authorization = request.headers.authorization
    const decoded = family === 'mcp' && authorization !== undefined ? bearerClaims(authorization) : null
    const claims = decoded === null ? null : decoded.claims
    return check(request, reply, family, onRequestBuckets(family, request.ip, claims, settings), claims, prefetch && decoded !== null ? decoded.reads : undefined)
  }

  const tokenClientCheck: preValidationAsyncHookHandler = async function (request, reply) {
    const clientId = basicClientId(request.headers.authorization) ?? formClientId(request.body)
    return check(request, reply, 'token', [tokenClientBucket(request.ip, clientId, settings.token)], null)
  }

  fastify.decorate('consumeRateLimit', async function consumeRateLimit (family: string, key: string, rule: RateRule): Promise<RateLimitResult> {
    if (!settings.enabled) return { allowed: true, limit: rule.max, remaining: rule.max, resetSeconds: rule.windowSeconds }
    const { bucket: _bucket, uncounted: _uncounted, ...result } = await hit({ name: `${consumerKey(family)}:${consumerKey(key)}`, rule, keyKind: 'user' })
    return result
  })

  fastify.decorateRequest('prefetchedReads', null)

  if (!settings.enabled) return

  // Unknown family names are a programming error: refuse them when the route is declared.
  fastify.addHook('onRoute', (routeOptions) => {
    const family = routeOptions.config?.rateLimitFamily
    if (family !== undefined && !(RATE_LIMIT_FAMILIES as readonly string[]).includes(family)) {
      throw new Error(`Unknown rateLimitFamily "${family}" on ${String(routeOptions.method)} ${routeOptions.url}; expected one of ${RATE_LIMIT_FAMILIES.join(', ')}`)
    }
  })

  // Hooks on the root, added before the token, OAuth and MCP plugins register: they run before
  // every hook those plugins add (at any level), so nothing else, least of all JWT work, runs
  // for a refused request. Routes without a family pay one property lookup.
  fastify.addHook('onRequest', async function rateLimitOnRequest (request, reply) {
    if (request.routeOptions.config?.rateLimitFamily === undefined) return
    return onRequestCheck.call(this, request, reply)
  })
  fastify.addHook('preValidation', async function rateLimitTokenClient (request, reply) {
    if (request.routeOptions.config?.rateLimitFamily !== 'token') return
    return tokenClientCheck.call(this, request, reply)
  })
}, { name: 'rate-limit', dependencies: ['config', 'store', 'audit-log'] })
