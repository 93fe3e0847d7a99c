import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { AuditEvent, AuditFields } from './audit-log/events.ts'
import { SECRET_NAMES } from './audit-log/mask.ts'
import { auditLine } from './audit-log/line.ts'
import { createStreamWriter } from './audit-log/stream.ts'
import { configLoadedFields } from './audit-log/config-loaded.ts'

/** One written audit line (secrets already masked) and when it was written (epoch ms). */
export type AuditListener = (line: Readonly<Record<string, unknown>>, at: number) => void

declare module 'fastify' {
  interface FastifyInstance {
    audit: (event: AuditEvent, fields?: AuditFields, request?: FastifyRequest) => void
    /**
     * Calls `listener` with every audit line this instance writes, after it is written (metrics,
     * the admin feed); returns the unsubscribe. A listener must not change the line or throw.
     */
    onAudit: (listener: AuditListener) => () => void
  }
}

/**
 * `fastify.audit(event, fields, request)` writes one JSON line with `audit: true`.
 * With a request it adds the request id, the client IP and, when a caller was
 * authenticated, its subject and client id. Callers pass identifiers only:
 * never a token, code, verifier or secret (secret-named fields are masked anyway).
 *
 * With AUDIT_REDIS_STREAM set, each event is also appended to that Redis stream
 * (audit-log/stream.ts), fire and forget.
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
  const append = streamName !== undefined && fastify.redis !== null
    ? createStreamWriter(fastify.redis, { name: streamName, maxLen: config.audit.streamMaxLen }, fastify.log)
    : undefined

  const listeners = new Set<AuditListener>()
  fastify.decorate('onAudit', function onAudit (listener: AuditListener) {
    listeners.add(listener)
    return () => { listeners.delete(listener) }
  })

  fastify.decorate('audit', function audit (event: AuditEvent, fields: AuditFields = {}, request?: FastifyRequest) {
    const line = auditLine(event, fields, request)
    logger.info(line, event)
    append?.(line)
    if (listeners.size === 0) return
    const at = Date.now()
    for (const listener of listeners) {
      // A listener's bug must not fail the request that was audited.
      try { listener(line, at) } catch (err) { fastify.log.error({ err }, 'audit listener failed') }
    }
  })

  fastify.addHook('onReady', async () => {
    fastify.audit('config.loaded', configLoadedFields(config, fastify.store.kind))
  })
}, { name: 'audit-log', dependencies: ['config', 'store'] })
