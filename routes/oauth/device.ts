import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import formbody from '@fastify/formbody'
import Type from 'typebox'
import { bindingCookieName, bindingCookieOptions, bindingHash, bindingMatches, browserSecret, crossSiteReason } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { newTransactionId, type AuthorizeTransaction } from '../../plugins/oauth-proxy/authorize/transactions.ts'
import { csrfMatches, newCsrfToken } from '../../plugins/oauth-proxy/consent/consent-session.ts'
import { deviceFormToken, deviceFormTokenMatches } from '../../plugins/oauth-proxy/device/user-code.ts'
import type { PendingDevice } from '../../plugins/oauth-proxy/grants/devices.ts'
import { StoreFullError } from '../../plugins/oauth-proxy/grants/model.ts'
import { ipKey } from '../../plugins/rate-limit/keys.ts'
import { pageHeaders, sendErrorPage } from './consent-page.ts'
import { renderDeviceConsentPage, renderDeviceDonePage, renderDeviceEntryPage } from './device-page.ts'
import { DEVICE_PATH } from './device-authorization.ts'

export const DEVICE_CONSENT_PATH = '/device/consent'

/**
 * Brute force of user codes (RFC 8628 §5.1): code entries per address, and how often one code
 * may be entered at all (each entry shows its consent page) during its life.
 */
export const DEVICE_ENTRIES_PER_IP = { max: 20, windowSeconds: 300 }
export const DEVICE_ENTRIES_PER_CODE = { max: 5, windowSeconds: 900 }

const EntryBody = Type.Object({ user_code: Type.Optional(Type.String({ maxLength: 100 })), csrf_token: Type.Optional(Type.String({ maxLength: 200 })) })
const ConsentBody = Type.Object({
  transaction: Type.Optional(Type.String({ maxLength: 200 })),
  csrf_token: Type.Optional(Type.String({ maxLength: 200 })),
  decision: Type.Optional(Type.String({ maxLength: 20 }))
})
const EntryQuery = Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))

const OTHER_SITE = 'This form was sent from another website, not from this service\'s own page, so nothing happened. If you did not start a sign-in just now, close this page.'

/**
 * The browser side of the device grant (RFC 8628 §3.3): GET /device (the code form; a
 * verification_uri_complete fills it in, the person still confirms), POST /device (the code:
 * throttled per address and per code; the consent page, bound to this browser like /authorize's),
 * POST /device/consent (deny ends the device authorization; approve goes on to Entra, and the
 * callback (callback.ts) approves it for the user who signed in, in this browser only).
 */
const device: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)
  const bindingCookie = bindingCookieName(config.baseUrl)
  const serviceOrigin = new URL(config.baseUrl).origin

  /** This browser's binding secret (kept, or new), set again for another transaction's life. */
  const bindBrowser = (request: FastifyRequest, reply: FastifyReply): string => {
    const secret = browserSecret(request.cookies[bindingCookie])
    reply.setCookie(bindingCookie, secret, bindingCookieOptions(config.baseUrl))
    return secret
  }
  const entryPage = (reply: FastifyReply, secret: string, status: number, extra: { userCode?: string, problem?: string } = {}) =>
    pageHeaders(reply).code(status).send(renderDeviceEntryPage({ action: DEVICE_PATH, formToken: deviceFormToken(secret), ...extra }))

  fastify.get(DEVICE_PATH, { config: { rateLimitFamily: 'authorize' }, schema: { querystring: EntryQuery } }, async (request, reply) => {
    const typed = request.query.user_code
    return entryPage(reply, bindBrowser(request, reply), 200, { userCode: typeof typed === 'string' ? typed.slice(0, 20) : undefined })
  })

  fastify.post(DEVICE_PATH, { config: { rateLimitFamily: 'authorize' }, bodyLimit: 4096, schema: { body: EntryBody } }, async (request, reply) => {
    const crossSite = crossSiteReason(request.headers, serviceOrigin)
    if (crossSite !== undefined) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'cross_site', detail: crossSite, flow: 'device' }, request)
      return sendErrorPage(reply, 403, 'access_denied', OTHER_SITE)
    }
    const presented = request.cookies[bindingCookie]
    const secret = typeof presented === 'string' && browserSecret(presented) === presented ? presented : undefined
    if (!deviceFormTokenMatches(secret, request.body.csrf_token)) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'csrf_token', flow: 'device' }, request)
      return entryPage(reply, bindBrowser(request, reply), 403, { problem: 'The form could not be verified (it is old, or from another browser). Enter the code again.' })
    }
    if (!await withinLimit(fastify, request, 'ip', ipKey(request.ip), DEVICE_ENTRIES_PER_IP)) {
      return entryPage(reply.header('retry-after', String(DEVICE_ENTRIES_PER_IP.windowSeconds)), secret as string, 429, { problem: 'Too many codes were entered from your network. Wait a few minutes and try again.' })
    }
    const found = await fastify.grants.devices.findByUserCode(request.body.user_code)
    if (found === null) {
      fastify.audit('device.denied', { outcome: 'failure', reason: 'unknown_user_code' }, request)
      return entryPage(reply, secret as string, 400, { problem: 'This code is unknown, has expired or was already used. Check it, or start the sign-in again on your device.' })
    }
    if (!await withinLimit(fastify, request, 'code', found.id, DEVICE_ENTRIES_PER_CODE)) {
      return sendErrorPage(reply, 429, 'slow_down', 'This code was entered too many times. Start the sign-in again on your device.')
    }
    return await showConsent(fastify, request, reply, found, bindingHash(secret as string))
  })

  registerConsentForm(fastify, bindingCookie, serviceOrigin)
}

