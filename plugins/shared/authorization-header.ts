// The one reader of the Authorization header: Bearer (RFC 6750 §2.1) for /mcp and Basic
// (RFC 6749 §2.3.1) for client authentication. Pure; anything may import it.

// RFC 7235 credentials for the Bearer scheme: the scheme (any case), spaces, one token68.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const SCHEME = /^([A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]*)(?: |$)/
const BEARER_SCHEME = /^bearer\s/i

/**
 * Whether the header names the Bearer scheme at all, well formed or not: enough to tell a bearer
 * request from an anonymous one before anything is verified (the rate limit's /mcp ceiling).
 */
export function namesBearerScheme (value: string | undefined): boolean {
  return value !== undefined && BEARER_SCHEME.test(value)
}

export type AuthorizationResult =
  | { kind: 'none' }
  | { kind: 'other_scheme' }
  | { kind: 'malformed', description: string }
  | { kind: 'bearer', token: string }

/**
 * Reads the Authorization header value(s) of a request. The token comes only from here
 * (never the query or body). `count` is how many Authorization headers arrived.
 */
export function parseAuthorization (value: string | string[] | undefined, count = value === undefined ? 0 : 1): AuthorizationResult {
  if (Array.isArray(value) || count > 1) return { kind: 'malformed', description: 'Send exactly one Authorization header' }
  if (value === undefined || value === '') return { kind: 'none' }
  const scheme = SCHEME.exec(value)
  if (scheme === null) return { kind: 'malformed', description: 'The Authorization header is not "Bearer <token>"' }
  if (scheme[1].toLowerCase() !== 'bearer') return { kind: 'other_scheme' }
  const match = BEARER.exec(value)
  if (match === null) return { kind: 'malformed', description: 'The Authorization header is not "Bearer <token>" with a single token' }
  return { kind: 'bearer', token: match[1] }
}

/** `Authorization: Basic` credentials (RFC 6749 §2.3.1: each part form-urlencoded). Undefined when absent. */
export function parseBasicAuth (header: string | undefined): { id: string, secret: string } | undefined | null {
  if (header === undefined) return undefined
  const match = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header)
  if (match === null) return /^Basic\b/i.test(header) ? null : undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return null
  try {
    const unescape = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) }
  } catch {
    return null
  }
}
