import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import formbody from '@fastify/formbody'
import Type from 'typebox'
import { clientRedirect } from '../../plugins/oauth-proxy/authorize/request.ts'
import { csrfMatches } from '../../plugins/oauth-proxy/consent/consent-session.ts'
import { bindingCookieName, bindingMatches, crossSiteReason } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { sendErrorPage } from './consent-page.ts'
import { CONSENT_PATH } from './authorize.ts'

const Body = Type.Object({
  transaction: Type.Optional(Type.String({ maxLength: 200 })),
  csrf_token: Type.Optional(Type.String({ maxLength: 200 })),
  decision: Type.Optional(Type.String({ maxLength: 20 }))
})

/**
 * POST /authorize/consent: the consent form. It must come from the service's own page (no
 * cross-site post) in the browser that opened /authorize (its binding cookie), and carry the
 * transaction's CSRF token; otherwise a 403 page and `consent.refused`, and the transaction is
 * left as it was. Approve: remembered for this browser's consent session, then on to Entra.
 * Deny: `access_denied` back to the client. Either way the transaction is taken atomically, so a
 * form submitted twice acts once.
 */
const consent: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)
  const bindingCookie = bindingCookieName(config.baseUrl)
  const serviceOrigin = new URL(config.baseUrl).origin

  fastify.post(CONSENT_PATH, {
    config: { rateLimitFamily: 'authorize' },
    bodyLimit: 8192,
    schema: { body: Body }
  }, async (request, reply) => {
    const { transaction, csrf_token: csrfToken, decision } = request.body
    const crossSite = crossSiteReason(request.headers, serviceOrigin)
    if (crossSite !== undefined) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'cross_site', detail: crossSite }, request)
      return sendErrorPage(reply, 403, 'access_denied', 'This consent form was sent from another website, not from this service\'s own page, so nothing was approved. If you did not start a sign-in just now, close this page.')
    }
    const tx = transaction === undefined ? null : await fastify.grants.readTransaction(transaction)
    // A device grant's transaction is answered at /device/consent only (its deny ends the device code).
    if (tx === null || tx.device !== undefined) {
      return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in request has expired or was already answered.')
    }
    if (!bindingMatches(tx.browser, request.cookies[bindingCookie])) {
      const reason = request.cookies[bindingCookie] === undefined ? 'no_browser_cookie' : 'other_browser'
      fastify.audit('consent.refused', { outcome: 'denied', reason, client_id: tx.clientId }, request)
      return sendErrorPage(reply, 403, 'access_denied', 'This sign-in was started in another browser, so it cannot be approved here and nothing was approved. If you did not start a sign-in just now, someone may have tried to sign in with your account: close this page.')
    }
    if (!csrfMatches(tx.csrf, csrfToken)) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'csrf_token', client_id: tx.clientId }, request)
      return sendErrorPage(reply, 403, 'invalid_request', 'The consent form could not be verified (missing or wrong CSRF token).')
    }
    if (decision !== 'approve' && decision !== 'deny') {
      return sendErrorPage(reply, 400, 'invalid_request', 'Choose Approve or Deny.')
    }
    // Already approved (the form sent again, e.g. with Back): leave the sign-in under way alone.
    if (tx.upstream !== undefined) {
      return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in request was already answered.')
    }
    const taken = await fastify.grants.takeTransaction(tx.id)
    if (taken === null || taken.upstream !== undefined || !csrfMatches(taken.csrf, csrfToken)) {
      return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in request was already answered.')
    }
    reply.header('cache-control', 'no-store')

    if (decision === 'deny') {
      fastify.audit('consent.denied', { outcome: 'denied', client_id: taken.clientId, scopes: taken.scopes }, request)
      return reply.redirect(clientRedirect(taken.redirectUri, {
        error: 'access_denied', error_description: 'The user denied the request', state: taken.state, iss: config.issuer
      }), 303)
    }
    // An approval for the admin API is not remembered (asked every time, routes/oauth/authorize.ts).
    if (taken.resource !== config.admin.resource) await fastify.consents.remember(request, reply, taken.clientId, taken.scopes)
    fastify.audit('consent.granted', { client_id: taken.clientId, scopes: taken.scopes }, request)
    return reply.redirect(await fastify.upstreamSignIn(taken), 303)
  })
}

export default consent
