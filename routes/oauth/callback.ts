import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientRedirect } from '../../plugins/oauth-proxy/authorize/request.ts'
import { bindingCookieName, bindingMatches } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { IdTokenError, UpstreamError } from '../../plugins/oauth-proxy/upstream-entra/errors.ts'
import { aadstsOf, clientErrorFor, readableDescription } from '../../plugins/oauth-proxy/upstream-entra/aadsts.ts'
import { sendErrorPage } from './consent-page.ts'
import { BrowserQuery } from './authorize.ts'

/**
 * GET /auth/callback: Entra's answer. It must arrive in the browser that opened /authorize (its
 * binding cookie): a link to Entra carried to another browser ends on an error page here, Entra's
 * code unused, and the transaction left for its own browser. Then the state (the transaction id)
 * is taken atomically, so a replayed callback finds nothing and gets an error page. The code is
 * redeemed with the upstream PKCE verifier, the id token verified, the grant stored with Entra's
 * tokens sealed, and the browser sent to the client with a one-time proxy code, the client's
 * state and `iss`.
 */
const callback: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  const bindingCookie = bindingCookieName(config.baseUrl)

  fastify.get('/auth/callback', {
    config: { rateLimitFamily: 'authorize' },
    schema: { querystring: BrowserQuery }
  }, async (request, reply) => {
    const q = request.query
    const str = (name: string) => typeof q[name] === 'string' ? q[name] as string : undefined
    const state = str('state')
    const unknown = () => {
      fastify.audit('login.failed', { outcome: 'failure', reason: 'unknown_state' }, request)
      return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in response is unknown, expired or was already used.')
    }
    const started = state === undefined ? null : await fastify.grants.readTransaction(state)
    if (started === null || started.upstream === undefined) return unknown()
    if (!bindingMatches(started.browser, request.cookies[bindingCookie])) {
      const reason = request.cookies[bindingCookie] === undefined ? 'no_browser_cookie' : 'other_browser'
      fastify.audit('login.failed', { outcome: 'denied', reason, client_id: started.clientId }, request)
      return sendErrorPage(reply, 403, 'access_denied', 'This sign-in was started in another browser, so it cannot finish here. Nothing was sent to the application. If you did not start a sign-in just now, someone may have sent you this link to get access with your account: close this page.')
    }
    const tx = await fastify.grants.takeTransaction(started.id)
    if (tx === null || tx.upstream === undefined) return unknown()
    reply.header('cache-control', 'no-store')
    const back = (params: Record<string, string | undefined>) =>
      reply.redirect(clientRedirect(tx.redirectUri, { ...params, state: tx.state, iss: config.issuer }), 302)
    const fail = (reason: string, error: string, description: string, extra: Record<string, unknown> = {}) => {
      fastify.audit('login.failed', { outcome: 'failure', reason, client_id: tx.clientId, ...extra }, request)
      return back({ error, error_description: description })
    }

    const upstreamError = str('error')
    if (upstreamError !== undefined) {
      const description = readableDescription(str('error_description'))
      const mapped = clientErrorFor(upstreamError, description)
      return fail('upstream_error', mapped.error, mapped.description, { upstream_error: upstreamError, aadsts: aadstsOf(description) })
    }
    const code = str('code')
    if (code === undefined || code === '') return fail('no_code', 'server_error', 'Microsoft Entra ID answered without an authorization code')

    let tokens
    try {
      tokens = await fastify.entra.redeemCode(code, tx.upstream.verifier)
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err
      request.log.warn({ upstream_error: err.error, aadsts: err.aadsts }, 'Entra refused the code redemption')
      const failure = fastify.entra.refused(err, 'code_redemption', request, tx.clientId)
      const mapped = clientErrorFor(failure === 'transient' ? 'temporarily_unavailable' : err.error, err.message)
      return fail('code_redemption', mapped.error, mapped.description, { upstream_error: err.error, aadsts: err.aadsts })
    }
    if (tokens.id_token === undefined) return fail('no_id_token', 'server_error', 'Microsoft Entra ID returned no id token (is the openid scope granted?)')

    let user
    try {
      user = await fastify.entra.verifyIdToken(tokens.id_token, tx.upstream.nonce)
    } catch (err) {
      if (!(err instanceof IdTokenError)) throw err
      request.log.warn({ reason: err.reason }, 'Entra id token refused')
      return fail(`id_token_${err.reason}`, 'access_denied', err.message)
    }

    const { grant, code: proxyCode } = await fastify.grants.createGrant({ tx, user, tokens })
    fastify.audit('login.succeeded', { client_id: tx.clientId, oid: user.oid, tid: user.tid, scopes: grant.scopes }, request)
    return back({ code: proxyCode })
  })
}

export default callback
