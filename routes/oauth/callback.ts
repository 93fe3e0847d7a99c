import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuthorizeTransaction } from '../../plugins/oauth-proxy/authorize/transactions.ts'
import type { EntraTokenSet } from '../../plugins/oauth-proxy/upstream-entra/token-endpoint.ts'
import type { EntraIdClaims } from '../../plugins/oauth-proxy/upstream-entra/id-token.ts'
import { clientRedirect } from '../../plugins/oauth-proxy/authorize/request.ts'
import { bindingCookieName, bindingMatches } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { IdTokenError, UpstreamError } from '../../plugins/oauth-proxy/upstream-entra/errors.ts'
import { aadstsOf, clientErrorFor, readableDescription } from '../../plugins/oauth-proxy/upstream-entra/aadsts.ts'
import { pageHeaders, sendErrorPage } from './consent-page.ts'
import { renderDeviceDonePage } from './device-page.ts'
import { BrowserQuery } from './authorize.ts'
import { isAdminState } from '../../plugins/admin/sessions.ts'
import { finishAdminSignIn } from '../admin/sign-in.ts'

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
    // One redirect URI in the app registration: an administrator's sign-in (state `admin.…`) ends here too.
    if (isAdminState(q.state)) return await finishAdminSignIn(fastify, request, reply, q)
    const taken = await takeBoundTransaction(fastify, request, reply, str('state'), bindingCookie)
    if ('refused' in taken) return taken.refused
    const { tx } = taken

    reply.header('cache-control', 'no-store')
    if (tx.device !== undefined) return await finishDeviceSignIn(fastify, request, reply, { ...tx, device: tx.device }, str)
    const back = (params: Record<string, string | undefined>) =>
      reply.redirect(clientRedirect(tx.redirectUri, { ...params, state: tx.state, iss: config.issuer }), 302)

    const signedIn = await signInAtEntra(fastify, request, tx, str)
    if ('reason' in signedIn) {
      const { reason, error, description, extra } = signedIn
      fastify.audit('login.failed', { outcome: 'failure', reason, client_id: tx.clientId, ...extra }, request)
      return back({ error, error_description: description })
    }
    const { user, tokens } = signedIn
    // Conditional Access ended this user's last grant with this client and Entra said what it wants:
    // a second leg in the same browser and transaction asks Entra for it (the user gets the MFA prompt).
    const challenge = tx.upstream.challenged === true ? null : await fastify.claimsChallenges.take(tx.clientId, user)
    if (challenge !== null) {
      fastify.audit('upstream.claims_challenge', { operation: 'sign_in', client_id: tx.clientId, oid: user.oid, tid: user.tid, passed_to_entra: true }, request)
      return reply.redirect(await fastify.upstreamSignIn(tx, { challenge, loginHint: user.preferred_username }), 302)
    }
    const { grant, code: proxyCode } = await fastify.grants.createGrant({ tx, user, tokens })
    fastify.audit('login.succeeded', { client_id: tx.clientId, oid: user.oid, tid: user.tid, scopes: grant.scopes }, request)
    return back({ code: proxyCode })
  })
}

/** A transaction whose upstream leg was started (fastify.upstreamSignIn). */
type StartedTransaction = AuthorizeTransaction & { upstream: NonNullable<AuthorizeTransaction['upstream']> }

/**
 * The transaction named by `state`, taken only when this is the browser that started it: another
 * browser gets an error page and leaves the transaction (and Entra's code) unused.
 */
async function takeBoundTransaction (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, state: string | undefined, bindingCookie: string
): Promise<{ tx: StartedTransaction } | { refused: FastifyReply }> {
  const unknown = () => {
    fastify.audit('login.failed', { outcome: 'failure', reason: 'unknown_state' }, request)
    return { refused: sendErrorPage(reply, 400, 'invalid_request', 'This sign-in response is unknown, expired or was already used.') }
  }
  const started = state === undefined ? null : await fastify.grants.readTransaction(state)
  if (started === null || started.upstream === undefined) return unknown()
  if (!bindingMatches(started.browser, request.cookies[bindingCookie])) {
    const reason = request.cookies[bindingCookie] === undefined ? 'no_browser_cookie' : 'other_browser'
    fastify.audit('login.failed', { outcome: 'denied', reason, client_id: started.clientId }, request)
    return { refused: sendErrorPage(reply, 403, 'access_denied', 'This sign-in was started in another browser, so it cannot finish here. Nothing was sent to the application. If you did not start a sign-in just now, someone may have sent you this link to get access with your account: close this page.') }
  }
  const tx = await fastify.grants.takeTransaction(started.id)
  if (tx === null || tx.upstream === undefined) return unknown()
  return { tx: tx as StartedTransaction }
}

