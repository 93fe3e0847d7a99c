import type { FastifyPluginAsync } from 'fastify'
import formbody from '@fastify/formbody'
import { createAdminGuards } from '../../plugins/admin/guards.ts'
import layoutCss from './layout-css.ts'
import signIn from './sign-in.ts'
import landing from './landing.ts'
import grants from './grants.ts'
import clients from './clients.ts'
import { sendNotice } from './layout.ts'

/**
 * The admin area under /admin, one encapsulated scope: its style sheet, the session routes
 * (/admin/login, /admin/logout, /admin/signed-out), then the pages and /admin/api, each route
 * with the guards it needs (plugins/admin/guards.ts). Registered last in app.ts.
 */
const adminRoutes: FastifyPluginAsync = async function (fastify) {
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)
  const guards = createAdminGuards(fastify, (reply, status, title, message) =>
    sendNotice(reply, status, title, message, { href: '/admin/login', label: 'Sign in' }))

  await fastify.register(layoutCss)
  await fastify.register(signIn, { guards })

  // ── The dashboard registers here on merge (routes/admin/dashboard.ts, the feed's: GET /admin and
  //    its /admin/api/events and /admin/api/summary), replacing the landing below:
  //      await fastify.register(dashboard, { guards })
  await fastify.register(landing, { guards })
  await fastify.register(grants, { guards })
  await fastify.register(clients, { guards })
}

export default adminRoutes
