import fp from 'fastify-plugin'
import oauth2, { type OAuth2Namespace } from '@fastify/oauth2'
import type { FastifyRequest } from 'fastify'
import { upstreamFailure, type UpstreamFailure } from './upstream-entra/aadsts.ts'
import { UpstreamError } from './upstream-entra/errors.ts'
import { postTokenRequest, viaSimpleOAuth2, TOKEN_TIMEOUT_MS, type EntraTokenSet, type SimpleOAuth2Client } from './upstream-entra/token-endpoint.ts'
import { createIdTokenVerifier, type EntraIdClaims } from './upstream-entra/id-token.ts'
import { createThrottle } from '../shared/throttle.ts'

export type { EntraTokenSet } from './upstream-entra/token-endpoint.ts'

export interface EntraClient {
  /** The authorize URL of the upstream leg: our own state (the transaction id), PKCE S256 and nonce; no `resource`. */
  authorizationUrl (opts: { state: string, codeChallenge: string, nonce: string }): string
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
  /** Classifies Entra's refusal and audits the permanent ones (`upstream.error`). */
  refused (err: UpstreamError, operation: UpstreamOperation, request?: FastifyRequest, clientId?: string): UpstreamFailure
}

/** Which token request Entra refused (audit `operation`). */
export type UpstreamOperation = 'refresh' | 'graph_token' | 'code_redemption' | 'on_behalf_of'

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
  const entra = config.entra
  const authorizeUrl = new URL(entra.authorizeUrl)
  const tokenUrl = new URL(entra.tokenUrl)
  const useCertificate = entra.certificate !== undefined
  // Entra issues an access token for one resource per request: codes are redeemed for the API scopes
  // (plus OpenID); Graph scopes are asked at sign-in (consent) and fetched later with the refresh token.
  const apiScopes = entra.upstreamScopes.filter(s => !entra.graphScopes.includes(s))

  await fastify.register(oauth2, {
    name: 'entraOAuth2',
    credentials: {
      client: { id: entra.clientId, secret: entra.clientSecret ?? '' },
      auth: {
        authorizeHost: authorizeUrl.origin,
        authorizePath: authorizeUrl.pathname,
        tokenHost: tokenUrl.origin,
        tokenPath: tokenUrl.pathname
      },
      options: { authorizationMethod: 'body' },
      http: { timeout: TOKEN_TIMEOUT_MS, headers: { 'user-agent': `entra-mcp-gateway/${config.version}` } }
    },
    scope: entra.upstreamScopes,
    callbackUri: config.redirectUri,
    userAgent: false
  })
  // The simple-oauth2 AuthorizationCode client @fastify/oauth2 exposes (untyped in its declarations).
  const simple = (fastify.entraOAuth2 as unknown as { oauth2: SimpleOAuth2Client }).oauth2

  const tokenRequest = async (params: Record<string, string>) => await postTokenRequest({
    tokenUrl: entra.tokenUrl, clientId: entra.clientId, clientSecret: entra.clientSecret, certificate: entra.certificate, userAgent: `entra-mcp-gateway/${config.version}`
  }, params)

  // Entra's last word on the service's own credentials, for /health/ready: any token it issues clears it.
  let credentialsRefused: string | undefined
  const errorLogAllowed = { credentials: createThrottle(60000), configuration: createThrottle(60000) }
  fastify.readinessChecks.set('upstream_credentials', async () => credentialsRefused === undefined
    ? { ok: true, detail: 'not refused by Microsoft Entra ID' }
    : { ok: false, detail: credentialsRefused })

  /** Every token request goes through here: readiness and an error line (once a minute) for what only the operator can fix. */
  async function observed (grantType: string, call: () => Promise<EntraTokenSet>): Promise<EntraTokenSet> {
    try {
      const tokens = await call()
      credentialsRefused = undefined
      return tokens
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err
      const failure = upstreamFailure(err)
      if (failure === 'credentials') credentialsRefused = `Microsoft Entra ID refused the service's credentials: ${err.aadsts ?? 'no AADSTS code'} (${err.error})`
      if ((failure === 'credentials' || failure === 'configuration') && errorLogAllowed[failure]()) {
        fastify.log.error({ upstream_error: err.error, aadsts: err.aadsts, failure, grant_type: grantType, description: err.message },
          `Microsoft Entra ID refused the service's ${failure === 'credentials' ? 'own credentials' : 'request'} for good; the operator must act (repeats are not logged for a minute)`)
      }
      throw err
    }
  }

  const client: EntraClient = {
    apiScopes,
    authorizationUrl ({ state, codeChallenge, nonce }) {
      return simple.authorizeURL({
        redirect_uri: config.redirectUri,
        scope: entra.upstreamScopes.join(' '),
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        nonce,
        response_mode: 'query'
      })
    },
    async redeemCode (code, codeVerifier) {
      const params = { code, redirect_uri: config.redirectUri, code_verifier: codeVerifier, scope: apiScopes.join(' ') }
      return await observed('authorization_code', async () => useCertificate
        ? await tokenRequest({ grant_type: 'authorization_code', ...params })
        : await viaSimpleOAuth2(() => simple.getToken(params)))
    },
    async refresh (refreshToken, scopes) {
      return await observed('refresh_token', async () => useCertificate
        ? await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, scope: scopes.join(' ') })
        : await viaSimpleOAuth2(() => simple.createToken({ refresh_token: refreshToken }).refresh({ scope: scopes.join(' ') })))
    },
    async onBehalfOf (assertion, scopes) {
      return await observed('on_behalf_of', async () => await tokenRequest({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
        requested_token_use: 'on_behalf_of',
        scope: scopes.join(' ')
      }))
    },
    verifyIdToken: createIdTokenVerifier({
      clientId: entra.clientId,
      allowedTenants: entra.allowedTenants,
      issuerFor: tid => entra.issuerFor(tid),
      signingKey: async (tid, kid) => await fastify.entraSigningKey(tid, kid),
      clockToleranceSeconds: config.clockToleranceSeconds
    }),
    refused (err, operation, request, clientId) {
      const failure = upstreamFailure(err)
      if (failure !== 'transient') {
        fastify.audit('upstream.error', { outcome: 'failure', operation, failure, upstream_error: err.error, aadsts: err.aadsts, client_id: clientId }, request)
      }
      return failure
    }
  }
  fastify.decorate('entra', client)
}, { name: 'upstream-entra', dependencies: ['config', 'readiness', 'audit-log', 'jwt-verify'] })
