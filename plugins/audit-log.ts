import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { publicConfig } from '../config/index.ts'
import { createThrottle } from './shared/throttle.ts'

/** The stable catalogue of audit event names (design-notes §6, plus `rate_limit.unavailable`, `store.full`, `upstream.error`). */
export const AUDIT_EVENTS = [
  'client.registered', 'authorize.started', 'consent.granted', 'consent.denied',
  'consent.refused',
  'login.succeeded', 'login.failed', 'token.issued', 'token.refreshed', 'token.refresh_reused',
  'token.revoked', 'token.rejected', 'scope.denied', 'tool.called', 'rate_limit.exceeded',
  'rate_limit.unavailable', 'config.loaded', 'store.full', 'upstream.error', 'store.reset'
] as const
export type AuditEvent = typeof AUDIT_EVENTS[number]

export interface AuditFields {
  outcome?: 'success' | 'failure' | 'denied'
  reason?: string
  client_id?: string
  oid?: string
  tid?: string
  [field: string]: unknown
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: (event: AuditEvent, fields?: AuditFields, request?: FastifyRequest) => void
  }
}

// Field names whose values are secrets. A caller passing one by mistake gets it masked, in the
// log line and in the stream alike (the logger's redaction only reaches nested paths).
const SECRET_NAMES = ['access_token', 'refresh_token', 'id_token', 'token', 'code', 'code_verifier', 'client_secret', 'client_assertion', 'assertion', 'password', 'secret', 'authorization', 'cookie', 'set-cookie', 'state']
const SECRET_FIELD = new RegExp(`^(?:${SECRET_NAMES.join('|')})$`, 'i')

/** A copy of audit fields with any secret-named field masked, at any depth. */
export function maskSecrets (value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 5) return value
  if (Array.isArray(value)) return value.map(v => maskSecrets(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) && v !== undefined && v !== null ? '[Redacted]' : maskSecrets(v, depth + 1)
  }
  return out
}

/** The line for one event: event name, request context, the caller's fields, outcome. */
export function auditLine (event: AuditEvent, fields: AuditFields = {}, request?: FastifyRequest): Record<string, unknown> {
  const line: Record<string, unknown> = { event }
  if (request !== undefined) {
    line.request_id = request.id
    line.ip = request.ip
    const identity = request.identity
    if (identity !== undefined) {
      line.oid = identity.oid
      line.tid = identity.tid
      line.client_id = identity.clientId
    }
  }
  Object.assign(line, maskSecrets(fields))
  line.outcome ??= 'success'
  return line
}

/**
 * `fastify.audit(event, fields, request)` writes one JSON line with `audit: true`.
 * With a request it adds the request id, the client IP and, when a caller was
 * authenticated, its subject and client id. Callers pass identifiers only:
 * never a token, code, verifier or secret (secret-named fields are masked anyway).
 *
 * With AUDIT_REDIS_STREAM set, each event is also appended to that Redis stream
 * (`XADD <stream> MAXLEN ~ AUDIT_STREAM_MAXLEN * event <name> line <json>`), fire and
 * forget: a Redis problem never delays or fails the request; it is logged once a minute.
 * `config.loaded` is emitted once, when the app is ready.
 */
export default fp(async function auditLog (fastify) {
  const { config } = fastify
  // Audit lines are written at info even when LOG_LEVEL is quieter. One child logger, made once.
  // Its redaction replaces the app logger's: those wildcard paths (`*.authorization`, ...) made
  // pino run its redactor on every field of every line (~40 % of an audit line's cost). Here
  // maskSecrets has already masked secret-named fields at any depth; the logger still redacts
  // them at the top level, in case a line ever bypasses auditLine.
  const parentLevel = fastify.log.level
  const logger = fastify.log.child({ audit: true }, {
    level: parentLevel === 'silent' ? 'silent' : 'info',
    redact: { paths: SECRET_NAMES.map(name => `["${name}"]`), censor: '[Redacted]' }
  })

  const streamName = config.audit.redisStream
  const redis = streamName !== undefined ? fastify.redis : null
  const maxLen = String(config.audit.streamMaxLen)
  const streamWarning = createThrottle(60000)
  let dropped = 0

  function append (line: Record<string, unknown>) {
    if (redis === null || streamName === undefined) return
    const json = JSON.stringify({ time: new Date().toISOString(), ...line })
    redis.xadd(streamName, 'MAXLEN', '~', maxLen, '*', 'event', line.event as string, 'line', json).catch((err: NodeJS.ErrnoException) => {
      dropped++
      if (streamWarning()) {
        fastify.log.warn({ err: { code: err.code, message: err.message }, stream: streamName, dropped }, 'audit stream unavailable; events are only in the log meanwhile')
      }
    })
  }

  fastify.decorate('audit', function audit (event: AuditEvent, fields: AuditFields = {}, request?: FastifyRequest) {
    const line = auditLine(event, fields, request)
    logger.info(line, event)
    append(line)
  })

  fastify.addHook('onReady', async () => {
    const { enabled, failOpen, ...rules } = config.rateLimit
    fastify.audit('config.loaded', {
      config: publicConfig(config, fastify.store.kind),
      rate_limit: {
        enabled,
        fail_open: failOpen,
        // named as the variables that set them (a field called `token` would be masked as a secret)
        rules: Object.fromEntries(Object.entries(rules).map(([name, r]) => [`RATE_LIMIT_${name.replace(/[A-Z]/g, c => `_${c}`).toUpperCase()}`, `${r.max}/${r.windowSeconds}`]))
      },
      audit_stream: streamName !== undefined ? { name: streamName, max_len: config.audit.streamMaxLen } : null
    })
  })
}, { name: 'audit-log', dependencies: ['config', 'store'] })
