import { defineResource, RESOURCE_SCHEME } from '../catalog.ts'

export default defineResource({
  name: 'service-config',
  uri: `${RESOURCE_SCHEME}://service-config`,
  title: 'Service configuration',
  description: 'This gateway\'s public configuration, as /auth/info shows it: version, issuer, resource, the scopes a sign-in can grant, the Entra ID tenant and application, and the OAuth and MCP endpoints. No secrets.',
  scopes: [],
  // The same for every caller and fixed until the service restarts.
  cacheHint: { ttlMs: 300_000, cacheScope: 'public' },
  read ({ service }) {
    return service.publicConfig()
  }
})
