import fp from 'fastify-plugin'
import oauth2, { type OAuth2Namespace } from '@fastify/oauth2'
import type { SimpleOAuth2Client } from './upstream-entra/token-endpoint.ts'
import { entraOAuth2Options } from './upstream-entra/oauth2-options.ts'
import { createCredentialsWatch } from './upstream-entra/credentials-watch.ts'
import { createEntraClient, type EntraClient } from './upstream-entra/client.ts'

export type { EntraTokenSet } from './upstream-entra/token-endpoint.ts'
export type { EntraClient, UpstreamOperation } from './upstream-entra/client.ts'

declare module 'fastify' {
  interface FastifyInstance {
    entra: EntraClient
    entraOAuth2: OAuth2Namespace
  }
}

/**
 * `fastify.entra`: the upstream leg to Microsoft Entra ID (or the development identity provider,
 * reached over HTTP exactly like Entra).
 *
 * @fastify/oauth2 (simple-oauth2 underneath) builds the authorize URL and, with a client secret,
 * redeems codes and refresh tokens. Its own state and PKCE live in browser cookies, so they are
 * not used: the state is the transaction id and the PKCE verifier sits in the transaction,
 * server-side, where any instance can read it. Two steps it cannot express are made with undici:
 * the certificate credential (a `client_assertion` JWT instead of a secret, on every token request)
 * and the on-behalf-of grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`).
 */
export default fp(async function upstreamEntra (fastify) {
  const { config } = fastify
  await fastify.register(oauth2, entraOAuth2Options(config))
  // The simple-oauth2 AuthorizationCode client @fastify/oauth2 exposes (untyped in its declarations).
  const simple = (fastify.entraOAuth2 as unknown as { oauth2: SimpleOAuth2Client }).oauth2

  const watch = createCredentialsWatch(fastify.log)
  fastify.readinessChecks.set('upstream_credentials', watch.readiness)

  fastify.decorate('entra', createEntraClient({
    config,
    simple,
    watch,
    signingKey: async (tid, kid) => await fastify.entraSigningKey(tid, kid),
    audit: (event, fields, request) => fastify.audit(event, fields, request),
    traceHeaders: fastify.traceHeaders
  }))
}, { name: 'upstream-entra', dependencies: ['config', 'readiness', 'audit-log', 'jwt-verify'] })
