// The seam with the admin branch (docs: /work/notes/admin-contract.md): until plugins/admin/guards.ts
// lands, these are its types, exactly as the contract states them. On merge this file becomes
// `export type { AdminCaller, AdminGuards } from '../../plugins/admin/guards.ts'`.
import type { preHandlerAsyncHookHandler } from 'fastify'

export interface AdminCaller { oid: string, tid: string, name?: string, via: 'session' | 'bearer' }
export interface AdminGuards {
  /** Browser: admin session + ADMIN_ROLE; GET without a session -> 302 /admin/login; no role -> 403 page. */
  page: preHandlerAsyncHookHandler
  /** /admin/api: a bearer token of this service carrying ADMIN_ROLE; else 401/403 per RFC 6750. */
  api: preHandlerAsyncHookHandler
  /** Browser POSTs: the csrf token must match the session's; Origin must be ours. */
  csrf: preHandlerAsyncHookHandler
}
