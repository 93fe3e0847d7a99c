// The errors of the upstream leg (@fastify/error, each with its own code). None carries a status:
// they are turned into OAuth answers, pages or tool errors by whoever called Entra.
import createError from '@fastify/error'
import { aadstsOf, readableDescription } from './aadsts.ts'
import { parseClaimsChallenge, type ClaimsRequest } from './claims.ts'

const UpstreamErrorBase = createError<[string]>('FST_UPSTREAM_ENTRA_REFUSED', '%s')

/**
 * An answer from Entra that is not a token: `error` / `error_description` as Entra sent them
 * (AADSTS codes in the description), or `temporarily_unavailable` when Entra could not be reached.
 */
export class UpstreamError extends UpstreamErrorBase {
  error: string
  /** Network failure, timeout or 5xx: worth retrying, says nothing about the grant. */
  transient: boolean
  /** The AADSTS code from the description, when there is one (e.g. AADSTS65001). */
  aadsts?: string
  /** A Conditional Access or CAE claims challenge Entra sent with the refusal (its `claims` member). */
  claims?: ClaimsRequest
  constructor (error: string, description: string, transient = false, claims?: ClaimsRequest) {
    super(description)
    this.name = 'UpstreamError'
    this.error = error
    this.transient = transient
    this.aadsts = aadstsOf(description)
    if (claims !== undefined) this.claims = claims
  }
}

const IdTokenErrorBase = createError<[string]>('FST_UPSTREAM_ID_TOKEN', '%s')

/** Entra's id token was refused; `reason` names why (audited as `id_token_{reason}`). */
export class IdTokenError extends IdTokenErrorBase {
  reason: string
  constructor (reason: string, message: string) {
    super(message)
    this.name = 'IdTokenError'
    this.reason = reason
  }
}

export type UpstreamTokenErrorCode = 'grant_not_found' | 'no_refresh_token' | 'graph_consent_required' | 'upstream_refused' | 'upstream_unavailable' | 'claims_challenge'

const UpstreamTokenErrorBase = createError<[string]>('FST_UPSTREAM_TOKEN', '%s')

/**
 * A grant cannot give a Graph (or on-behalf-of) token. Its `code` is the reason the MCP tools
 * answer on (mcp/transport.ts upstreamError), not the @fastify/error code.
 */
export class UpstreamTokenError extends UpstreamTokenErrorBase {
  declare code: UpstreamTokenErrorCode
  constructor (code: UpstreamTokenErrorCode, message: string) {
    super(message)
    this.name = 'UpstreamTokenError'
    this.code = code
  }
}

/** Turns an Entra error body (or a transport failure) into an UpstreamError. */
export function upstreamErrorFrom (status: number | undefined, body: unknown): UpstreamError {
  const payload = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>
  if (typeof payload.error === 'string') {
    const claims = typeof payload.claims === 'string' ? parseClaimsChallenge(payload.claims) : undefined
    return new UpstreamError(payload.error, readableDescription(payload.error_description), status !== undefined && (status >= 500 || status === 429), claims)
  }
  if (status === undefined) return new UpstreamError('temporarily_unavailable', 'Microsoft Entra ID could not be reached', true)
  const transient = status >= 500 || status === 429
  return new UpstreamError(transient ? 'temporarily_unavailable' : 'server_error', `Microsoft Entra ID answered HTTP ${status}`, transient)
}
