import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ClientRecord } from './oauth-proxy/clients/registry.ts'
import { InvalidClientError, InvalidGrantError, InvalidRequestError, ServerError, TemporarilyUnavailableError } from './errors/oauth.ts'
import { getJson, setJson } from './store/contract.ts'
import { createTokenCipher, ephemeralKey, type TokenCipher } from './oauth-proxy/grants/token-crypto.ts'
import { createCodeVerifier, s256Challenge } from './oauth-proxy/authorize/pkce.ts'
import { saveTransaction, type AuthorizeTransaction } from './oauth-proxy/authorize/transactions.ts'
import {
  consentCookieName, consentCookieOptions, cookieSecret, isConsentSessionId, mergeScopes, newConsentSessionId, scopesCovered
} from './oauth-proxy/consent/consent-session.ts'
import {
  CODE_TTL, randomToken, type CodeRecord, type Grant, type GrantUser, type RefreshRecord, type UpstreamTokens
} from './oauth-proxy/grants/records.ts'
import upstreamEntra, { UpstreamError, upstreamFailure, type EntraTokenSet, type UpstreamFailure } from './oauth-proxy/upstream-entra.ts'
import { CLIENT_ASSERTION_TYPE } from './oauth-proxy/upstream-entra/client-assertion.ts'
import { parseBasicAuth } from './shared/authorization-header.ts'
import { consentKey, codeKey, grantKey, refreshKey } from './store/keys.ts'

/** The token endpoint's answer (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  /** Only for clients registered for the refresh_token grant. */
  refresh_token?: string
  scope: string
}

/** The client authentication parameters of a /token or /revoke body. */
export interface ClientCredentials {
  client_id?: string
  client_secret?: string
  client_assertion?: string
  client_assertion_type?: string
}

/** Which token request Entra refused (audit `operation`). */
export type UpstreamOperation = 'refresh' | 'graph_token' | 'code_redemption' | 'on_behalf_of'

/** Why a grant was revoked (audit `reason`). */
export type RevocationReason = 'code_replay' | 'refresh_reused' | 'revoked_by_client' | 'upstream_ended'

export interface OAuthProxy {
  /** AES-256-GCM for Entra's tokens at rest (TOKEN_ENCRYPTION_KEY, or a key for this process only). */
  readonly cipher: TokenCipher
  /** Stores the upstream PKCE verifier and nonce in the transaction and returns Entra's authorize URL. */
  startUpstream (tx: AuthorizeTransaction): Promise<string>
  /** True when this browser's consent session already approved these scopes for this client. */
  consentRemembered (request: FastifyRequest, clientId: string, scopes: readonly string[]): Promise<boolean>
  /** Records an approval for the browser's consent session (made if absent) and sets its cookie. */
  rememberConsent (request: FastifyRequest, reply: FastifyReply, clientId: string, scopes: readonly string[]): Promise<void>
  /** Stores a grant with Entra's tokens sealed, and mints the one-time proxy code bound to it. */
  createGrant (input: { tx: AuthorizeTransaction, user: GrantUser, tokens: EntraTokenSet }): Promise<{ grant: Grant, code: string }>
  readGrant (sid: string): Promise<Grant | null>
  openUpstream (grant: Grant): UpstreamTokens
  saveGrant (grant: Grant, upstream?: UpstreamTokens): Promise<Grant>
  /**
   * Uses the Entra refresh token when Entra's access token nears expiry (at a client refresh).
   * Entra's refusal becomes: 503 temporarily_unavailable with Retry-After (transient), 400 invalid_grant
   * (the user must sign in again), or 500 server_error (only the operator can fix it; no Retry-After).
   */
  renewUpstream (grant: Grant, request?: FastifyRequest): Promise<Grant>
  /** Classifies Entra's refusal and audits the permanent ones (`upstream.error`). */
  upstreamRefused (err: UpstreamError, operation: UpstreamOperation, request?: FastifyRequest, clientId?: string): UpstreamFailure
  /** Issues an access token (tokenSigner) for `scopes` and, when asked, a new refresh token for the grant's scopes. */
  issueTokens (grant: Grant, scopes: readonly string[], opts: { refreshToken: boolean }): Promise<TokenResponse & { jti: string }>
  /** Every token of the grant stops working: access tokens refused, refresh tokens find no grant. */
  revokeGrant (sid: string, reason: RevocationReason, request?: FastifyRequest): Promise<void>
  /** Client authentication at /token and /revoke: none, client_secret_post, client_secret_basic, private_key_jwt. */
  authenticateClient (request: FastifyRequest, body: ClientCredentials): Promise<ClientRecord>
}

