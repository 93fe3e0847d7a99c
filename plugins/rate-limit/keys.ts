import { createHash } from 'node:crypto'
import ipaddr from 'ipaddr.js'
import { parseBasicAuth } from '../shared/authorization-header.ts'

/** Route families that opt in with `config: { rateLimitFamily }`. */
export const RATE_LIMIT_FAMILIES = ['register', 'authorize', 'token', 'revoke', 'mcp', 'metrics', 'admin'] as const
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

/** Who a verified token names (the fields of its Identity that key a user's budget). */
export interface CallerClaims {
  tid?: string
  oid?: string
  sub?: string
  clientId?: string
}

/** The user behind claims: `tid:oid` when both are known, else the subject; null when neither. */
export function userKey (claims: CallerClaims | null): string | null {
  if (claims === null) return null
  if (claims.oid !== undefined) return `${keyPart(claims.tid ?? '-')}:${keyPart(claims.oid)}`
  if (claims.sub !== undefined) return `sub:${keyPart(claims.sub)}`
  return null
}

/** The counter for a caller named by a token: the user plus the client acting for them. */
export function subjectKey (claims: CallerClaims | null): string | null {
  const user = userKey(claims)
  if (user === null) return null
  return `user:${user}:client:${keyPart(claims?.clientId ?? '-')}`
}

/** The client id of HTTP Basic client authentication (RFC 6749 §2.3.1), without the secret. */
export function basicClientId (authorization: string | undefined): string | null {
  if (authorization === undefined || authorization.length > 4096) return null
  return parseBasicAuth(authorization)?.id ?? null
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
