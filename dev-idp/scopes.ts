import type { Grant } from 'oidc-provider'

// Scopes the Entra way: `{application ID URI}/{name}` for an API, bare names for Microsoft Graph,
// and the OpenID scopes. Pure functions shared by the configuration, the sign-in pages and the paths.

export const GRAPH_RESOURCE = 'https://graph.microsoft.com'
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access'])
// oidc-provider drops `offline_access` unless prompt=consent; Entra does not. The front handler records the
// request for it in this extra parameter, and the grant carries it to `issueRefreshToken`.
export const OFFLINE_MARKER = 'x_entra_offline_access'

/** The resource (application ID URI or URL) a fully qualified scope belongs to, or undefined for OpenID scopes. */
export function resourceOfScope (scope: string): string | undefined {
  if (OIDC_SCOPES.has(scope)) return undefined
  const slash = scope.lastIndexOf('/')
  if (slash <= 0 || !scope.includes(':')) return undefined
  return scope.slice(0, slash)
}

/**
 * Scopes as Entra reads them: bare names other than the OpenID ones (`User.Read`) are Microsoft Graph
 * scopes; duplicates go.
 */
export function normalizeScopes (scope: string | undefined): string[] {
  const out: string[] = []
  for (const s of (scope ?? '').split(' ').filter(Boolean)) {
    const full = OIDC_SCOPES.has(s) || s.includes('/') ? s : `${GRAPH_RESOURCE}/${s}`
    if (!out.includes(full)) out.push(full)
  }
  return out
}

/** `scp` for a token: the requested scopes of one resource, without the resource prefix. */
export function shortScopes (scopes: string[], resource: string): string {
  return scopes.filter(s => s.startsWith(`${resource}/`)).map(s => s.slice(resource.length + 1)).join(' ')
}

/** Grants the OpenID scopes among `requested`, with offline_access when the front handler marked the request for it. */
export function addOidcScopes (grant: Grant, requested: string[], params: Record<string, unknown> | undefined): void {
  const oidc = requested.filter(s => OIDC_SCOPES.has(s))
  if (params?.[OFFLINE_MARKER] === '1' && !oidc.includes('offline_access')) oidc.push('offline_access')
  if (oidc.length > 0) grant.addOIDCScope(oidc.join(' '))
}