/**
 * The end of a device grant's browser leg: the device authorization approved for the user who
 * signed in (in the browser bound to the transaction), or denied when the sign-in failed for good.
 * A page, never a redirect: the answer goes to the device, which polls /token.
 */
async function finishDeviceSignIn (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, tx: StartedTransaction & { device: { id: string } }, str: (name: string) => string | undefined
): Promise<FastifyReply> {
  const name = (await fastify.clients.lookup(tx.clientId)).client?.client_name ?? tx.clientId
  const signedIn = await signInAtEntra(fastify, request, tx, str)
  if ('reason' in signedIn) {
    const { reason, error, description, extra } = signedIn
    fastify.audit('login.failed', { outcome: 'failure', reason, client_id: tx.clientId, flow: 'device', ...extra }, request)
    // A passing outage leaves the code for another try; any other failure ends it.
    if (error !== 'temporarily_unavailable' && await fastify.grants.devices.deny(tx.device.id) !== null) {
      fastify.audit('device.denied', { outcome: 'failure', reason, client_id: tx.clientId }, request)
    }
    return sendErrorPage(reply, error === 'temporarily_unavailable' ? 503 : 400, error, description)
  }
  const approved = await fastify.grants.devices.approve(tx.device.id, signedIn)
  if (approved === null) {
    fastify.audit('login.failed', { outcome: 'failure', reason: 'device_answered', client_id: tx.clientId, flow: 'device' }, request)
    return sendErrorPage(reply, 400, 'invalid_request', 'This code has expired or was already answered. Start the sign-in again on your device.')
  }
  const { user } = signedIn
  fastify.audit('login.succeeded', { client_id: tx.clientId, oid: user.oid, tid: user.tid, scopes: approved.grant.scopes, flow: 'device' }, request)
  fastify.audit('device.approved', { client_id: tx.clientId, oid: user.oid, tid: user.tid, scopes: approved.grant.scopes }, request)
  return pageHeaders(reply).code(200).send(renderDeviceDonePage(true, name))
}

/** Why a sign-in failed after its transaction was taken: audited, and sent back to the client as an error. */
interface LoginFailure { reason: string, error: string, description: string, extra?: Record<string, unknown> }

/** Entra's answer: its error, or its code redeemed (upstream PKCE verifier) and its id token verified (nonce). */
async function signInAtEntra (
  fastify: FastifyInstance, request: FastifyRequest, tx: StartedTransaction, str: (name: string) => string | undefined
): Promise<{ tokens: EntraTokenSet, user: EntraIdClaims } | LoginFailure> {
  const upstreamError = str('error')
  if (upstreamError !== undefined) {
    const description = readableDescription(str('error_description'))
    const mapped = clientErrorFor(upstreamError, description)
    return { reason: 'upstream_error', ...mapped, extra: { upstream_error: upstreamError, aadsts: aadstsOf(description) } }
  }
  const code = str('code')
  if (code === undefined || code === '') return { reason: 'no_code', error: 'server_error', description: 'Microsoft Entra ID answered without an authorization code' }

  let tokens
  try {
    tokens = await fastify.entra.redeemCode(code, tx.upstream.verifier)
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err
    request.log.warn({ upstream_error: err.error, aadsts: err.aadsts }, 'Entra refused the code redemption')
    const failure = fastify.entra.refused(err, 'code_redemption', request, tx.clientId)
    const mapped = clientErrorFor(failure === 'transient' ? 'temporarily_unavailable' : err.error, err.message)
    return { reason: 'code_redemption', ...mapped, extra: { upstream_error: err.error, aadsts: err.aadsts } }
  }
  if (tokens.id_token === undefined) return { reason: 'no_id_token', error: 'server_error', description: 'Microsoft Entra ID returned no id token (is the openid scope granted?)' }

  try {
    return { tokens, user: await fastify.entra.verifyIdToken(tokens.id_token, tx.upstream.nonce) }
  } catch (err) {
    if (!(err instanceof IdTokenError)) throw err
    request.log.warn({ reason: err.reason }, 'Entra id token refused')
    return { reason: `id_token_${err.reason}`, error: 'access_denied', description: err.message }
  }
}

export default callback
