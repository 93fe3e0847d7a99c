// The check of one request against its counters: count, show the headers, refuse when over.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { EpochRead } from '../store/contract.ts'
import type { CallerClaims, RateLimitFamily } from './keys.ts'
import { decisive, ExceededBuckets, type Bucket, type Outcome } from './buckets.ts'
import type { Counting } from './counting.ts'
import { refuse, showHeaders } from './answer.ts'

export interface Check {
  /** Counts `buckets` (and reads `reads`); refuses the request when one is over. */
  check: (request: FastifyRequest, reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[], caller: CallerClaims | null, reads?: string[]) => Promise<EpochRead | undefined>
  /** Refuses at once, with no I/O, when one of `buckets` is already known to be over; true when it did. */
  refuseKnown: (reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[]) => Promise<boolean>
}

export function createCheck (fastify: FastifyInstance, counting: Counting): Check {
  const exceeded = new ExceededBuckets()

  function auditExceeded (request: FastifyRequest, family: string, outcome: Outcome, caller: CallerClaims | null) {
    exceeded.remember(outcome, Date.now())
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

  async function refuseKnown (reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[]): Promise<boolean> {
    const known = exceeded.known(buckets, Date.now())
    if (known === undefined) return false
    await refuseWith(reply, family, known)
    return true
  }

  function refuseWith (reply: FastifyReply, family: RateLimitFamily, outcome: Outcome) {
    showHeaders(reply, outcome)
    return refuse(reply, family, outcome)
  }

  async function check (request: FastifyRequest, reply: FastifyReply, family: RateLimitFamily, buckets: Bucket[], caller: CallerClaims | null, reads?: string[]): Promise<EpochRead | undefined> {
    if (buckets.length === 0) return undefined
    // No await on the common path (nothing known to be exceeded): one microtask less per request.
    const known = exceeded.known(buckets, Date.now())
    if (known !== undefined) {
      await refuseWith(reply, family, known)
      return undefined
    }
    const { outcomes, read } = await counting.hitAll(buckets, request, reads)
    const counted = outcomes.filter(o => o.uncounted !== true)
    if (counted.length === 0) return read // fail-open with no counter reachable: no headers to tell
    const shown = decisive(counted)
    if (shown.unavailable !== true) showHeaders(reply, shown)
    if (shown.allowed) return read
    if (shown.unavailable !== true) auditExceeded(request, family, shown, caller)
    await refuse(reply, family, shown)
    return undefined
  }

  return { check, refuseKnown }
}
