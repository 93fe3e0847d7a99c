import fp from 'fastify-plugin'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RateRule } from '../config/index.ts'
import { createThrottle } from './shared/throttle.ts'
import {
  RATE_LIMIT_FAMILIES, type RateLimitFamily, ipKey, keyPart, subjectKey,
  basicClientId, formClientId, consumerKey, type CallerClaims
} from './rate-limit/keys.ts'
import { MemoryCounter, RedisCounter, rateLimitStore, type Counter } from './rate-limit/counter.ts'
import type { EpochRead } from './store/contract.ts'

export interface RateLimitResult {
  allowed: boolean
  limit: number
  remaining: number
  /** Seconds until the window ends (also the Retry-After when not allowed). */
  resetSeconds: number
  /** Set when the counters could not be reached and RATE_LIMIT_FAIL_OPEN is false. */
  unavailable?: true
}

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
const BEARER_SCHEME = /^bearer\s/i

type Rules = { register: RateRule, authorize: RateRule, token: RateRule, revoke: RateRule, mcp: RateRule, mcpPerIp: RateRule, tokenPerIp: RateRule }

/**
 * The counters an onRequest check uses for a family (pure; exported for tests). A /mcp request with
 * a bearer token gets none here: it is counted once its token was checked (`bearerBuckets`).
 */
export function onRequestBuckets (family: RateLimitFamily, ip: string, bearer: boolean, rules: Rules): Bucket[] {
  const addr = ipKey(ip)
  switch (family) {
    case 'mcp':
      return bearer ? [] : [{ name: `mcp:${addr}`, rule: rules.mcp, keyKind: 'ip' }]
    case 'token':
      // The client id is in the body, not parsed yet: only the IP ceiling here; the
      // per-client budget is counted at preValidation (see tokenClientBucket).
      return [{ name: `token-ip:${addr}`, rule: rules.tokenPerIp, keyKind: 'ip_ceiling' }]
    default:
      return [{ name: `${family}:${addr}`, rule: rules[family], keyKind: 'ip' }]
  }
}

/**
 * The counters of a /mcp request with a bearer token (pure; exported for tests). Only a verified
 * caller has a user budget: an unverified token names nobody we can trust (anyone can write a
 * victim's tid and oid into one), so it spends only the IP ceiling, which verified callers from
 * that address spend too.
 */
