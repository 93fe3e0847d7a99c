import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { Config } from '../config/index.ts'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID } from '../config/dev-identity.ts'
import { createEntraLikeProvider, type EntraLikeProvider } from './provider.ts'
import { devGraphMe, DEV_GRAPH_PATH } from './graph.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The embedded development identity provider (only registered when config.devIdentityProvider). */
    devIdentityProvider: EntraLikeProvider
  }
}

export const DEV_IDP_PREFIX = '/dev-idp'

// One signing key per process, as for the service's ephemeral token key (plugins/jwt-verify/signing-keys.ts):
// it dies with the process either way, and the apps a test process builds need not each pay for an RSA key generation.
let signingKey: KeyObject | undefined

/** Why the development identity provider must not run with this configuration, or undefined when it may. */
export function devIdpRefusal (config: Config): string | undefined {
  if (!config.devIdentityProvider) return 'DEV_IDENTITY_PROVIDER is not enabled'
  if (config.entra.tenant !== DEV_TENANT_ID || config.entra.clientId !== DEV_CLIENT_ID) {
    return 'Azure settings are present (tenant or client id differ from the development ones): the development identity provider never runs next to a real tenant'
  }
  if (config.entra.certificate !== undefined || config.entra.clientSecret !== DEV_CLIENT_SECRET) {
    return 'an Azure client credential is configured: the development identity provider never runs next to a real tenant'
  }
  if (config.entra.authorityHost !== `${config.baseUrl}${DEV_IDP_PREFIX}`) {
    return `AZURE_AUTHORITY_HOST points elsewhere (${config.entra.authorityHost}): the development identity provider only serves ${config.baseUrl}${DEV_IDP_PREFIX}`
  }
  return undefined
}

/**
 * Mounts the development identity provider (shaped like Entra ID v2) under /dev-idp, so the proxy talks
 * to it over HTTP through `config.entra.authorityHost` exactly as it talks to Entra.
 */
export default fp(async function devIdentityProvider (fastify: FastifyInstance) {
  const config = fastify.config
  const refusal = devIdpRefusal(config)
  if (refusal !== undefined) throw new Error(`Refusing to start the development identity provider: ${refusal}`)

  const idp = createEntraLikeProvider({
    origin: config.baseUrl,
    mountPath: DEV_IDP_PREFIX,
    tenantId: DEV_TENANT_ID,
    signingKey: signingKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    clients: [{
      clientId: DEV_CLIENT_ID,
      clientSecret: DEV_CLIENT_SECRET,
      redirectUris: [config.redirectUri],
      postLogoutRedirectUris: [config.baseUrl, `${config.baseUrl}/`],
      identifierUri: config.entra.identifierUri
    }],
    proxy: config.trustProxy !== false
  })
  fastify.decorate('devIdentityProvider', idp)

  fastify.log.warn({
    authority: idp.authorityHost,
    tenant: DEV_TENANT_ID,
    users: idp.users.map(u => u.preferredUsername)
  }, 'DEVELOPMENT IDENTITY PROVIDER ENABLED: anyone can sign in as a test user without a password. For development only; configure AZURE_TENANT_ID, AZURE_CLIENT_ID and a client credential in production.')

  // Its own encapsulated context: oidc-provider reads request bodies itself and answers with its own
  // errors, so Fastify must not parse bodies here, and the app's JSON 404/error handlers never see these routes.
  await fastify.register(async function devIdpRoutes (scope) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', function (_request, _payload, done) { done(null) })
    scope.get(`${DEV_IDP_PREFIX}${DEV_GRAPH_PATH}/me`, devGraphMe(idp))
    scope.route({
      method: ['GET', 'HEAD', 'POST'],
      url: `${DEV_IDP_PREFIX}/*`,
      handler: async (request, reply) => {
        reply.hijack()
        reply.raw.setHeader('x-request-id', request.id)
        await idp.handle(request.raw, reply.raw)
      }
    })
  })
}, { name: 'dev-identity-provider', dependencies: ['config'] })
