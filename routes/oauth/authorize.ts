import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { checkAuthorizeRequest, clientRedirect, type AuthorizeCheck, type AuthorizeParams } from '../../plugins/oauth-proxy/authorize/request.ts'
import type { ClientRecord } from '../../plugins/oauth-proxy/clients/registry.ts'
import { redirectUriMatches } from '../../plugins/shared/redirect-uris.ts'
import { consentMaySkip, newCsrfToken } from '../../plugins/oauth-proxy/consent/consent-session.ts'
import { bindingCookieName, bindingCookieOptions, bindingHash, browserSecret } from '../../plugins/oauth-proxy/authorize/browser-binding.ts'
import { newTransactionId, type AuthorizeTransaction } from '../../plugins/oauth-proxy/authorize/transactions.ts'
import { StoreFullError } from '../../plugins/oauth-proxy/grants/model.ts'
import { pageHeaders, renderConsentPage, sendErrorPage, sendReturnPage } from './consent-page.ts'

// Every parameter is read by hand (checkAuthorizeRequest here, the callback's own checks): a bad one
// is answered on a page or at the client's verified redirect URI, never with a JSON validation error.
export const BrowserQuery = Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]))

export const CONSENT_PATH = '/authorize/consent'

/**
 * GET /authorize: checks the client, its redirect URI, response_type, PKCE S256, resource and scopes,
 * binds the transaction (`tx:{id}`, 600 s) to this browser with a cookie, and shows the consent
 * page, or goes straight to Entra when this browser already approved these scopes for a client
 * whose identity is proven (consentMaySkip). When the in-memory store holds as many transactions
 * as it may, a 503 page (audited `store.full`).
 */
const authorize: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  const bindingCookie = bindingCookieName(config.baseUrl)

  fastify.get('/authorize', {
    config: { rateLimitFamily: 'authorize' },
    schema: { querystring: BrowserQuery }
  }, async (request, reply) => {
    const query = request.query
    const clientId = typeof query.client_id === 'string' && query.client_id !== '' ? query.client_id : undefined
    const lookup = clientId === undefined ? null : await fastify.clients.lookup(clientId)
    const client = lookup?.client ?? null
    const check = checkAuthorizeRequest(query, client, config, redirectUriMatches)
    if (check.outcome !== 'ok') return await refuse(fastify, request, reply, check, clientId, lookup?.reason)

    const tx = bindToBrowser(fastify, request, reply, bindingCookie, check.params)
    return await startSignIn(fastify, request, reply, tx, client)
  })
}

/** A request that cannot go on: a page, or (redirect URI verified) an error for the client. */
async function refuse (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply,
  check: Exclude<AuthorizeCheck, { outcome: 'ok' }>, clientId: string | undefined, lookupReason: string | undefined
): Promise<FastifyReply> {
  fastify.audit('authorize.started', { outcome: 'failure', reason: check.error, client_id: clientId }, request)
  if (check.outcome === 'page') {
    // For a client ID metadata document that could not be used, say why (the reason names no secret).
    const description = check.error === 'invalid_client' && lookupReason !== undefined ? `${check.description} (${lookupReason})` : check.description
    return sendErrorPage(reply, check.status, check.error, description)
  }
  const location = clientRedirect(check.redirectUri, {
    error: check.error, error_description: check.description, state: check.state, iss: fastify.config.issuer
  })
  // Anyone can register a redirect URI: until this browser has approved the client, an error
  // is not an automatic redirect to wherever it names (RFC 9700 §4.11.2), but a page and a link.
  if (!await fastify.consents.remembered(request, check.clientId, [])) {
    return sendReturnPage(reply, 400, check.error, check.description, location)
  }
  return reply.header('cache-control', 'no-store').redirect(location, 302)
}

/** The transaction of a checked request, bound to this browser by the binding cookie (set here). */
function bindToBrowser (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, bindingCookie: string, params: AuthorizeParams
): AuthorizeTransaction {
  const now = Math.floor(Date.now() / 1000)
  const secret = browserSecret(request.cookies[bindingCookie])
  reply.setCookie(bindingCookie, secret, bindingCookieOptions(fastify.config.baseUrl))
  return {
    id: newTransactionId(),
    clientId: params.clientId,
    redirectUri: params.redirectUri,
    state: params.state,
    codeChallenge: params.codeChallenge,
    scopes: params.scopes,
    resource: params.resource,
    csrf: newCsrfToken(),
    browser: bindingHash(secret),
    createdAt: now
  }
}

/** Straight to Entra when this browser's approval is remembered, otherwise the consent page. */
async function startSignIn (
  fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, tx: AuthorizeTransaction, client: ClientRecord | null
): Promise<FastifyReply> {
  // A token for the admin API is asked about every time: an approval of MCP scopes never lets a client skip to it.
  const adminApi = tx.resource === fastify.config.admin.resource
  const maySkip = client !== null && !adminApi && consentMaySkip(client, tx.redirectUri)
  const remembered = maySkip && await fastify.consents.remembered(request, tx.clientId, tx.scopes)
  fastify.audit('authorize.started', { client_id: tx.clientId, scopes: tx.scopes, consent_remembered: remembered }, request)

  try {
    if (remembered) {
      const upstreamUrl = await fastify.upstreamSignIn(tx)
      return reply.header('cache-control', 'no-store').redirect(upstreamUrl, 302)
    }
    await fastify.grants.saveTransaction(tx)
  } catch (err) {
    // The in-memory store's transactions are at their bound: refuse this one, drop nothing.
    if (!(err instanceof StoreFullError)) throw err
    fastify.audit('store.full', { outcome: 'failure', kind: err.kind, client_id: tx.clientId }, request)
    return sendErrorPage(reply.header('retry-after', '60'), 503, 'temporarily_unavailable', err.message)
  }
  return pageHeaders(reply).code(200).send(renderConsentPage({
    transactionId: tx.id,
    csrfToken: tx.csrf,
    clientId: tx.clientId,
    clientName: client?.client_name,
    redirectUri: tx.redirectUri,
    metadataDocument: client?.source === 'metadata_document',
    scopes: tx.scopes,
    rememberedForSeconds: maySkip ? fastify.config.consentTtl : 0,
    serviceName: 'Entra MCP Gateway',
    action: CONSENT_PATH,
    adminApi
  }))
}

export default authorize
