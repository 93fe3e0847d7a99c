// Pure rules of bearer-token verification: reading the Authorization header, a cheap
// look at the token before any crypto, deciding which issuer could vouch for it,
// the categories of rejection, and the caller's identity. No Fastify, no I/O.
import { reasonedError } from '../shared/reasoned-error.ts'
import type { Identity } from './identity.ts'
import { GUID, SCOPE_TOKEN } from '../shared/syntax.ts'

/** Why a token was refused; stable names for the audit log and metrics. */
export const REJECTION_CATEGORIES = [
  'expired', 'not_yet_valid', 'bad_signature', 'unknown_key', 'wrong_audience', 'wrong_issuer',
  'tenant_not_allowed', 'graph_token', 'malformed', 'unsupported_alg', 'revoked', 'store_reset'
] as const
export type RejectionCategory = typeof REJECTION_CATEGORIES[number]

/** A refusal: the category (`reason`) plus a description safe to show the caller (no internals). */
export class TokenRejection extends reasonedError<RejectionCategory>('FST_JWT_TOKEN_REJECTED', 'TokenRejection', 401) {
  /** The stable name of the refusal for the audit log and `error_description`. */
  get category (): RejectionCategory { return this.reason }
}

const reject = (category: RejectionCategory, description: string) => new TokenRejection(category, description)

/** Tokens are a few KB at most (Entra's with many groups stay below 8 KB); larger ones are refused unread. */
export const MAX_TOKEN_LENGTH = 8192
/** A kid is an opaque short label; anything longer is not one we could know. */
export const MAX_KID_LENGTH = 256

export const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://graph.microsoft.com/'
])
const V1_ISSUER = /^https:\/\/sts\.windows\.net\/([^/]+)\/$/
const BASE64URL = /^[A-Za-z0-9_-]+$/

export interface PeekedToken {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  alg: string
  kid: string | undefined
}

function decodeSegment (segment: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(segment)) return undefined
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * A look at a token before any crypto: size, shape, algorithm, Graph tokens. Nothing read
 * here is trusted yet; it only decides which key and which rules the signature check uses.
 */
export function peekToken (token: string): PeekedToken {
  if (token.length > MAX_TOKEN_LENGTH) throw reject('malformed', `The token is larger than ${MAX_TOKEN_LENGTH} bytes`)
  const parts = token.split('.')
  if (parts.length !== 3) throw reject('malformed', 'The token is not a JWS compact serialization (three base64url parts)')
  const header = decodeSegment(parts[0])
  const payload = decodeSegment(parts[1])
  if (header === undefined || payload === undefined) throw reject('malformed', 'The token header or payload is not base64url-encoded JSON')
  if (parts[2] !== '' && !BASE64URL.test(parts[2])) throw reject('malformed', 'The token signature is not base64url')
  const aud = payload.aud
  const audiences = Array.isArray(aud) ? aud : [aud]
  if (audiences.some(a => typeof a === 'string' && GRAPH_AUDIENCES.has(a.toLowerCase())) || header.nonce !== undefined) {
    throw reject('graph_token', 'This is a Microsoft Graph access token: only Graph can validate it. Request a token for this resource instead (sign in through this server, or ask Entra for this API\'s scope, e.g. "api://<client id>/.default")')
  }
  if (header.alg !== 'RS256') throw reject('unsupported_alg', 'The token must be signed with RS256')
  const kid = header.kid
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH)) {
    throw reject('malformed', 'The token header kid is not a short string')
  }
  return { header, payload, alg: header.alg, kid }
}

export interface EntraTrust {
  authorityHost: string
  multiTenant: boolean
  /** Lower-case tenant ids whose tokens are accepted (for a single tenant: that tenant). */
  allowedTenants: readonly string[]
  acceptV1Tokens: boolean
  issuerFor: (tid: string) => string
}

export type IssuerRoute =
  | { kind: 'self' }
  | { kind: 'entra', tid: string, version: 1 | 2 }

