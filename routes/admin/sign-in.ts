import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import type { AdminUser } from '../../plugins/admin/sessions.ts'
import { loginCookieName, loginCookieOptions, sessionCookieName, sessionCookieOptions } from '../../plugins/admin/cookies.ts'
import { bindingHash, bindingMatches, browserSecret } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { s256Challenge } from '../../plugins/oauth-proxy/authorize/pkce.ts'
import { IdTokenError, UpstreamError } from '../../plugins/oauth-proxy/upstream-entra/errors.ts'
import { readableDescription } from '../../plugins/oauth-proxy/upstream-entra/aadsts.ts'
import { sendNotice } from './layout.ts'
import { byAdmin } from './parts.ts'

// The administrators' sign-in, through Entra with this service's own app registration and upstream
// leg: GET /admin/login starts it (PKCE, state `admin.<id>`, nonce, bound to this browser by a
// cookie), /auth/callback hands the answer to finishAdminSignIn, which opens a session only for a
// user whose id token's `roles` hold ADMIN_ROLE. POST /admin/logout ends it.

const RETURN_PATH = /^\/admin(\/[\w-]+)*\/?$/
const AGAIN = { href: '/admin/login', label: 'Sign in again' }

/** Where to go after signing in: a plain path under /admin, else /admin. */
export function returnPath (value: unknown): string {
  return typeof value === 'string' && RETURN_PATH.test(value) && !value.startsWith('/admin/log') ? value : '/admin'
}

const signIn: FastifyPluginAsync<{ guards: AdminGuards }> = async function (fastify, { guards }) {
  const { config } = fastify
  const loginCookie = loginCookieName(config.baseUrl)
  const sessionCookie = sessionCookieName(config.baseUrl)

  fastify.get<{ Querystring: { return?: string } }>('/admin/login', {
    config: { rateLimitFamily: 'authorize' }
  }, async (request, reply) => {
    const returnTo = returnPath(request.query.return)
    reply.header('cache-control', 'no-store')
    // Already signed in as an administrator: nothing to do.
    const current = await fastify.adminSessions.read(request.cookies[sessionCookie])
    if (current?.roles.includes(config.admin.role) === true) return reply.redirect(returnTo, 302)
    const secret = browserSecret(request.cookies[loginCookie])
    reply.setCookie(loginCookie, secret, loginCookieOptions(config.baseUrl))
    const { state, login } = await fastify.adminSessions.startLogin(bindingHash(secret), returnTo)
    return reply.redirect(fastify.entra.authorizationUrl({ state, codeChallenge: s256Challenge(login.verifier), nonce: login.nonce }), 302)
  })

  fastify.post('/admin/logout', { preHandler: [guards.page, guards.csrf] }, async (request, reply) => {
    await fastify.adminSessions.destroy(request.cookies[sessionCookie])
    reply.clearCookie(sessionCookie, sessionCookieOptions(config.baseUrl))
    fastify.audit('admin.signed_out', byAdmin(request), request)
    return reply.header('cache-control', 'no-store').redirect('/admin/signed-out', 303)
  })

  fastify.get('/admin/signed-out', async (request, reply) => {
    return sendNotice(reply, 200, 'Signed out', 'Your administrator session is over. Close the browser to end your Microsoft sign-in too.', { href: '/admin/login', label: 'Sign in' })
  })
}

/**
 * /auth/callback for a state of an admin sign-in: bound to the browser that started it, taken once,
 * Entra's code redeemed with the sign-in's PKCE verifier, the id token verified (nonce), ADMIN_ROLE
 * required; then a new session (never one the browser brought) in a fresh cookie.
 */
export async function finishAdminSignIn (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, query: Record<string, unknown>): Promise<FastifyReply> {
  const { config } = fastify
  const str = (name: string) => typeof query[name] === 'string' ? query[name] as string : undefined
  const loginCookie = loginCookieName(config.baseUrl)
  const refused = (status: number, reason: string, message: string, extra: Record<string, unknown> = {}) => {
    fastify.audit('admin.refused', { outcome: 'denied', reason, ...extra }, request)
    return sendNotice(reply, status, status === 403 ? 'Access refused' : 'Sign-in problem', message, AGAIN)
  }
  reply.header('cache-control', 'no-store')

  const state = str('state') ?? ''
  const started = await fastify.adminSessions.readLogin(state)
  if (started === null) return refused(400, 'unknown_state', 'This sign-in response is unknown, expired or was already used.')
  const presented = request.cookies[loginCookie]
  if (!bindingMatches(started.browser, presented)) {
    return refused(403, presented === undefined ? 'no_browser_cookie' : 'other_browser', 'This sign-in was started in another browser, so it cannot finish here. If you did not start it, someone may have sent you this link: close this page.')
  }
  const login = await fastify.adminSessions.takeLogin(state)
  if (login === null) return refused(400, 'unknown_state', 'This sign-in response is unknown, expired or was already used.')
  reply.clearCookie(loginCookie, loginCookieOptions(config.baseUrl))

  const user = await adminUser(fastify, request, str, login)
  if ('reason' in user) return refused(user.status, user.reason, user.message, user.extra)
  if (!user.roles.includes(config.admin.role)) {
    return refused(403, 'missing_role', `You signed in as ${user.name ?? user.username ?? user.oid}, who does not hold the ${config.admin.role} role of this gateway.`, { admin_oid: user.oid, admin_tid: user.tid })
  }
  // A session the browser may already hold is ended, never reused: each sign-in gets a new id.
  const sessionCookie = sessionCookieName(config.baseUrl)
  await fastify.adminSessions.destroy(request.cookies[sessionCookie])
  const { id } = await fastify.adminSessions.create(user)
  reply.setCookie(sessionCookie, id, sessionCookieOptions(config.baseUrl))
  fastify.audit('admin.signed_in', { admin_oid: user.oid, admin_tid: user.tid }, request)
  return reply.redirect(returnPath(login.returnTo), 302)
}

type Refusal = { status: number, reason: string, message: string, extra?: Record<string, unknown> }

/** Entra's answer to the user it names: its error, or its code redeemed and its id token verified. */
async function adminUser (
  fastify: FastifyInstance, request: FastifyRequest, str: (name: string) => string | undefined, login: { verifier: string, nonce: string }
): Promise<AdminUser | Refusal> {
  const upstreamError = str('error')
  if (upstreamError !== undefined) {
    return { status: 403, reason: 'upstream_error', message: readableDescription(str('error_description')), extra: { upstream_error: upstreamError } }
  }
  const code = str('code')
  if (code === undefined || code === '') return { status: 400, reason: 'no_code', message: 'Microsoft Entra ID answered without an authorization code.' }
  let idToken: string | undefined
  try {
    idToken = (await fastify.entra.redeemCode(code, login.verifier)).id_token
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    const failure = fastify.entra.refused(err, 'code_redemption', request)
    return { status: failure === 'transient' ? 503 : 400, reason: 'code_redemption', message: 'Microsoft Entra ID did not complete the sign-in. Try again.', extra: { upstream_error: err.error, aadsts: err.aadsts } }
  }
  if (idToken === undefined) return { status: 400, reason: 'no_id_token', message: 'Microsoft Entra ID returned no id token.' }
  try {
    const claims = await fastify.entra.verifyIdToken(idToken, login.nonce)
    return { oid: claims.oid ?? claims.sub, tid: claims.tid, name: claims.name, username: claims.preferred_username, roles: claims.roles ?? [] }
  } catch (err) {
    if (!(err instanceof IdTokenError)) throw err
    return { status: 403, reason: `id_token_${err.reason}`, message: err.message }
  }
}

export default signIn
