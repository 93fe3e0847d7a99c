// Redirect URI rules shared by registration (RFC 7591), client ID metadata documents, /authorize and
// the configuration check of ALLOWED_REDIRECT_SCHEMES. Pure functions: no Fastify, no I/O; anyone may import them.

/** Hosts of the loopback interface as written in a redirect URI (RFC 8252 §7.3; `localhost` tolerated). */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** `http://{loopback host}` followed by an optional port, then the path, query or end. */
const LOOPBACK_PORT = /^(http:\/\/(?:127\.0\.0\.1|\[::1\]|localhost))(?::(\d{1,5}))?(?=[/?]|$)/

export const MAX_REDIRECT_URI_LENGTH = 2000

/**
 * Schemes that can never be a native app's private-use redirect scheme: they run content in the
 * browser, name local files, belong to the web, or hand the URI to other handlers.
 */
const NOT_PRIVATE_USE = new Set([
  'http', 'https', 'javascript', 'data', 'vbscript', 'file', 'blob', 'about', 'filesystem', 'view-source',
  'ws', 'wss', 'ftp', 'mailto', 'tel', 'sms', 'intent', 'chrome', 'chrome-extension', 'moz-extension', 'edge', 'ms-settings'
])
const SCHEME = /^[a-z][a-z0-9+.-]*$/

/** Why `scheme` (lower case, no colon) cannot be admitted as a private-use redirect scheme; null if it can. */
export function privateUseSchemeProblem (scheme: string): string | null {
  if (!SCHEME.test(scheme)) return `"${scheme}" is not a URI scheme (a letter, then letters, digits, + - .)`
  if (NOT_PRIVATE_USE.has(scheme)) return `"${scheme}" cannot be a private-use redirect scheme`
  return null
}

/** Spaces and control characters, which URL parsers silently strip or encode. */
export function hasControlOrSpace (value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code <= 0x20 || code === 0x7f || code === 0x85 || code === 0xa0 || code === 0x2028 || code === 0x2029) return true
  }
  return false
}

export function isLoopbackHost (hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase())
}

/** The URI without its port when it is an http loopback URI written plainly; null otherwise. */
function withoutLoopbackPort (uri: string): string | null {
  const match = LOOPBACK_PORT.exec(uri)
  if (match === null) return null
  if (match[2] !== undefined && (Number(match[2]) < 1 || Number(match[2]) > 65535)) return null
  return match[1] + uri.slice(match[0].length)
}

/**
 * Whether a redirect URI presented at /authorize or /token is one the client registered.
 * Exact string comparison, with one exception: an http redirect URI on a loopback host
 * (127.0.0.1, [::1], localhost) matches on any port, because native apps listen on an
 * ephemeral port (RFC 8252 §7.3). Everything but the port must still be identical.
 * Never a prefix or wildcard match.
 */
export function redirectUriMatches (registered: readonly string[], presented: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > MAX_REDIRECT_URI_LENGTH) return false
  if (presented.includes('#') || !URL.canParse(presented)) return false
  if (registered.includes(presented)) return true
  const presentedWithoutPort = withoutLoopbackPort(presented)
  if (presentedWithoutPort === null) return false
  return registered.some(uri => withoutLoopbackPort(uri) === presentedWithoutPort)
}

/**
 * Checks one redirect URI a client wants to register. Returns null when it is acceptable,
 * or the reason it is not (for an `invalid_redirect_uri` error description).
 * Accepted: absolute https URIs, http on a loopback host, or a URI of one of `schemes`
 * (ALLOWED_REDIRECT_SCHEMES: private-use schemes of native apps, RFC 8252 §7.1, such as Cursor's
 * `cursor://anysphere.cursor-mcp/oauth/callback`); no fragment, no user info.
 * `allowed` (ALLOWED_REDIRECT_URIS), when not empty, narrows this to URIs matching one of its entries.
 */
export function redirectUriProblem (uri: unknown, allowed: readonly string[] = [], schemes: readonly string[] = []): string | null {
  if (typeof uri !== 'string' || uri.length === 0) return 'a redirect URI must be a non-empty string'
  if (uri.length > MAX_REDIRECT_URI_LENGTH) return `a redirect URI must be at most ${MAX_REDIRECT_URI_LENGTH} characters`
  // Control characters and spaces are silently stripped or encoded by URL parsers: refuse them outright.
  if (hasControlOrSpace(uri)) return 'a redirect URI must not contain spaces or control characters'
  if (!URL.canParse(uri)) return `"${uri}" is not an absolute URI`
  const url = new URL(uri)
  if (uri.includes('#')) return 'a redirect URI must not contain a fragment'
  if (url.username !== '' || url.password !== '') return 'a redirect URI must not contain user information'
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) return 'http redirect URIs are only allowed on a loopback host (127.0.0.1, [::1] or localhost); use https'
  } else if (url.protocol !== 'https:' && !schemes.includes(url.protocol.slice(0, -1))) { // URL lower-cases the scheme
    return `the "${url.protocol}" scheme is not allowed for redirect URIs; use https (or http on a loopback host${schemes.length > 0 ? `, or an app scheme this server accepts: ${schemes.join(', ')}` : ''})`
  }
  if (allowed.length > 0 && !redirectUriMatches(allowed, uri)) return `"${uri}" is not in this server's list of allowed redirect URIs`
  return null
}
