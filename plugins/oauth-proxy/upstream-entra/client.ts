import type { FastifyRequest } from 'fastify'
import type { AuditEvent, AuditFields } from '../../audit-log/events.ts'
import type { Config } from '../../../config/index.ts'
import { claimsChallenged, upstreamFailure, type UpstreamFailure } from './aadsts.ts'
import { claimsParameter, type ClaimsRequest } from './claims.ts'
import type { CredentialsWatch } from './credentials-watch.ts'
import type { UpstreamError } from './errors.ts'
import { createIdTokenVerifier, type EntraIdClaims, type IdTokenVerifierOptions } from './id-token.ts'
import { postTokenRequest, viaSimpleOAuth2, type EntraTokenSet, type SimpleOAuth2Client } from './token-endpoint.ts'

export interface EntraClient {
  /**
   * The authorize URL of the upstream leg: our own state (the transaction id), PKCE S256 and nonce; no
   * `resource`; `claims` declares CP1 and carries a pending claims challenge of this user, if any.
   */
  authorizationUrl (opts: { state: string, codeChallenge: string, nonce: string, challenge?: ClaimsRequest, loginHint?: string }): string
  /** Redeems the code Entra sent to /auth/callback, with the upstream PKCE verifier. */
  redeemCode (code: string, codeVerifier: string): Promise<EntraTokenSet>
  /** Uses an Entra refresh token (server-side) for a token with the given scopes (one resource at a time). */
  refresh (refreshToken: string, scopes: readonly string[]): Promise<EntraTokenSet>
  /** On-behalf-of (jwt-bearer) exchange of an Entra access token for this API into a token for `scopes`. */
  onBehalfOf (assertion: string, scopes: readonly string[]): Promise<EntraTokenSet>
  /** Verifies an Entra id token: signature via Entra's JWKS, iss for its tenant, aud = client id, nonce, allowed tid. */
  verifyIdToken (idToken: string, nonce: string): Promise<EntraIdClaims>
  /** Scopes asked when a code is redeemed or a grant renewed: the API scopes and OpenID scopes (one resource). */
  readonly apiScopes: readonly string[]
  /** Classifies Entra's refusal and audits the permanent ones (`upstream.error`, or `upstream.claims_challenge`). */
  refused (err: UpstreamError, operation: UpstreamOperation, request?: FastifyRequest, clientId?: string): UpstreamFailure
}

/** Which token request Entra refused (audit `operation`). */
export type UpstreamOperation = 'refresh' | 'graph_token' | 'code_redemption' | 'on_behalf_of'

export interface EntraClientDeps {
  config: Pick<Config, 'entra' | 'redirectUri' | 'version' | 'clockToleranceSeconds'>
  /** The simple-oauth2 client behind @fastify/oauth2 (authorize URL; token requests with a secret). */
  simple: SimpleOAuth2Client
  watch: Pick<CredentialsWatch, 'observed'>
  /** Entra's signing key for a tenant and kid, as PEM (plugins/jwt-verify's key sets). */
  signingKey: IdTokenVerifierOptions['signingKey']
  audit (event: AuditEvent, fields?: AuditFields, request?: FastifyRequest): void
  /** With tracing on: the active span's `traceparent` for simple-oauth2's requests (plugins/tracing.ts). */
  traceHeaders?: () => Record<string, string>
}

/**
 * Entra issues an access token for one resource per request: codes are redeemed for the API scopes
 * (plus OpenID); Graph scopes are asked at sign-in (consent) and fetched later with the refresh token.
 */
function apiScopesOf (entra: Pick<Config['entra'], 'upstreamScopes' | 'graphScopes'>): string[] {
  return entra.upstreamScopes.filter(s => !entra.graphScopes.includes(s))
}

/**
 * The upstream leg's operations. With a certificate, token requests carry a `client_assertion`
 * (undici); with a secret they go through simple-oauth2. On-behalf-of is always undici.
 */
export function createEntraClient ({ config, simple, watch, signingKey, audit, traceHeaders }: EntraClientDeps): EntraClient {
  const entra = config.entra
  const useCertificate = entra.certificate !== undefined
  const apiScopes = apiScopesOf(entra)
  const { observed } = watch
  // simple-oauth2 merges these into its request's options (Node's http client, no undici channel to add them)
  const httpOptions = () => traceHeaders !== undefined ? { headers: traceHeaders() } : undefined

  const tokenRequest = async (params: Record<string, string>) => await postTokenRequest({
    tokenUrl: entra.tokenUrl, clientId: entra.clientId, clientSecret: entra.clientSecret, certificate: entra.certificate, userAgent: `entra-mcp-gateway/${config.version}`
  }, params)

  return {
    apiScopes,
    authorizationUrl: opts => authorizationUrl(simple, config, opts),
    async redeemCode (code, codeVerifier) {
      const params = { code, redirect_uri: config.redirectUri, code_verifier: codeVerifier, scope: apiScopes.join(' '), claims: claimsParameter() }
      return await observed('authorization_code', async () => useCertificate
        ? await tokenRequest({ grant_type: 'authorization_code', ...params })
        : await viaSimpleOAuth2(() => simple.getToken(params, httpOptions())))
    },
    async refresh (refreshToken, scopes) {
      return await observed('refresh_token', async () => useCertificate
        ? await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, scope: scopes.join(' '), claims: claimsParameter() })
        : await viaSimpleOAuth2(() => simple.createToken({ refresh_token: refreshToken }).refresh({ scope: scopes.join(' '), claims: claimsParameter() }, httpOptions())))
    },
    async onBehalfOf (assertion, scopes) {
      return await observed('on_behalf_of', async () => await tokenRequest({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
        requested_token_use: 'on_behalf_of',
        scope: scopes.join(' '),
        claims: claimsParameter()
      }))
    },
    verifyIdToken: createIdTokenVerifier({
      clientId: entra.clientId,
      allowedTenants: entra.allowedTenants,
      issuerFor: tid => entra.issuerFor(tid),
      signingKey,
      clockToleranceSeconds: config.clockToleranceSeconds
    }),
    refused (err, operation, request, clientId) {
      const failure = upstreamFailure(err)
      if (failure !== 'transient' && claimsChallenged(err)) {
        audit('upstream.claims_challenge', { outcome: 'denied', operation, upstream_error: err.error, aadsts: err.aadsts, claims_challenge: err.claims !== undefined, client_id: clientId }, request)
      } else if (failure !== 'transient') {
        audit('upstream.error', { outcome: 'failure', operation, failure, upstream_error: err.error, aadsts: err.aadsts, client_id: clientId }, request)
      }
      return failure
    }
  }
}

/** Entra's authorize URL for the upstream leg (see EntraClient.authorizationUrl). */
function authorizationUrl (simple: SimpleOAuth2Client, config: EntraClientDeps['config'], opts: Parameters<EntraClient['authorizationUrl']>[0]): string {
  return simple.authorizeURL({
    redirect_uri: config.redirectUri,
    scope: config.entra.upstreamScopes.join(' '),
    state: opts.state,
    code_challenge: opts.codeChallenge,
    code_challenge_method: 'S256',
    nonce: opts.nonce,
    response_mode: 'query',
    claims: claimsParameter(opts.challenge),
    ...(opts.loginHint !== undefined ? { login_hint: opts.loginHint } : {})
  })
}