/**
 * Decides which of the two trusted issuers a token claims to come from, before its signature
 * is checked: this service itself, or Entra ID for an allowed tenant (v2, or v1 when enabled).
 * Everything else is refused here, so no key is ever looked up for an untrusted issuer.
 */
export function routeIssuer (payload: Record<string, unknown>, selfIssuer: string, entra: EntraTrust): IssuerRoute {
  const iss = payload.iss
  if (typeof iss !== 'string' || iss === '') throw reject('wrong_issuer', 'The token has no issuer (iss)')
  if (iss === selfIssuer) return { kind: 'self' }

  const v1 = V1_ISSUER.exec(iss)
  const looksLikeEntra = v1 !== null || iss.startsWith(`${entra.authorityHost}/`)
  if (!looksLikeEntra) throw reject('wrong_issuer', 'The token issuer is not trusted by this resource')

  const tid = payload.tid
  if (typeof tid !== 'string' || !GUID.test(tid)) throw reject('tenant_not_allowed', 'The token has no tenant id (tid) that is a GUID')
  const tenant = tid.toLowerCase()
  const version = v1 !== null ? 1 : 2
  const expected = version === 1 ? `https://sts.windows.net/${tid}/` : entra.issuerFor(tid)
  if (iss !== expected) throw reject('wrong_issuer', 'The token issuer does not match its tenant')
  if (!entra.allowedTenants.includes(tenant)) throw reject('tenant_not_allowed', 'The token comes from a tenant that is not allowed here')
  if (version === 1 && !entra.acceptV1Tokens) {
    throw reject('wrong_issuer', 'Entra v1.0 tokens (issuer https://sts.windows.net/...) are not accepted: set "accessTokenAcceptedVersion": 2 in the API app registration\'s manifest')
  }
  return { kind: 'entra', tid: tenant, version }
}

/** The description of each fast-jwt failure, mapped to our categories; nothing of fast-jwt's text leaks. */
export function categorizeVerifyError (err: unknown): TokenRejection {
  if (err instanceof TokenRejection) return err
  const code = (err as { code?: string })?.code
  const message = String((err as Error)?.message ?? '')
  const claim = /\bThe (\w+) claim\b/.exec(message)?.[1]
  switch (code) {
    case 'FAST_JWT_EXPIRED': return reject('expired', 'The token has expired')
    case 'FAST_JWT_INACTIVE': return reject('not_yet_valid', 'The token is not valid yet (nbf in the future)')
    case 'FAST_JWT_INVALID_SIGNATURE':
    case 'FAST_JWT_MISSING_SIGNATURE': return reject('bad_signature', 'The token signature does not verify')
    case 'FAST_JWT_INVALID_ALGORITHM': return reject('unsupported_alg', 'The token must be signed with RS256')
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM':
    case 'FAST_JWT_INVALID_CLAIM_VALUE':
    case 'FAST_JWT_INVALID_CLAIM_TYPE': {
      const missing = code === 'FAST_JWT_MISSING_REQUIRED_CLAIM'
      if (claim === 'aud') return reject('wrong_audience', missing ? 'The token has no audience (aud)' : 'The token is not meant for this resource (audience)')
      if (claim === 'iss') return reject('wrong_issuer', 'The token issuer is not trusted by this resource')
      return reject('malformed', missing ? `The token lacks the required ${claim ?? ''} claim`.replace('  ', ' ') : `The token's ${claim ?? 'claims'} claim is not valid`)
    }
    case 'FAST_JWT_INVALID_TYPE': return reject('malformed', 'The token type (typ) is not an access token')
    default: return reject('malformed', 'The token is not a well-formed JWT')
  }
}

/** RFC 7519 leaves `iat` unchecked; a token issued in the future (beyond the tolerance) is refused. */
export function checkIssuedAt (payload: Record<string, unknown>, nowMs: number, toleranceMs: number): void {
  const iat = payload.iat
  if (iat === undefined) return
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw reject('malformed', 'The token iat claim is not a number')
  if (iat * 1000 > nowMs + toleranceMs) throw reject('not_yet_valid', 'The token is not valid yet (issued in the future)')
}

