import type { FastifyRequest } from 'fastify'
import type { AuditEvent, AuditFields } from './events.ts'
import { maskSecrets } from './mask.ts'

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
