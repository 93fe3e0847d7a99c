import type { FastifyPluginAsync } from 'fastify'
import formbody from '@fastify/formbody'
import { createAdminGuards, type AdminGuards } from '../../plugins/admin/guards.ts'
import assets from './assets.ts'
import signIn from './sign-in.ts'
import dashboard, { type DashboardOptions } from './dashboard.ts'
import grants from './grants.ts'
import clients from './clients.ts'
import { sendNotice } from './layout.ts'

/**
 * The admin area under /admin, one encapsulated scope: its static files, the session routes
 * (/admin/login, /admin/logout, /admin/signed-out), then the pages and /admin/api, each route
 * with the guards it needs (plugins/admin/guards.ts). Registered last in app.ts.
 */
export interface AdminRoutesOptions {
  /** Test seam: the dashboard's stream bounds and page wrapper. */
  dashboard?: Omit<DashboardOptions, 'guards'>
  /** Test seam: guards instead of the session and bearer ones (the dashboard's feed tests). */
  guards?: AdminGuards
}

const adminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async function (fastify, opts) {
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)
  const guards = opts.guards ?? createAdminGuards(fastify, (reply, status, title, message) =>
    sendNotice(reply, status, title, message, { href: '/admin/login', label: 'Sign in' }))

  // Every route of the area counts against RATE_LIMIT_ADMIN per client IP unless it names its own
  // family (the sign-in counts as authorize), bearer or session alike, before any guard runs; the
  // static files, served from memory, are not counted.
  fastify.addHook('onRoute', route => {
    if (route.url.startsWith('/admin/assets/')) return
    route.config = { ...route.config, rateLimitFamily: route.config?.rateLimitFamily ?? 'admin' }
  })
  // Static files need no session: the sign-in and refusal pages use the style sheet too.
  await fastify.register(assets)
  await fastify.register(signIn, { guards })
  await fastify.register(dashboard, { ...opts.dashboard, guards })
  await fastify.register(grants, { guards })
  await fastify.register(clients, { guards })
}

export default adminRoutes