/** No token this resource accepts lives longer (Entra's live 60-90 minutes, ours ACCESS_TOKEN_TTL). */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600

/**
 * fast-jwt checks that `exp` has not passed, not how far away it is: a token valid until the year
 * 5000 (or exp 1e20, which no date can hold) is refused as malformed. Its exp may be at most 24 h
 * after its iat, and after now (plus the tolerance, for an iat slightly ahead).
 */
export function checkLifetime (payload: Record<string, unknown>, nowMs: number, toleranceMs: number): void {
  const exp = payload.exp
  const iat = typeof payload.iat === 'number' ? payload.iat : undefined
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw reject('malformed', 'The token exp claim is not a number')
  if ((iat !== undefined && exp - iat > MAX_TOKEN_LIFETIME_SECONDS) || exp * 1000 > nowMs + toleranceMs + MAX_TOKEN_LIFETIME_SECONDS * 1000) {
    throw reject('malformed', 'The token lifetime is longer than 24 hours')
  }
}

/**
 * A token of ours issued before the store epoch is refused: the store lost its data since (a Redis
 * restart without persistence), revocations included, so the token may have been revoked.
 */
export function checkStoreEpoch (iat: number, epoch: number): void {
  if (iat < epoch) throw reject('store_reset', 'The server lost its sign-in data after this token was issued; sign in again')
}

const str = (value: unknown): string | undefined => typeof value === 'string' && value !== '' ? value : undefined
const words = (value: unknown): string[] => typeof value === 'string' ? value.split(' ').filter(Boolean) : []

/** The caller as described by a verified token's claims; nothing of the raw token. */
export function identityFromClaims (kind: 'self' | 'entra', payload: Record<string, unknown>): Identity {
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : []
  return {
    kind,
    sub: str(payload.sub) ?? '',
    oid: str(payload.oid),
    tid: str(payload.tid),
    name: str(payload.name),
    preferredUsername: str(payload.preferred_username) ?? str(payload.upn),
    email: str(payload.email),
    scopes: kind === 'self' ? words(payload.scope) : words(payload.scp),
    roles,
    // Ours: client_id (RFC 9068); Entra v2: azp; Entra v1: appid.
    clientId: kind === 'self' ? str(payload.client_id) : str(payload.azp) ?? str(payload.appid),
    grantId: kind === 'self' ? str(payload.sid) : undefined,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : 0
  }
}

/** Scopes of `needed` that the caller holds neither as a delegated scope nor as an app role. */
export function missingScopes (identity: Pick<Identity, 'scopes' | 'roles'>, needed: readonly string[]): string[] {
  const granted = new Set([...identity.scopes, ...identity.roles])
  return needed.filter(s => !granted.has(s))
}

/** What a client should ask for to step up: what it already holds plus what is needed. */
export function stepUpScopes (identity: Pick<Identity, 'scopes'>, needed: readonly string[]): string[] {
  return [...new Set([...identity.scopes, ...needed])]
}

/** A quoted-string parameter value: printable ASCII without `"` or `\`. */
const quoted = (value: string) => value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '').slice(0, 300)

export interface ChallengeParams {
  resourceMetadata: string
  scope?: readonly string[]
  error?: 'invalid_token' | 'invalid_request' | 'insufficient_scope'
  description?: string
}

/** The RFC 6750 `WWW-Authenticate` value, with the RFC 9728 `resource_metadata` pointer. */
export function formatChallenge (params: ChallengeParams): string {
  const parts = [`resource_metadata="${quoted(params.resourceMetadata)}"`]
  const scope = (params.scope ?? []).filter(s => SCOPE_TOKEN.test(s))
  if (scope.length > 0) parts.push(`scope="${scope.join(' ')}"`)
  if (params.error !== undefined) parts.push(`error="${params.error}"`)
  if (params.description !== undefined) parts.push(`error_description="${quoted(params.description)}"`)
  return `Bearer ${parts.join(', ')}`
}
