import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import type { FastifyRequest } from 'fastify'
import { createTokenCipher, ephemeralKey } from './oauth-proxy/grants/token-crypto.ts'
import { createGrantStore, type GrantStore } from './oauth-proxy/grants/model.ts'
import { ClaimsChallenges } from './oauth-proxy/grants/claims-challenges.ts'
import { createCodeVerifier, s256Challenge } from './oauth-proxy/authorize/pkce.ts'
import type { AuthorizeTransaction } from './oauth-proxy/authorize/transactions.ts'
import { randomToken, type Grant } from './oauth-proxy/grants/records.ts'
import { cookieSecret } from './oauth-proxy/consent/consent-session.ts'
import { createConsents, type Consents } from './oauth-proxy/consent/consents.ts'
import upstreamEntra from './oauth-proxy/upstream-entra.ts'
import upstreamMetadata from './oauth-proxy/upstream-entra/metadata.ts'
import clientRegistry, { type ClientRegistryOptions } from './oauth-proxy/clients/registry.ts'
import clientAuth from './oauth-proxy/client-auth.ts'
import { configuredGraphScopes } from './oauth-proxy/upstream-entra/graph.ts'
import type { ClaimsRequest } from './oauth-proxy/upstream-entra/claims.ts'
import { createUpstreamRenewal, createUpstreamTokens, type UpstreamTokensApi } from './oauth-proxy/upstream-entra/upstream-tokens.ts'

// What the MCP side (mcp/transport.ts) and its tests import from the oauth proxy.
export { UpstreamTokenError } from './oauth-proxy/upstream-entra/errors.ts'
export type { UpstreamTokensApi } from './oauth-proxy/upstream-entra/upstream-tokens.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The OAuth state: authorize transactions, consent approvals, grants, codes, refresh tokens
     * (plugins/oauth-proxy/grants/model.ts); `grants.admin` lists and revokes them for administrators
     * (grants/admin.ts).
     */
    grants: GrantStore
    /** Approvals remembered per browser (plugins/oauth-proxy/consent/consents.ts). */
    consents: Consents
    /** Conditional Access challenges waiting for a user's next sign-in with a client. */
    claimsChallenges: ClaimsChallenges
    /**
     * Stores the upstream PKCE verifier and nonce in the transaction and returns Entra's authorize URL;
     * with `challenge`, a second leg that asks Entra for what a Conditional Access policy requires.
     */
    upstreamSignIn: (tx: AuthorizeTransaction, again?: { challenge: ClaimsRequest, loginHint?: string }) => Promise<string>
    /** Entra tokens for Microsoft Graph and on-behalf-of, for the MCP tools. */
    upstreamTokens: UpstreamTokensApi
  }
}

/** Test seams: the client registry's fetches (AppOptions.clientRegistry) and the grants model's clock. */
export interface OAuthProxyOptions extends ClientRegistryOptions {
  /** Epoch milliseconds for the refresh-token reuse grace period (AppOptions.grantsClock); Date.now by default. */
  grantsClock?: () => number
}

/**
 * The OAuth 2.1 authorization server in front of Entra: the models the /authorize, consent,
 * /auth/callback, /token and /revoke routes share (routes/oauth/*), the upstream leg
 * (plugins/oauth-proxy/upstream-entra.ts), and `fastify.upstreamTokens` for tools that call Microsoft Graph.
 */
export default fp<OAuthProxyOptions>(async function oauthProxy (fastify, opts) {
  const { config } = fastify

  if (config.encryptionKey === null) {
    fastify.log.warn('TOKEN_ENCRYPTION_KEY is not set: Entra tokens are sealed with an EPHEMERAL key and consent cookies signed with one. Sign-ins die with the process and other instances cannot read them. Set TOKEN_ENCRYPTION_KEY for any deployment.')
  }
  // Entra's metadata first (readiness waits for it), then the clients and how they authenticate;
  // `opts` are the test seams of metadata-document and key-set fetches (AppOptions.clientRegistry).
  await fastify.register(upstreamMetadata)
  await fastify.register(clientRegistry, opts)
  await fastify.register(clientAuth, opts)
  // Consent cookies are signed with a secret every instance derives from TOKEN_ENCRYPTION_KEY.
  await fastify.register(cookie, { secret: cookieSecret(config.encryptionKey), hook: 'onRequest' })
  await fastify.register(upstreamEntra)

  const denyGrant = async (sid: string) => await fastify.denyGrant(sid)
  const grants = createGrantStore({
    store: fastify.store,
    cipher: createTokenCipher(config.encryptionKey ?? ephemeralKey()),
    config,
    signAccessToken: async (grant, scope) => {
      await fastify.ensureStoreEpoch()
      const { user } = grant
      // The user's app roles go only into tokens for the admin API: an MCP token stays what it was.
      const admin = grant.resource === config.admin.resource ? { audience: config.admin.resource, roles: user.roles ?? [] } : {}
      return fastify.tokenSigner.issueAccessToken({
        sub: user.sub, oid: user.oid, tid: user.tid, name: user.name, preferred_username: user.preferred_username, email: user.email, client_id: grant.clientId, scope, sid: grant.sid, ...admin
      })
    },
    denyGrant,
    audit: (event, fields, request) => fastify.audit(event, fields, request),
    // The renewal reads and saves the grant through this model: bound once both exist.
    renewUpstream: async (grant: Grant, request?: FastifyRequest) => await renewUpstream(grant, request),
    nowMs: opts.grantsClock,
    clients: fastify.clients
  })
  const claimsChallenges = new ClaimsChallenges(fastify.store)
  const renewUpstream = createUpstreamRenewal(fastify.entra, grants, claimsChallenges)
  fastify.decorate('grants', grants)
  fastify.decorate('consents', createConsents({ grants, baseUrl: config.baseUrl, consentTtl: config.consentTtl }))
  fastify.decorate('upstreamSignIn', async function upstreamSignIn (tx: AuthorizeTransaction, again?: { challenge: ClaimsRequest, loginHint?: string }) {
    const verifier = createCodeVerifier()
    const nonce = randomToken(16)
    await grants.saveTransaction({ ...tx, upstream: { verifier, nonce, ...(again !== undefined ? { challenged: true } : {}) } })
    return fastify.entra.authorizationUrl({ state: tx.id, codeChallenge: s256Challenge(verifier), nonce, challenge: again?.challenge, loginHint: again?.loginHint })
  })
  fastify.decorate('claimsChallenges', claimsChallenges)
  fastify.decorate('upstreamTokens', createUpstreamTokens(fastify.entra, grants, claimsChallenges, configuredGraphScopes(config.entra.graphScopes, config.devIdentityProvider)))
}, { name: 'oauth-proxy', dependencies: ['config', 'readiness', 'store', 'audit-log', 'signing-keys', 'jwt-verify'] })
