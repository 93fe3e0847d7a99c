// Scope parameters as clients send them (RFC 6749 §3.3): parsed once, the same way at /register,
// /authorize and /token.

export function parseScope (value: string | undefined): string[] {
  return [...new Set((value ?? '').split(' ').filter(Boolean))]
}

/**
 * OpenID Connect scopes that MCP clients add on their own (Claude Code asks for offline_access
 * whatever the metadata says, mcp-remote for openid email profile). This service signs the user in
 * upstream itself and decides about refresh tokens by the client's registered grant types, so
 * these are ignored (RFC 6749 §3.3 lets the server grant less) unless MCP_SCOPES offers them
 * (it may not offer offline_access: config/checks.ts).
 */
const SIGN_IN_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access'])

/** The scopes of a request, without the sign-in scopes this service does not offer. */
export function requestedScopes (value: string | undefined, offered: readonly string[]): string[] {
  return parseScope(value).filter(s => !SIGN_IN_SCOPES.has(s) || offered.includes(s))
}
