// Microsoft Graph for tools: the caller's Graph token acquired server-side (on-behalf-of for an
// Entra token, the grant's refresh token for one of ours) and one call with a timeout. The token
// never reaches the tool.
import type { FastifyRequest } from 'fastify'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { parseAuthorization } from '../plugins/shared/authorization-header.ts'
import type { UpstreamTokensApi } from '../plugins/oauth-proxy.ts'
import { ToolError, type GraphResponse } from './registry.ts'

const GRAPH_TIMEOUT_MS = 10_000

export type UpstreamTokens = Pick<UpstreamTokensApi, 'forGrant' | 'onBehalfOf'>

/** `ctx.graph` of a tool: calls Microsoft Graph as the caller of `request`. */
export type GraphCall = (request: FastifyRequest, identity: Identity, path: string, init?: { signal?: AbortSignal }) => Promise<GraphResponse>

export function createGraphCall (graphBaseUrl: string, upstream: () => UpstreamTokens): GraphCall {
  return async function callGraph (request, identity, path, init = {}) {
    const token = await graphToken(request, identity, upstream())
    const timeout = AbortSignal.timeout(GRAPH_TIMEOUT_MS)
    const signal = init.signal !== undefined ? AbortSignal.any([timeout, init.signal]) : timeout
    let status: number
    let text: string
    try {
      const res = await fetch(`${graphBaseUrl}${path.startsWith('/') ? path : `/${path}`}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal
      })
      status = res.status
      text = await res.text()
    } catch (err) {
      // The caller cancelled: not Graph's fault, let the cancellation through as it is.
      if (init.signal?.aborted === true && !timeout.aborted) throw err
      const reason = timeout.aborted ? 'timeout' : 'network error'
      const cause = (err as { cause?: { code?: unknown, message?: unknown } }).cause
      request.log.warn({ reason, err: { name: (err as Error).name, message: (err as Error).message, code: cause?.code, cause: typeof cause?.message === 'string' ? cause.message : undefined } }, 'Microsoft Graph could not be reached')
      throw new ToolError(`Microsoft Graph could not be reached (${reason}); try again later.`)
    }
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status, body }
  }
}

/** A Microsoft Graph token for the caller of `request`, acquired server-side. */
async function graphToken (request: FastifyRequest, identity: Identity, upstream: UpstreamTokens): Promise<string> {
  try {
    if (identity.kind === 'entra') {
      // The caller's own Entra token is the assertion for the on-behalf-of flow. It is read from
      // the request here, in the server, and never handed to a tool.
      const parsed = parseAuthorization(request.headers.authorization)
      if (parsed.kind !== 'bearer') throw new ToolError('No bearer token to exchange for Microsoft Graph.')
      return (await upstream.onBehalfOf(parsed.token)).accessToken
    }
    if (identity.grantId === undefined) throw new ToolError('This token is not tied to a sign-in grant, so it cannot reach Microsoft Graph. Sign in through this server\'s OAuth flow.')
    return (await upstream.forGrant(identity.grantId)).accessToken
  } catch (err) {
    if (err instanceof ToolError) throw err
    const code = (err as { code?: unknown }).code
    request.log.info({ reason: code, detail: (err as Error).message }, 'no Microsoft Graph token for this caller')
    throw upstreamError(err)
  }
}

/**
 * Turns a failure of the upstream token service (`UpstreamTokenError` codes of the oauth proxy)
 * into a message the caller can act on. Entra's own error text stays in the log.
 */
export function upstreamError (err: unknown): ToolError {
  switch ((err as { code?: unknown }).code) {
    case 'graph_consent_required':
      return new ToolError('The sign-in grant has no consent for Microsoft Graph (User.Read). Sign in again and accept the Microsoft Graph permission, or ask an administrator to grant consent for the app registration.')
    case 'no_refresh_token':
      return new ToolError('The sign-in grant holds no Entra refresh token (offline_access was not granted), so Microsoft Graph cannot be reached. Sign in again.')
    case 'grant_not_found':
      return new ToolError('The sign-in behind this token no longer exists (revoked or expired). Sign in again.')
    case 'upstream_unavailable':
      return new ToolError('Microsoft Entra ID could not be reached for a Microsoft Graph token. Retry shortly.')
    case 'claims_challenge':
      return new ToolError((err as Error).message)
    case 'upstream_refused':
      return new ToolError('Microsoft Entra ID refused a Microsoft Graph token for this user. Sign in again; if it persists, check the app registration\'s Graph permissions.')
    default:
      return new ToolError('Could not get a Microsoft Graph token for this user right now. Retry later.')
  }
}