export interface UpstreamTokensApi {
  /** A fresh Entra access token for Microsoft Graph for a grant (refresh token exchange, server-side). */
  forGrant (sid: string): Promise<{ accessToken: string, scopes: string[] }>
  /** On-behalf-of exchange of an Entra-issued access token for this API. */
  onBehalfOf (entraAccessToken: string, scopes?: readonly string[]): Promise<{ accessToken: string, scopes: string[], expiresIn: number }>
}

/** A grant cannot give a Graph token: no consent for Graph, no refresh token, or the grant is gone. */
export class UpstreamTokenError extends Error {
  code: 'grant_not_found' | 'no_refresh_token' | 'graph_consent_required' | 'upstream_refused' | 'upstream_unavailable'
  constructor (code: UpstreamTokenError['code'], message: string) {
    super(message)
    this.name = 'UpstreamTokenError'
    this.code = code
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    oauthProxy: OAuthProxy
    upstreamTokens: UpstreamTokensApi
  }
}

/** Renew Entra's access token when less than this is left (seconds). */
export const UPSTREAM_RENEW_BEFORE = 300
/** Retry-After (seconds) when Entra could not be reached or throttled the service. */
const UPSTREAM_RETRY_AFTER = 30
const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default'
const now = () => Math.floor(Date.now() / 1000)

/** Graph scopes as Entra wants them on a token request: bare names are Graph permissions. */
export function graphScopesFor (configured: readonly string[]): string[] {
  if (configured.length === 0) return [GRAPH_DEFAULT_SCOPE]
  return configured.map(s => s.includes('/') ? s : `https://graph.microsoft.com/${s}`)
}

function tokensToUpstream (tokens: EntraTokenSet, previous: UpstreamTokens = {}): UpstreamTokens {
  return {
    ...previous,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: now() + tokens.expires_in,
    refreshToken: tokens.refresh_token ?? previous.refreshToken,
    scope: tokens.scope ?? previous.scope
  }
}

/**
 * The OAuth 2.1 authorization server in front of Entra: the services the /authorize, consent,
 * /auth/callback, /token and /revoke routes share (routes/oauth/*), the upstream leg
 * (plugins/oauth-proxy/upstream-entra.ts), and `fastify.upstreamTokens` for tools that call Microsoft Graph.
 */
