import fp from 'fastify-plugin'
import { AdminSessions } from './admin/sessions.ts'

export type { AdminCaller, AdminGuards } from './admin/guards.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Administrators' sign-ins under way and their browser sessions (plugins/admin/sessions.ts). */
    adminSessions: AdminSessions
  }
}

/** Test seam: the admin sessions' clock (epoch seconds), instead of Date.now (AppOptions.adminClock). */
export interface AdminPluginOptions { now?: () => number }

/**
 * The admin area's state: `fastify.adminSessions`. Registered before the OAuth routes, because
 * /auth/callback hands an admin sign-in (state `admin.…`) to routes/admin/sign-in.ts. The guards
 * (plugins/admin/guards.ts) and the pages are made by routes/admin/index.ts.
 */
export default fp<AdminPluginOptions>(async function admin (fastify, opts) {
  const { config } = fastify
  fastify.decorate('adminSessions', new AdminSessions({
    store: fastify.store,
    ttl: config.admin.sessionTtl,
    idle: config.admin.sessionIdle,
    now: opts.now
  }))
  fastify.decorateRequest('admin', undefined)
  fastify.decorateRequest('adminCsrfToken', undefined)
}, { name: 'admin', dependencies: ['config', 'store', 'audit-log', 'jwt-verify', 'oauth-proxy'] })
