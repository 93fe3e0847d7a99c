// How a rate-limit decision shows on the reply: the RateLimit-* headers, and a refusal in the
// family's dialect (JSON-RPC on /mcp, RFC 6749 elsewhere).
import type { FastifyReply } from 'fastify'
import type { RateLimitFamily } from './keys.ts'
import type { Outcome } from './buckets.ts'

/** The status and body of a refusal (pure). */
export function refusalOf (family: RateLimitFamily, outcome: Outcome): { status: 429 | 503, body: Record<string, unknown> } {
  const unavailable = outcome.unavailable === true
  const message = unavailable
    ? 'Rate limiting is unavailable and this service is set to refuse requests meanwhile (RATE_LIMIT_FAIL_OPEN=false); retry shortly'
    : `Rate limit exceeded; retry in ${outcome.resetSeconds} s`
  const body = family === 'mcp'
    ? { jsonrpc: '2.0', error: { code: -32000, message }, id: null }
    : { error: 'temporarily_unavailable', error_description: message }
  return { status: unavailable ? 503 : 429, body }
}

export function refuse (reply: FastifyReply, family: RateLimitFamily, outcome: Outcome) {
  const { status, body } = refusalOf(family, outcome)
  return reply.code(status).header('retry-after', String(outcome.resetSeconds)).header('cache-control', 'no-store').send(body)
}

export function showHeaders (reply: FastifyReply, shown: Outcome): void {
  reply.header('ratelimit-limit', String(shown.limit))
  reply.header('ratelimit-remaining', String(shown.remaining))
  reply.header('ratelimit-reset', String(shown.resetSeconds))
}
