import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'

/** The stable catalogue of audit event names (design-notes §6). */
export const AUDIT_EVENTS = [
  'client.registered', 'authorize.started', 'consent.granted', 'consent.denied',
  'login.succeeded', 'login.failed', 'token.issued', 'token.refreshed', 'token.refresh_reused',
  'token.revoked', 'token.rejected', 'scope.denied', 'tool.called', 'rate_limit.exceeded', 'config.loaded'
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

/**
 * `fastify.audit(event, fields, request)` writes one JSON line with `audit: true`.
 * With a request it adds the request id, the client IP and, when a caller was
 * authenticated, its subject and client id. Callers pass identifiers only:
 * never a token, code, verifier or secret.
 */
export default fp(async function auditLog (fastify) {
  // Audit lines are written at info even when LOG_LEVEL is quieter.
  const parentLevel = fastify.log.level
  const logger = fastify.log.child({ audit: true }, { level: parentLevel === 'silent' ? 'silent' : 'info' })

  fastify.decorate('audit', function audit (event: AuditEvent, fields: AuditFields = {}, request?: FastifyRequest) {
    const line: Record<string, unknown> = { event }
    if (request !== undefined) {
      line.request_id = request.id
      line.ip = request.ip
      const identity = (request as any).identity as { oid?: string, tid?: string, clientId?: string } | undefined
      if (identity !== undefined) {
        line.oid = identity.oid
        line.tid = identity.tid
        line.client_id = identity.clientId
      }
    }
    Object.assign(line, fields)
    line.outcome ??= 'success'
    logger.info(line, event)
  })
}, { name: 'audit-log', dependencies: ['config'] })
