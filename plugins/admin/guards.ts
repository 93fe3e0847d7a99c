import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { crossSiteReason } from '../oauth-proxy/authorize/browser-binding.ts'
import { csrfMatches } from '../oauth-proxy/consent/consent-session.ts'
import { sessionCookieName, sessionCookieOptions } from './cookies.ts'

// The preHandlers of the admin area (the seam with the dashboard and grants pages:
// /work/notes/admin-contract.md). Pages: an administrator's browser session holding ADMIN_ROLE.
// Their POSTs: the session's synchronizer token and a same-origin request. /admin/api: a bearer
// token of this service for the admin API resource, holding ADMIN_ROLE.

/** Who is administering: from the browser session or from the bearer token. */
export interface AdminCaller { oid: string, tid: string, name?: string, via: 'session' | 'bearer' }

export interface AdminGuards {
  /** Browser: admin session + ADMIN_ROLE; GET without a session -> 302 /admin/login; with a session but no role -> 403 page. */
  page: preHandlerAsyncHookHandler
  /** /admin/api: bearer token of this service (aud `{MCP_BASE_URL}/admin/api`) carrying ADMIN_ROLE; else 401/403 per RFC 6750. */
  api: preHandlerAsyncHookHandler
  /** Browser POSTs (after `page`): the form's `_csrf` or the `x-csrf-token` header must match the session's; Origin must be ours. */
  csrf: preHandlerAsyncHookHandler
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The administrator, set by the page or api guard. */
    admin?: AdminCaller
    /** The session's CSRF token, set by the page guard, for the forms of the page. */
    adminCsrfToken?: string
  }
}

/** How the guards answer a browser they refuse: a page of the admin layout (routes/admin/layout.ts). */
export type RefusalPage = (reply: FastifyReply, status: number, title: string, message: string) => FastifyReply

/** The form field that carries the CSRF token. */
export const CSRF_FIELD = '_csrf'

/** The CSRF token a POST presents: the `x-csrf-token` header, else the `_csrf` form field. */
function presentedCsrf (request: FastifyRequest): unknown {
  const header = request.headers['x-csrf-token']
  if (typeof header === 'string') return header
  const body = request.body
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined
}

/** Only GET and HEAD are sent to sign in; a path under /admin survives the trip. */
function loginRedirect (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0]
  const back = /^\/admin(\/[\w./-]*)?$/.test(path) && !path.includes('..') ? `?return=${encodeURIComponent(path)}` : ''
  return reply.header('cache-control', 'no-store').redirect(`/admin/login${back}`, 302)
}

export function createAdminGuards (fastify: FastifyInstance, refusal: RefusalPage): AdminGuards {
  const { config } = fastify
  const role = config.admin.role
  const cookie = sessionCookieName(config.baseUrl)
  const serviceOrigin = new URL(config.baseUrl).origin
  const refused = (request: FastifyRequest, reason: string, extra: Record<string, unknown> = {}) =>
    fastify.audit('admin.refused', { outcome: 'denied', reason, ...extra }, request)

  const page: preHandlerAsyncHookHandler = async function adminPageGuard (request, reply) {
    const presented = request.cookies[cookie]
    const session = presented === undefined ? null : await fastify.adminSessions.read(presented)
    if (session === null) {
      if (presented !== undefined) reply.clearCookie(cookie, sessionCookieOptions(config.baseUrl))
      if (request.method === 'GET' || request.method === 'HEAD') return loginRedirect(request, reply)
      refused(request, presented === undefined ? 'no_session' : 'session_ended')
      return refusal(reply, 401, 'Signed out', 'Your administrator session has ended, so nothing was done. Sign in again.')
    }
    if (!session.roles.includes(role)) {
      refused(request, 'missing_role', { admin_oid: session.oid, admin_tid: session.tid, via: 'session' })
      return refusal(reply, 403, 'Not an administrator', `Your account does not hold the ${role} role of this gateway.`)
    }
    request.admin = { oid: session.oid, tid: session.tid, name: session.name ?? session.username, via: 'session' }
    request.adminCsrfToken = session.csrf
  }

  const csrf: preHandlerAsyncHookHandler = async function adminCsrfGuard (request, reply) {
    const crossSite = crossSiteReason(request.headers, serviceOrigin)
    if (crossSite !== undefined) {
      refused(request, 'cross_site', { detail: crossSite, admin_oid: request.admin?.oid, admin_tid: request.admin?.tid })
      return refusal(reply, 403, 'Refused', 'This form was sent from another website, not from this service\'s own page, so nothing was done.')
    }
    const expected = request.adminCsrfToken
    if (expected === undefined || !csrfMatches(expected, presentedCsrf(request))) {
      refused(request, 'csrf_token', { admin_oid: request.admin?.oid, admin_tid: request.admin?.tid })
      return refusal(reply, 403, 'Refused', 'This form could not be verified (missing or wrong CSRF token), so nothing was done. Reload the page and try again.')
    }
  }

  const api: preHandlerAsyncHookHandler = async function adminApiGuard (request, reply) {
    await fastify.authenticateAdmin(request, reply)
    if (reply.sent) return reply
    const identity = request.identity
    if (identity === undefined) return reply
    if (!identity.roles.includes(role)) {
      const description = `This needs the ${role} app role`
      refused(request, 'missing_role', { admin_oid: identity.oid, admin_tid: identity.tid, via: 'bearer' })
      return reply.code(403).header('cache-control', 'no-store')
        .header('www-authenticate', fastify.adminBearerChallenge({ error: 'insufficient_scope', description }))
        .send({ error: 'insufficient_scope', error_description: description })
    }
    request.admin = { oid: identity.oid ?? identity.sub, tid: identity.tid ?? '', name: identity.name ?? identity.preferredUsername, via: 'bearer' }
  }

  return { page, api, csrf }
}