export function bearerBuckets (ip: string, caller: CallerClaims | null, rules: Pick<Rules, 'mcp' | 'mcpPerIp'>): Bucket[] {
  const ceiling: Bucket = { name: `mcp-ip:${ipKey(ip)}`, rule: rules.mcpPerIp, keyKind: 'ip_ceiling' }
  const subject = caller === null ? null : subjectKey(caller)
  return subject === null ? [ceiling] : [{ name: `mcp:${subject}`, rule: rules.mcp, keyKind: 'user' }, ceiling]
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
 * JWKS work), except for /mcp with a bearer token, counted by `limitBearer` once the token is
 * checked; a refusal speaks the family's dialect (JSON-RPC on /mcp, RFC 6749 elsewhere).
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
   * Redis round trip instead of one per counter, with `reads` (and the store epoch) read in the
   * same script (a memory counter leaves them: `read` undefined). Same arithmetic as the library's
   * limiter (exceeded when the count passes max; remaining never below 0; the reset rounded up).
   */
  async function hitAll (buckets: Bucket[], request: FastifyRequest, reads?: string[]): Promise<{ outcomes: Outcome[], read?: EpochRead }> {
    if (buckets.length === 1 && reads === undefined) return { outcomes: [await hit(buckets[0], request)] }
    let many
    try {
      many = await counter.incrMany(buckets.map(b => ({ key: b.name, windowMs: b.rule.windowSeconds * 1000 })), reads)
    } catch (err) {
      unreachable(err, request)
      return { outcomes: buckets.map(uncountable) }
    }
    reachable()
    const outcomes = buckets.map((bucket, i) => {
      const { current, ttlMs } = many.counts[i]
      const max = bucket.rule.max
      return { allowed: current <= max, limit: max, remaining: Math.max(0, max - current), resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)), bucket }
    })
    return { outcomes, read: many.read }
  }

  // A counter found over its limit stays over it until its window ends: this instance remembers
  // that and refuses at once, with no counting and (for /mcp) no token verification, so a flood
  // costs no more than its first refusal. The same record keeps rate_limit.exceeded to one audit
  // line per counter and window on each instance, not one for every refused request.
  const exceeded = new Map<string, number>()
  function knownExceeded (buckets: Bucket[], now: number): Outcome | undefined {
    for (const bucket of buckets) {
      const until = exceeded.get(bucket.name)
      if (until === undefined) continue
      if (until > now) return { allowed: false, limit: bucket.rule.max, remaining: 0, resetSeconds: Math.max(1, Math.ceil((until - now) / 1000)), bucket }
      exceeded.delete(bucket.name)
    }
    return undefined
  }

  function auditExceeded (request: FastifyRequest, family: string, outcome: Outcome, caller: CallerClaims | null) {
    if (exceeded.size >= 10000) exceeded.clear()
    exceeded.set(outcome.bucket.name, Date.now() + outcome.resetSeconds * 1000)
    fastify.audit('rate_limit.exceeded', {
      outcome: 'denied',
      reason: 'rate_limited',
      family,
      key_kind: outcome.bucket.keyKind,
      limit: outcome.limit,
      window_seconds: outcome.bucket.rule.windowSeconds,
      retry_after: outcome.resetSeconds,
      // a user budget is only ever counted for a verified token
      ...(caller !== null && outcome.bucket.keyKind === 'user' ? { oid: caller.oid, tid: caller.tid, client_id: caller.clientId, identity: 'verified' } : {})
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

  function showHeaders (reply: FastifyReply, shown: Outcome) {
    reply.header('ratelimit-limit', String(shown.limit))
    reply.header('ratelimit-remaining', String(shown.remaining))
    reply.header('ratelimit-reset', String(shown.resetSeconds))
  }

  /** Counts `buckets` (and reads `reads`); refuses the request when one is over. */
  async function check (request: FastifyRequest, reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[], caller: CallerClaims | null, reads?: string[]): Promise<EpochRead | undefined> {
    if (buckets.length === 0) return undefined
    const known = knownExceeded(buckets, Date.now())
    if (known !== undefined) {
      showHeaders(reply, known)
      await refuse(reply, family, known)
      return undefined
    }
    const { outcomes, read } = await hitAll(buckets, request, reads)
    const counted = outcomes.filter(o => o.uncounted !== true)
    if (counted.length === 0) return read // fail-open with no counter reachable: no headers to tell
    const shown = decisive(counted)
    if (shown.unavailable !== true) showHeaders(reply, shown)
    if (shown.allowed) return read
    if (shown.unavailable !== true) auditExceeded(request, family, shown, caller)
    await refuse(reply, family, shown)
    return undefined
  }

  /** The onRequest check. /mcp with a bearer token: only a ceiling already known to be exceeded (no I/O). */
  async function onRequestCheck (request: FastifyRequest, reply: FastifyReply, family: RateLimitFamily) {
    const authorization = request.headers.authorization
    const bearer = family === 'mcp' && authorization !== undefined && BEARER_SCHEME.test(authorization)
    if (bearer) {
      request.bearerUncounted = true
      const known = knownExceeded(bearerBuckets(request.ip, null, settings), Date.now())
      if (known !== undefined) {
        showHeaders(reply, known)
        return refuse(reply, family, known)
      }
      return undefined
    }
    await check(request, reply, family, onRequestBuckets(family, request.ip, false, settings), null)
    return reply.sent ? reply : undefined
  }

  async function tokenClientCheck (request: FastifyRequest, reply: FastifyReply) {
    const clientId = basicClientId(request.headers.authorization) ?? formClientId(request.body)
    await check(request, reply, 'token', [tokenClientBucket(request.ip, clientId, settings.token)], null)
    return reply.sent ? reply : undefined
  }

  fastify.decorate('consumeRateLimit', async function consumeRateLimit (family: string, key: string, rule: RateRule): Promise<RateLimitResult> {
    if (!settings.enabled) return { allowed: true, limit: rule.max, remaining: rule.max, resetSeconds: rule.windowSeconds }
    const { bucket: _bucket, uncounted: _uncounted, ...result } = await hit({ name: `${consumerKey(family)}:${consumerKey(key)}`, rule, keyKind: 'user' })
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
    const family = request.routeOptions.config?.rateLimitFamily
    if (family === undefined) return
    return onRequestCheck(request, reply, family)
  })
  fastify.addHook('preValidation', async function rateLimitLater (request, reply) {
    if (request.routeOptions.config?.rateLimitFamily === 'token') return tokenClientCheck(request, reply)
    // A bearer request that no `authenticate` counted (a route in the mcp family without it)
    // still spends the IP ceiling.
    if (!request.bearerUncounted) return
    await limitBearer(request, reply, null)
    return reply.sent ? reply : undefined
  })
}, { name: 'rate-limit', dependencies: ['config', 'store', 'audit-log'] })