/** POST /device/consent: this browser's own consent form for the device authorization (binding cookie, CSRF token). */
function registerConsentForm (instance: FastifyInstance, bindingCookie: string, serviceOrigin: string): void {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  fastify.post(DEVICE_CONSENT_PATH, { config: { rateLimitFamily: 'authorize' }, bodyLimit: 8192, schema: { body: ConsentBody } }, async (request, reply) => {
    const crossSite = crossSiteReason(request.headers, serviceOrigin)
    if (crossSite !== undefined) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'cross_site', detail: crossSite, flow: 'device' }, request)
      return sendErrorPage(reply, 403, 'access_denied', OTHER_SITE)
    }
    const { transaction, csrf_token: csrfToken, decision } = request.body
    const tx = transaction === undefined ? null : await fastify.grants.readTransaction(transaction)
    if (tx === null || tx.device === undefined) return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in request has expired or was already answered.')
    if (!bindingMatches(tx.browser, request.cookies[bindingCookie])) {
      const reason = request.cookies[bindingCookie] === undefined ? 'no_browser_cookie' : 'other_browser'
      fastify.audit('consent.refused', { outcome: 'denied', reason, client_id: tx.clientId, flow: 'device' }, request)
      return sendErrorPage(reply, 403, 'access_denied', 'This code was entered in another browser, so it cannot be approved here and nothing was approved. If you did not start a sign-in just now, close this page.')
    }
    if (!csrfMatches(tx.csrf, csrfToken)) {
      fastify.audit('consent.refused', { outcome: 'denied', reason: 'csrf_token', client_id: tx.clientId, flow: 'device' }, request)
      return sendErrorPage(reply, 403, 'invalid_request', 'The consent form could not be verified (missing or wrong CSRF token).')
    }
    if (decision !== 'approve' && decision !== 'deny') return sendErrorPage(reply, 400, 'invalid_request', 'Choose Approve or Deny.')
    const taken = tx.upstream === undefined ? await fastify.grants.takeTransaction(tx.id) : null
    if (taken?.device === undefined || taken.upstream !== undefined || !csrfMatches(taken.csrf, csrfToken)) {
      return sendErrorPage(reply, 400, 'invalid_request', 'This sign-in request was already answered.')
    }
    return await answerConsent(fastify, request, reply, taken as AuthorizeTransaction & { device: { id: string } }, decision)
  })
}

/** Counts one entry in a device-code budget; false (audited) when it is spent. */
async function withinLimit (fastify: FastifyInstance, request: FastifyRequest, kind: 'ip' | 'code', key: string, rule: { max: number, windowSeconds: number }): Promise<boolean> {
  const result = await fastify.consumeRateLimit(`device-code-${kind}`, key, rule)
  if (result.allowed) return true
  fastify.audit('rate_limit.exceeded', { outcome: 'denied', reason: 'rate_limited', family: 'device_code', key_kind: kind, limit: rule.max, window_seconds: rule.windowSeconds, retry_after: result.resetSeconds }, request)
  return false
}

/** A transaction for the device authorization, bound to this browser, and its consent page. */
async function showConsent (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, found: PendingDevice, browser: string): Promise<FastifyReply> {
  const { record } = found
  const now = Math.floor(Date.now() / 1000)
  const tx: AuthorizeTransaction = {
    id: newTransactionId(),
    clientId: record.clientId,
    redirectUri: `${fastify.config.baseUrl}${DEVICE_PATH}`,
    codeChallenge: '',
    scopes: record.scopes,
    resource: record.resource,
    csrf: newCsrfToken(),
    browser,
    createdAt: now,
    device: { id: found.id }
  }
  try {
    await fastify.grants.saveTransaction(tx)
  } catch (err) {
    if (!(err instanceof StoreFullError)) throw err
    fastify.audit('store.full', { outcome: 'failure', kind: err.kind, client_id: tx.clientId }, request)
    return sendErrorPage(reply.header('retry-after', '60'), 503, 'temporarily_unavailable', err.message)
  }
  const client = (await fastify.clients.lookup(record.clientId)).client
  fastify.audit('authorize.started', { client_id: tx.clientId, scopes: tx.scopes, flow: 'device' }, request)
  return pageHeaders(reply).code(200).send(renderDeviceConsentPage({
    transactionId: tx.id,
    csrfToken: tx.csrf,
    clientId: record.clientId,
    clientName: client?.client_name,
    scopes: record.scopes,
    requestedAt: record.createdAt,
    requestIp: record.requestIp,
    serviceName: 'Entra MCP Gateway',
    action: DEVICE_CONSENT_PATH
  }, now))
}

/** Deny: the device authorization ends (access_denied at /token). Approve: on to Entra. */
async function answerConsent (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, taken: AuthorizeTransaction & { device: { id: string } }, decision: 'approve' | 'deny'
): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store')
  const client = (await fastify.clients.lookup(taken.clientId)).client
  const name = client?.client_name ?? taken.clientId
  if (decision === 'deny') {
    const denied = await fastify.grants.devices.deny(taken.device.id)
    fastify.audit('consent.denied', { outcome: 'denied', client_id: taken.clientId, scopes: taken.scopes, flow: 'device' }, request)
    if (denied !== null) fastify.audit('device.denied', { outcome: 'denied', reason: 'user_denied', client_id: taken.clientId }, request)
    return pageHeaders(reply).code(200).send(renderDeviceDonePage(false, name))
  }
  if (await fastify.grants.devices.pending(taken.device.id) === null) {
    return sendErrorPage(reply, 400, 'invalid_request', 'This code has expired or was already answered. Start the sign-in again on your device.')
  }
  fastify.audit('consent.granted', { client_id: taken.clientId, scopes: taken.scopes, flow: 'device' }, request)
  return reply.redirect(await fastify.upstreamSignIn(taken), 303)
}

export default device
