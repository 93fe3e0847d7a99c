import { createHash } from 'node:crypto'
import ipaddr from 'ipaddr.js'

/** Route families that opt in with `config: { rateLimitFamily }`. */
export const RATE_LIMIT_FAMILIES = ['register', 'authorize', 'token', 'revoke', 'mcp'] as const
export type RateLimitFamily = typeof RATE_LIMIT_FAMILIES[number]

const SIMPLE_PART = /^[\w.@-]{1,128}$/

/**
 * One part of a counter key, safe to join with `:`. Short plain identifiers (GUIDs, IPs, ids)
 * are kept readable; anything else (URLs used as client ids, odd characters, long values)
 * becomes a short hash, so a crafted value can never collide with another key's layout.
 */
export function keyPart (value: string): string {
  return SIMPLE_PART.test(value) ? value : `h.${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`
}

/**
 * The client IP as a counter key. `request.ip` already honours TRUST_PROXY (Fastify's
 * trustProxy): the forwarded client address when the proxy is trusted, the socket peer
 * otherwise. IPv4-mapped IPv6 becomes IPv4; other IPv6 addresses are grouped by /64,
 * since one customer usually holds a whole /64 and could rotate through it.
 */
export function ipKey (ip: string | undefined): string {
  if (ip === undefined || ip === '') return 'ip:unknown'
  try {
    let addr = ipaddr.parse(ip)
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address()
    if (addr.kind() === 'ipv4') return `ip:${addr.toString()}`
    const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map(p => p.toString(16))
    return `ip:${parts.join(':')}::/64`
  } catch {
    return `ip:${keyPart(ip)}`
  }
}

export interface UnverifiedClaims {
  tid?: string
  oid?: string
  sub?: string
  clientId?: string
  /** For the revocation entries read with the counters (the verifier checks they are the token's). */
  jti?: string
  sid?: string
}

// A JWT in compact form; bounded so a huge header costs nothing to look at.
const BEARER_JWT = /^Bearer[ \t]+([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{1,16384})\.[A-Za-z0-9_-]{0,2048}$/i

/**
 * The claims of a bearer JWT, decoded WITHOUT checking its signature.
 *
 * Rate limiting runs at onRequest, before the verifier, so that a flood costs no signature
 * or JWKS work. The claims are used only to choose a counter: a forged token can name any
 * user, which is why every request keyed on a token is also counted against its client IP
 * (a ceiling that random subjects cannot escape), and the verifier rejects the forgery later.
 * Returns null when the header is absent or is not a JWT with a JSON object payload.
 */
export function unverifiedBearerClaims (authorization: string | undefined): UnverifiedClaims | null {
  if (authorization === undefined || authorization.length > 20480) return null
  const match = BEARER_JWT.exec(authorization)
  if (match === null) return null
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(match[2], 'base64url').toString('utf8'))
  } catch {
    return null
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null
  const p = payload as Record<string, unknown>
  const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 512 ? v : undefined
  return {
    tid: str(p.tid),
    oid: str(p.oid),
    sub: str(p.sub),
    // our tokens carry client_id; Entra v2 tokens azp, v1 tokens appid
    clientId: str(p.client_id) ?? str(p.azp) ?? str(p.appid),
    jti: str(p.jti),
    sid: str(p.sid)
  }
}

/** The user behind claims: `tid:oid` when both are known, else the subject; null when neither. */
export function userKey (claims: UnverifiedClaims | null): string | null {
  if (claims === null) return null
  if (claims.oid !== undefined) return `${keyPart(claims.tid ?? '-')}:${keyPart(claims.oid)}`
  if (claims.sub !== undefined) return `sub:${keyPart(claims.sub)}`
  return null
}

/** The counter for a caller named by a token: the user plus the client acting for them. */
export function subjectKey (claims: UnverifiedClaims | null): string | null {
  const user = userKey(claims)
  if (user === null) return null
  return `user:${user}:client:${keyPart(claims?.clientId ?? '-')}`
}

/** The client id of HTTP Basic client authentication (RFC 6749 §2.3.1), without the secret. */
export function basicClientId (authorization: string | undefined): string | null {
  if (authorization === undefined || authorization.length > 4096) return null
  const match = /^Basic[ \t]+([A-Za-z0-9+/=]+)$/i.exec(authorization)
  if (match === null) return null
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 1) return null
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '))
  } catch {
    return null
  }
}

/** The client id sent in a form body (`client_id`), when it is a plausible one. */
export function formClientId (body: unknown): string | null {
  if (body === null || typeof body !== 'object') return null
  const value = (body as Record<string, unknown>).client_id
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : null
}

/** A caller-supplied key for `consumeRateLimit` (e.g. `tid:oid`), made safe for the store. */
export function consumerKey (key: string): string {
  return /^[\w.@:-]{1,256}$/.test(key) ? key : keyPart(key)
}
