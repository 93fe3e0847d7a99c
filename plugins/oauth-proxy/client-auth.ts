import fp from 'fastify-plugin'
import type { ClientRegistryOptions } from './clients/registry.ts'
import privateKeyJwt from './client-auth/private-key-jwt.ts'
import { createClientAuthentication, type ClientAuthentication } from './client-auth/authenticate.ts'

export type { ClientAuthentication, ClientAuthRequest, ClientCredentials } from './client-auth/authenticate.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Client authentication for every endpoint that needs it (/token, /revoke). */
    clientAuth: ClientAuthentication
  }
}

/**
 * `fastify.clientAuth`: the one client authentication (plugins/oauth-proxy/client-auth/authenticate.ts).
 * Registers `private-key-jwt` (RFC 7523 assertions, `fastify.privateKeyJwt`) with the registry's
 * test seams, since its key set fetches go through the same guard as metadata documents.
 */
export default fp<ClientRegistryOptions>(async function clientAuth (fastify, opts) {
  await fastify.register(privateKeyJwt, opts)
  fastify.decorate('clientAuth', createClientAuthentication({ clients: fastify.clients, privateKeyJwt: fastify.privateKeyJwt }))
}, { name: 'client-auth', dependencies: ['config', 'store', 'client-registry'] })
