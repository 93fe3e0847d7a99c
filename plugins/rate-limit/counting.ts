// Counting hits in the shared counters, and what happens when they cannot be reached.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RateRule } from '../../config/index.ts'
import type { EpochRead } from '../store/contract.ts'
import { createThrottle } from '../shared/throttle.ts'
import type { Counter } from './counter.ts'
import { countedOutcome, uncountableOutcome, type Bucket, type Outcome } from './buckets.ts'

export interface Counting {
  /** Counts one hit on one counter through @fastify/rate-limit's limiter. */
  hit: (bucket: Bucket, request?: FastifyRequest) => Promise<Outcome>
  /**
   * Several counters of one request (/mcp: the user's and the IP ceiling) in one step: one Redis
   * round trip instead of one per counter, with `reads` (and the store epoch) read in the same
   * script (a memory counter leaves them: `read` undefined).
   */
  hitAll: (buckets: Bucket[], request: FastifyRequest, reads?: string[]) => Promise<{ outcomes: Outcome[], read?: EpochRead }>
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/**
 * The counting of the rate-limit plugin. `fastify` has @fastify/rate-limit registered with our
 * counter as its store; one limiter is made per rule, and the key travels on a small carrier
 * object (the library's keyGenerator receives whatever is passed as the request).
 */
export function createCounting (fastify: FastifyInstance, counter: Counter, failOpen: boolean): Counting {
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

  const outage = createOutageReport(fastify, failOpen)

  async function hit (bucket: Bucket, request?: FastifyRequest): Promise<Outcome> {
    const carrier = { bucket: bucket.name, routeOptions: { config: {} } } as unknown as FastifyRequest
    try {
      const r = await limiterFor(bucket.rule)(carrier)
      outage.reachable()
      if (r.isAllowed) return { allowed: true, limit: bucket.rule.max, remaining: bucket.rule.max, resetSeconds: bucket.rule.windowSeconds, bucket }
      return { allowed: !r.isExceeded, limit: r.max, remaining: r.remaining, resetSeconds: Math.max(1, r.ttlInSeconds), bucket }
    } catch (err) {
      outage.unreachable(err, request)
      return uncountableOutcome(bucket, failOpen)
    }
  }

  async function hitAll (buckets: Bucket[], request: FastifyRequest, reads?: string[]) {
    if (buckets.length === 1 && reads === undefined) return { outcomes: [await hit(buckets[0], request)] }
    let many
    try {
      many = await counter.incrMany(buckets.map(b => ({ key: b.name, windowMs: b.rule.windowSeconds * 1000 })), reads)
    } catch (err) {
      outage.unreachable(err, request)
      return { outcomes: buckets.map(b => uncountableOutcome(b, failOpen)) }
    }
    outage.reachable()
    return { outcomes: buckets.map((bucket, i) => countedOutcome(bucket, many.counts[i].current, many.counts[i].ttlMs)), read: many.read }
  }

  return { hit, hitAll }
}

/** Tells when the counters go away (a warning and an audit line, at most once a minute) and come back. */
function createOutageReport (fastify: FastifyInstance, failOpen: boolean) {
  const outageWarning = createThrottle(60000)
  let inOutage = false
  return {
    reachable () {
      if (!inOutage) return
      inOutage = false
      fastify.log.info('rate limit counters reachable again')
    },
    unreachable (err: unknown, request?: FastifyRequest) {
      inOutage = true
      if (!outageWarning()) return
      const policy = failOpen ? 'fail_open' : 'fail_closed'
      const e = err as NodeJS.ErrnoException
      ;(request?.log ?? fastify.log).warn({ err: { code: e.code, message: e.message }, policy },
        failOpen ? 'rate limit counters unavailable: letting requests through (RATE_LIMIT_FAIL_OPEN)' : 'rate limit counters unavailable: refusing limited requests with 503 (RATE_LIMIT_FAIL_OPEN=false)')
      fastify.audit('rate_limit.unavailable', { outcome: 'failure', reason: 'store_unavailable', policy }, request)
    }
  }
}
