// Which counters a request counts, per family, and what their counts mean. Pure: no Fastify, no I/O.
import type { Config, RateRule } from '../../config/index.ts'
import { type RateLimitFamily, type CallerClaims, ipKey, keyPart, subjectKey } from './keys.ts'

export interface RateLimitResult {
  allowed: boolean
  limit: number
  remaining: number
  /** Seconds until the window ends (also the Retry-After when not allowed). */
  resetSeconds: number
  /** Set when the counters could not be reached and RATE_LIMIT_FAIL_OPEN is false. */
  unavailable?: true
}

/** One counter a request is checked against. */
export interface Bucket {
  /** `{family}:{key}`: the counter's name in the store (after `rl:`). */
  name: string
  rule: RateRule
  /** What the key is made of, for the audit line. */
  keyKind: 'user' | 'ip' | 'client' | 'ip_ceiling'
}

/** `uncounted`: the counters could not be reached and the request was let through (fail-open). */
export type Outcome = RateLimitResult & { bucket: Bucket, uncounted?: true }

/** Each family's rule, as configured (a new family's rule is added in config only). */
export type Rules = Omit<Config['rateLimit'], 'enabled' | 'failOpen'>

/** Retry-After of a 503 while the counters cannot be reached (RATE_LIMIT_FAIL_OPEN=false). */
const RETRY_WHEN_UNAVAILABLE = 5

/**
 * The counters an onRequest check uses for a family. A /mcp request with a bearer token gets none
 * here: it is counted once its token was checked (`bearerBuckets`).
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
 * The counters of a /mcp request with a bearer token. Only a verified caller has a user budget:
 * an unverified token names nobody we can trust (anyone can write a victim's tid and oid into
 * one), so it spends only the IP ceiling, which verified callers from that address spend too.
 */
export function bearerBuckets (ip: string, caller: CallerClaims | null, rules: Pick<Rules, 'mcp' | 'mcpPerIp'>): Bucket[] {
  const ceiling: Bucket = { name: `mcp-ip:${ipKey(ip)}`, rule: rules.mcpPerIp, keyKind: 'ip_ceiling' }
  const subject = caller === null ? null : subjectKey(caller)
  return subject === null ? [ceiling] : [{ name: `mcp:${subject}`, rule: rules.mcp, keyKind: 'user' }, ceiling]
}

/** /token's budget per client id and IP, once the body is parsed. */
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
 * A counter's count as an outcome, with the library limiter's arithmetic: exceeded when the count
 * passes max; remaining never below 0; the reset rounded up to whole seconds, at least 1.
 */
export function countedOutcome (bucket: Bucket, current: number, ttlMs: number): Outcome {
  const max = bucket.rule.max
  return { allowed: current <= max, limit: max, remaining: Math.max(0, max - current), resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)), bucket }
}

/** What RATE_LIMIT_FAIL_OPEN makes of a counter that could not be reached. */
export function uncountableOutcome (bucket: Bucket, failOpen: boolean): Outcome {
  return failOpen
    ? { allowed: true, uncounted: true, limit: bucket.rule.max, remaining: bucket.rule.max, resetSeconds: bucket.rule.windowSeconds, bucket }
    : { allowed: false, unavailable: true, limit: bucket.rule.max, remaining: 0, resetSeconds: RETRY_WHEN_UNAVAILABLE, bucket }
}

/**
 * Counters found over their limit, until their window ends. An instance refuses a request on one
 * of them at once, with no counting (and for /mcp no token verification), so a flood costs no more
 * than its first refusal; it also keeps rate_limit.exceeded to one audit line per counter and window.
 */
export class ExceededBuckets {
  private readonly until = new Map<string, number>()
  constructor (private readonly maxEntries = 10000) {}

  /** The refusal for the first of `buckets` known to be over its limit at `now` (ms), if any. */
  known (buckets: Bucket[], now: number): Outcome | undefined {
    for (const bucket of buckets) {
      const until = this.until.get(bucket.name)
      if (until === undefined) continue
      if (until > now) return { allowed: false, limit: bucket.rule.max, remaining: 0, resetSeconds: Math.max(1, Math.ceil((until - now) / 1000)), bucket }
      this.until.delete(bucket.name)
    }
    return undefined
  }

  /** Remembers a refusal until its reset. */
  remember (outcome: Outcome, now: number): void {
    if (this.until.size >= this.maxEntries) this.until.clear()
    this.until.set(outcome.bucket.name, now + outcome.resetSeconds * 1000)
  }
}
