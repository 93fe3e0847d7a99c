// The `resource` parameter (RFC 8707) that clients send at /authorize and /token.

/**
 * Whether `presented` names this service's one protected resource (`resource`, `{MCP_BASE_URL}/mcp`).
 * Besides the exact URL, the same URL with a trailing slash and the service's origin (with or
 * without a slash) are accepted: clients normalise URLs (`new URL(x).href` adds the slash) and
 * Claude Code has been seen sending the origin. Every token still gets the one audience; another
 * origin, path, a query or a fragment is not this resource.
 */
export function isThisResource (presented: string, resource: string): boolean {
  if (presented === resource) return true
  if (!URL.canParse(presented)) return false
  const asked = new URL(presented)
  const ours = new URL(resource)
  if (asked.origin !== ours.origin || presented.includes('?') || presented.includes('#')) return false
  const path = asked.pathname.replace(/\/$/, '')
  return path === '' || path === ours.pathname.replace(/\/$/, '')
}

/** The resources this service issues tokens for: MCP, and the admin API (a token for one is refused by the other). */
export interface OwnResources {
  /** `{MCP_BASE_URL}/mcp`: the default when a request names none. */
  mcp: string
  /** `{MCP_BASE_URL}/admin/api`: tokens carrying the user's app roles. */
  admin: string
}

/**
 * The canonical resource a presented `resource` names, or undefined when it is none of ours. The
 * MCP resource keeps its tolerated variants (isThisResource); the admin API only its exact URL,
 * with or without a trailing slash: it is a newer resource, no client normalises it otherwise.
 */
export function resolveResource (presented: string | undefined, own: OwnResources): string | undefined {
  if (presented === undefined) return own.mcp
  if (presented === own.admin || presented === `${own.admin}/`) return own.admin
  return isThisResource(presented, own.mcp) ? own.mcp : undefined
}
