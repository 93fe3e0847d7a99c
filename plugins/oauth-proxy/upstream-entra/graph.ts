// Microsoft Graph as Entra wants it named on a token request.

const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default'

/** Graph scopes as Entra wants them on a token request: bare names are Graph permissions. */
export function graphScopesFor (configured: readonly string[]): string[] {
  if (configured.length === 0) return [GRAPH_DEFAULT_SCOPE]
  return configured.map(s => s.includes('/') ? s : `https://graph.microsoft.com/${s}`)
}

/**
 * The Graph scopes asked for (refresh token, or on-behalf-of without scopes): AZURE_GRAPH_SCOPES;
 * when empty, `.default` (every consented Graph permission) from Entra, while the development
 * identity provider has no `.default` and grants User.Read, as Entra does to a new app registration.
 */
export function configuredGraphScopes (graphScopes: readonly string[], devIdentityProvider: boolean): string[] {
  return graphScopes.length > 0 ? [...graphScopes] : devIdentityProvider ? ['User.Read'] : []
}
