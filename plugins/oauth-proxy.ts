import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import type { FastifyRequest } from 'fastify'
import type { ClientRecord } from './oauth-proxy/clients/registry.ts'
import { InvalidClientError, InvalidRequestError } from './errors/oauth.ts'
import { createTokenCipher, ephemeralKey } from './oauth-proxy/grants/token-crypto.ts'
import { createGrantStore, type GrantStore } from './oauth-proxy/grants/model.ts'
import { createCodeVerifier, s256Challenge } from './oauth-proxy/authorize/pkce.ts'
import type { AuthorizeTransaction } from './oauth-proxy/authorize/transactions.ts'
import { randomToken, type Grant } from './oauth-proxy/grants/records.ts'
import { cookieSecret } from './oauth-proxy/consent/consent-session.ts'
import { createConsents, type Consents } from './oauth-proxy/consent/consents.ts'
import upstreamEntra from './oauth-proxy/upstream-entra.ts'
import { configuredGraphScopes } from './oauth-proxy/upstream-entra/graph.ts'
import { createUpstreamRenewal, createUpstreamTokens, type UpstreamTokensApi } from './oauth-proxy/upstream-entra/upstream-tokens.ts'
import { CLIENT_ASSERTION_TYPE } from './oauth-proxy/upstream-entra/client-assertion.ts'
import { parseBasicAuth } from './shared/authorization-header.ts'

// What the MCP side (mcp/transport.ts) and its tests import from the oauth proxy.
export { UpstreamTokenError } from './oauth-proxy/upstream-entra/errors.ts'
export type { UpstreamTokensApi } from './oauth-proxy/upstream-entra/upstream-tokens.ts'

/** The client authentication parameters of a /token or /revoke body. */
export interface ClientCredentials {
  client_id?: string
  client_secret?: string
  client_assertion?: string
  client_assertion_type?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The OAuth state: authorize transactions, consent approvals, grants, codes, refresh tokens (plugins/oauth-proxy/grants/model.ts). */
    grants: GrantStore
    /** Approvals remembered per browser (plugins/oauth-proxy/consent/consents.ts). */
    consents: Consents
    /** Stores the upstream PKCE verifier and nonce in the transaction and returns Entra's authorize URL. */
    upstreamSignIn: (tx: AuthorizeTransaction) => Promise<string>
    /** Client authentication at /token and /revoke: none, client_secret_post, client_secret_basic, private_key_jwt. */
    authenticateClient: (request: FastifyRequest, body: ClientCredentials) => Promise<ClientRecord>
    /** Entra tokens for Microsoft Graph and on-behalf-of, for the MCP tools. */
    upstreamTokens: UpstreamTokensApi
  }
}

/**
 * The OAuth 2.1 authorization server in front of Entra: the models the /authorize, consent,
 * /auth/callback, /token and /revoke routes share (routes/oauth/*), the upstream leg
 * (plugins/oauth-proxy/upstream-entra.ts), and `fastify.upstreamTokens` for tools that call Microsoft Graph.
 */
export default fp(async function oauthProxy (fastify) {
  const { config } = fastify

  if (config.encryptionKey === null) {
    fastify.log.warn('TOKEN_ENCRYPTION_KEY is not set: Entra tokens are sealed with an EPHEMERAL key and consent cookies signed with one. Sign-ins die with the process and other instances cannot read them. Set TOKEN_ENCRYPTION_KEY for any deployment.')
  }
  // Consent cookies are signed with a secret every instance derives from TOKEN_ENCRYPTION_KEY.
  await fastify.register(cookie, { secret: cookieSecret(config.encryptionKey), hook: 'onRequest' })
  await fastify.register(upstreamEntra)

  // jwt-verify's deny list (renamed fastify.denyGrant by #13): the one line that names it.
  const denyGrant = async (sid: string) => await fastify.revokeGrant(sid)
  const grants = createGrantStore({
    store: fastify.store,
    cipher: createTokenCipher(config.encryptionKey ?? ephemeralKey()),
    config,
    signAccessToken: async (grant, scope) => {
      await fastify.ensureStoreEpoch()
      const { user } = grant
      return fastify.tokenSigner.issueAccessToken({
        sub: user.sub, oid: user.oid, tid: user.tid, name: user.name, preferred_username: user.preferred_username, email: user.email, client_id: grant.clientId, scope, sid: grant.sid
      })
    },
    denyGrant,
    audit: (event, fields, request) => fastify.audit(event, fields, request),
    // The renewal reads and saves the grant through this model: bound once both exist.
    renewUpstream: async (grant: Grant, request?: FastifyRequest) => await renewUpstream(grant, request)
  })
  const renewUpstream = createUpstreamRenewal(fastify.entra, grants)
  fastify.decorate('grants', grants)
  fastify.decorate('consents', createConsents({ grants, baseUrl: config.baseUrl, consentTtl: config.consentTtl }))
  fastify.decorate('upstreamSignIn', async function upstreamSignIn (tx: AuthorizeTransaction) {
    const verifier = createCodeVerifier()
    const nonce = randomToken(16)
    await grants.saveTransaction({ ...tx, upstream: { verifier, nonce } })
    return fastify.entra.authorizationUrl({ state: tx.id, codeChallenge: s256Challenge(verifier), nonce })
  })
  fastify.decorate('upstreamTokens', createUpstreamTokens(fastify.entra, grants, configuredGraphScopes(config.entra.graphScopes, config.devIdentityProvider)))

  async function authenticateClient (request: FastifyRequest, body: ClientCredentials): Promise<ClientRecord> {
    const basic = parseBasicAuth(request.headers.authorization)
    const challenge = basic !== undefined ? { 'www-authenticate': 'Basic realm="entra-mcp-gateway", charset="UTF-8"' } : undefined
    if (basic === null) throw new InvalidClientError('The Basic Authorization header is malformed', challenge)
    if (basic !== undefined && body.client_secret !== undefined) {
      throw new InvalidRequestError('Use one client authentication method: Basic or client_secret in the body, not both')
    }
    if (body.client_assertion !== undefined || body.client_assertion_type !== undefined) {
      if (basic !== undefined || body.client_secret !== undefined) {
        throw new InvalidRequestError('Use one client authentication method: a client assertion or a client secret, not both')
      }
      return await fastify.privateKeyJwt.authenticate(body)
    }
    if (basic !== undefined && body.client_id !== undefined && body.client_id !== basic.id) {
      throw new InvalidRequestError('client_id in the body differs from the Basic credentials')
    }
    const clientId = basic?.id ?? body.client_id
    if (clientId === undefined || clientId === '') throw new InvalidClientError('Client authentication failed: no client_id', challenge)
    const client = await fastify.clients.get(clientId)
    if (client === null) throw new InvalidClientError('Client authentication failed: unknown client', challenge)
    if (client.token_endpoint_auth_method === 'private_key_jwt') {
      throw new InvalidClientError(`Client authentication failed: this client authenticates with private_key_jwt (client_assertion_type ${CLIENT_ASSERTION_TYPE} and client_assertion)`, challenge)
    }
    // Public clients pass without a secret; the others need theirs.
    if (!fastify.clients.authenticate(client, { clientSecret: basic?.secret ?? body.client_secret })) {
      throw new InvalidClientError('Client authentication failed', challenge)
    }
    return client
  }

  fastify.decorate('authenticateClient', authenticateClient)
}, { name: 'oauth-proxy', dependencies: ['config', 'store', 'audit-log', 'signing-keys', 'jwt-verify', 'client-registry', 'private-key-jwt'] })
