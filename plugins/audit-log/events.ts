/** The stable catalogue of audit event names (design-notes §6, plus `rate_limit.unavailable`, `store.full`, `upstream.error`). */
export const AUDIT_EVENTS = [
  'client.registered', 'authorize.started', 'consent.granted', 'consent.denied',
  'consent.refused',
  'login.succeeded', 'login.failed', 'token.issued', 'token.refreshed', 'token.refresh_reused',
  'token.revoked', 'token.rejected', 'scope.denied', 'tool.called', 'rate_limit.exceeded',
  'rate_limit.unavailable', 'config.loaded', 'store.full', 'upstream.error', 'store.reset',
  'upstream.claims_challenge',
  'device.requested', 'device.approved', 'device.denied', 'device.expired',
  'admin.signed_in', 'admin.refused', 'admin.signed_out',
  'admin.grant_revoked', 'admin.user_revoked', 'admin.client_deleted', 'admin.consent_deleted'
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