export default fp(async function oauthProxy (fastify) {
  const { config, store } = fastify

  if (config.encryptionKey === null) {
    fastify.log.warn('TOKEN_ENCRYPTION_KEY is not set: Entra tokens are sealed with an EPHEMERAL key and consent cookies signed with one. Sign-ins die with the process and other instances cannot read them. Set TOKEN_ENCRYPTION_KEY for any deployment.')
  }
  const cipher = createTokenCipher(config.encryptionKey ?? ephemeralKey())
  // Consent cookies are signed with a secret every instance derives from TOKEN_ENCRYPTION_KEY.
  await fastify.register(cookie, { secret: cookieSecret(config.encryptionKey), hook: 'onRequest' })
  await fastify.register(upstreamEntra)

  const cookieName = consentCookieName(config.baseUrl)

  function consentSessionOf (request: FastifyRequest): string | undefined {
    const raw = request.cookies[cookieName]
    if (raw === undefined) return undefined
    const unsigned = request.unsignCookie(raw)
    return unsigned.valid && isConsentSessionId(unsigned.value) ? unsigned.value : undefined
  }

  const seal = (upstream: UpstreamTokens, sid: string) => cipher.seal(JSON.stringify(upstream), sid)

  const proxy: OAuthProxy = {
    cipher,

    async startUpstream (tx) {
      const verifier = createCodeVerifier()
      const nonce = randomToken(16)
      const updated: AuthorizeTransaction = { ...tx, upstream: { verifier, nonce } }
      await saveTransaction(store, updated, now())
      return fastify.entra.authorizationUrl({ state: tx.id, codeChallenge: s256Challenge(verifier), nonce })
    },

    async consentRemembered (request, clientId, scopes) {
      if (config.consentTtl === 0) return false
      const session = consentSessionOf(request)
      if (session === undefined) return false
      const approved = await getJson<string[]>(store, consentKey(session, clientId))
      return approved !== null && scopesCovered(approved, scopes)
    },

    async rememberConsent (request, reply, clientId, scopes) {
      if (config.consentTtl === 0) return
      const session = consentSessionOf(request) ?? newConsentSessionId()
      const key = consentKey(session, clientId)
      const approved = await getJson<string[]>(store, key) ?? []
      await setJson(store, key, mergeScopes(approved, scopes), config.consentTtl)
      reply.setCookie(cookieName, session, consentCookieOptions(config.baseUrl, config.consentTtl))
    },

    async createGrant ({ tx, user, tokens }) {
      const sid = randomToken(24)
      const grant: Grant = {
        sid,
        clientId: tx.clientId,
        scopes: tx.scopes,
        user,
        upstream: seal(tokensToUpstream(tokens), sid),
        createdAt: now()
      }
      await setJson(store, grantKey(sid), grant, config.refreshTokenTtl)
      const code = randomToken(32)
      const record: CodeRecord = {
        sid,
        clientId: tx.clientId,
        redirectUri: tx.redirectUri,
        codeChallenge: tx.codeChallenge,
        scopes: tx.scopes,
        resource: tx.resource
      }
      await setJson(store, codeKey(code), record, CODE_TTL)
      return { grant, code }
    },

    async readGrant (sid) {
      return await getJson<Grant>(store, grantKey(sid))
    },

    openUpstream (grant) {
      return JSON.parse(cipher.open(grant.upstream, grant.sid)) as UpstreamTokens
    },

    async saveGrant (grant, upstream) {
      const updated = upstream === undefined ? grant : { ...grant, upstream: seal(upstream, grant.sid) }
      await setJson(store, grantKey(grant.sid), updated, config.refreshTokenTtl)
      return updated
    },

    async renewUpstream (grant, request) {
      const upstream = proxy.openUpstream(grant)
      if (upstream.refreshToken === undefined) return grant
      if ((upstream.accessTokenExpiresAt ?? 0) - now() > UPSTREAM_RENEW_BEFORE) return grant
      let tokens: EntraTokenSet
      try {
        tokens = await fastify.entra.refresh(upstream.refreshToken, fastify.entra.apiScopes)
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        const code = err.aadsts ?? err.error
        switch (proxy.upstreamRefused(err, 'refresh', request, grant.clientId)) {
          case 'transient':
            throw new TemporarilyUnavailableError('Microsoft Entra ID could not renew the sign-in; retry shortly', { 'retry-after': String(UPSTREAM_RETRY_AFTER) })
          case 'sign_in_ended':
            throw new InvalidGrantError(`The sign-in with Microsoft Entra ID has ended (${code}); sign in again`)
          case 'credentials':
            throw new ServerError(`Microsoft Entra ID refused this service's own credentials (${code}, ${err.error}); the service's operator must renew them. Retrying will not help.`)
          case 'configuration':
            throw new ServerError(`Microsoft Entra ID refused the renewal (${code}, ${err.error}); the service's operator must correct its configuration. Retrying will not help.`)
        }
      }
      return await proxy.saveGrant(grant, tokensToUpstream(tokens, upstream))
    },

    upstreamRefused (err, operation, request, clientId) {
      const failure = upstreamFailure(err)
      if (failure !== 'transient') {
        fastify.audit('upstream.error', { outcome: 'failure', operation, failure, upstream_error: err.error, aadsts: err.aadsts, client_id: clientId }, request)
      }
      return failure
    },

    async issueTokens (grant, scopes, opts) {
      const scope = scopes.join(' ')
      await fastify.ensureStoreEpoch()
      const { accessToken, jti, expiresIn } = fastify.tokenSigner.issueAccessToken({
        sub: grant.user.sub,
        oid: grant.user.oid,
        tid: grant.user.tid,
        name: grant.user.name,
        preferred_username: grant.user.preferred_username,
        email: grant.user.email,
        client_id: grant.clientId,
        scope,
        sid: grant.sid
      })
      const answer: TokenResponse & { jti: string } = { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, scope, jti }
      if (opts.refreshToken) {
        const refreshToken = randomToken(32)
        // A refresh token always carries the whole grant: a narrowed access token does not narrow it (RFC 6749 §6).
        const record: RefreshRecord = { sid: grant.sid, clientId: grant.clientId, scopes: grant.scopes }
        await setJson(store, refreshKey(refreshToken), record, config.refreshTokenTtl)
        answer.refresh_token = refreshToken
      }
      return answer
    },

    async revokeGrant (sid, reason, request) {
      const grant = await proxy.readGrant(sid)
      await fastify.denyGrant(sid)
      await store.delete(grantKey(sid))
      fastify.audit('token.revoked', {
        reason,
        token_type: 'grant',
        client_id: grant?.clientId,
        oid: grant?.user.oid,
        tid: grant?.user.tid
      }, request)
    },

    async authenticateClient (request, body) {
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
  }
  fastify.decorate('oauthProxy', proxy)

  // Graph scopes asked for (refresh token, or on-behalf-of without scopes): AZURE_GRAPH_SCOPES; when
  // empty, `.default` (every consented Graph permission) from Entra, while the development identity
  // provider has no `.default` and grants User.Read, as Entra does to a new app registration.
  const graphScopes = config.entra.graphScopes.length > 0 ? config.entra.graphScopes : config.devIdentityProvider ? ['User.Read'] : []

  const upstreamTokens: UpstreamTokensApi = {
    async forGrant (sid) {
      const grant = await proxy.readGrant(sid)
      if (grant === null) throw new UpstreamTokenError('grant_not_found', 'The sign-in behind this token no longer exists (revoked or expired)')
      const upstream = proxy.openUpstream(grant)
      if (upstream.graph !== undefined && upstream.graph.expiresAt - now() > UPSTREAM_RENEW_BEFORE) {
        return { accessToken: upstream.graph.accessToken, scopes: upstream.graph.scope.split(' ').filter(Boolean) }
      }
      if (upstream.refreshToken === undefined) {
        throw new UpstreamTokenError('no_refresh_token', 'The sign-in has no Entra refresh token (offline_access was not granted), so no Microsoft Graph token can be obtained')
      }
      const scopes = graphScopesFor(graphScopes)
      let tokens: EntraTokenSet
      try {
        tokens = await fastify.entra.refresh(upstream.refreshToken, scopes)
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        const failure = proxy.upstreamRefused(err, 'graph_token', undefined, grant.clientId)
        if (failure === 'transient') throw new UpstreamTokenError('upstream_unavailable', 'Microsoft Entra ID could not be reached for a Microsoft Graph token; retry shortly')
        if (failure === 'credentials') throw new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused this service's own credentials (${err.aadsts ?? err.error}); the service's operator must renew them`)
        if (err.aadsts === 'AADSTS65001' || err.error === 'consent_required' || err.error === 'invalid_scope' || err.aadsts === 'AADSTS70011') {
          throw new UpstreamTokenError('graph_consent_required', `This sign-in has no consent for Microsoft Graph (${scopes.join(' ')}): add the Graph permission to the app registration (AZURE_GRAPH_SCOPES) and grant consent, then sign in again. Entra said: ${err.message}`)
        }
        throw new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused a Microsoft Graph token: ${err.error} ${err.message}`)
      }
      const scope = tokens.scope ?? scopes.join(' ')
      await proxy.saveGrant(grant, {
        ...upstream,
        refreshToken: tokens.refresh_token ?? upstream.refreshToken,
        graph: { accessToken: tokens.access_token, expiresAt: now() + tokens.expires_in, scope }
      })
      return { accessToken: tokens.access_token, scopes: scope.split(' ').filter(Boolean) }
    },

    async onBehalfOf (entraAccessToken, requested) {
      // No scopes: Microsoft Graph (AZURE_GRAPH_SCOPES or .default); bare names are Graph permissions.
      const scopes = graphScopesFor(requested !== undefined && requested.length > 0 ? requested : graphScopes)
      let tokens: EntraTokenSet
      try {
        tokens = await fastify.entra.onBehalfOf(entraAccessToken, scopes)
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        if (proxy.upstreamRefused(err, 'on_behalf_of') === 'transient') throw new UpstreamTokenError('upstream_unavailable', 'Microsoft Entra ID could not be reached for the on-behalf-of exchange; retry shortly')
        if (err.aadsts === 'AADSTS65001' || err.error === 'consent_required') {
          throw new UpstreamTokenError('graph_consent_required', `No consent for ${scopes.join(' ')} on behalf of this user. Entra said: ${err.message}`)
        }
        throw new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused the on-behalf-of exchange: ${err.error} ${err.message}`)
      }
      const scope = tokens.scope ?? scopes.join(' ')
      return { accessToken: tokens.access_token, scopes: scope.split(' ').filter(Boolean), expiresIn: tokens.expires_in }
    }
  }
  fastify.decorate('upstreamTokens', upstreamTokens)
}, { name: 'oauth-proxy', dependencies: ['config', 'store', 'audit-log', 'signing-keys', 'jwt-verify', 'client-registry', 'private-key-jwt'] })
