import type { FastifyRequest } from 'fastify'
import { InvalidGrantError, ServerError, TemporarilyUnavailableError } from '../../errors/oauth.ts'
import type { Grant } from '../grants/records.ts'
import type { GrantStore } from '../grants/model.ts'
import type { EntraClient, EntraTokenSet } from '../upstream-entra.ts'
import { claimsChallenged, consentMissing, graphConsentMissing } from './aadsts.ts'
import type { ClaimsChallenges } from '../grants/claims-challenges.ts'
import type { ClaimsRequest } from './claims.ts'
import { UpstreamError, UpstreamTokenError } from './errors.ts'
import { graphScopesFor } from './graph.ts'

export interface UpstreamTokensApi {
  /** A fresh Entra access token for Microsoft Graph for a grant (refresh token exchange, server-side). */
  forGrant (sid: string): Promise<{ accessToken: string, scopes: string[] }>
  /** On-behalf-of exchange of an Entra-issued access token for this API. */
  onBehalfOf (entraAccessToken: string, scopes?: readonly string[]): Promise<{ accessToken: string, scopes: string[], expiresIn: number }>
}

/** Renew Entra's access token when less than this is left (seconds). */
export const UPSTREAM_RENEW_BEFORE = 300
/** Retry-After (seconds) when Entra could not be reached or throttled the service. */
const UPSTREAM_RETRY_AFTER = 30
const now = () => Math.floor(Date.now() / 1000)
const scopeList = (scope: string) => scope.split(' ').filter(Boolean)

type GrantAccess = Pick<GrantStore, 'readGrant' | 'openUpstream' | 'saveUpstream' | 'saveTokenSet' | 'revoke'>

/** What a person is told when Conditional Access ended their sign-in. */
export function policyEndedSignIn (code: string | undefined): string {
  return `Your organization's sign-in policy (Conditional Access) requires you to sign in again${code !== undefined ? ` (${code})` : ''}, for example with multi-factor authentication. Sign in again; you will be asked for what the policy requires.`
}

/**
 * Uses the Entra refresh token when Entra's access token nears expiry (at a client refresh).
 * Entra's refusal becomes: 503 temporarily_unavailable with Retry-After (transient), 400 invalid_grant
 * (the user must sign in again), or 500 server_error (only the operator can fix it; no Retry-After).
 */
export function createUpstreamRenewal (entra: EntraClient, grants: GrantAccess, challenges: Pick<ClaimsChallenges, 'remember'>) {
  return async function renewUpstream (grant: Grant, request?: FastifyRequest): Promise<Grant> {
    const upstream = grants.openUpstream(grant)
    if (upstream.refreshToken === undefined) return grant
    if ((upstream.accessTokenExpiresAt ?? 0) - now() > UPSTREAM_RENEW_BEFORE) return grant
    let tokens: EntraTokenSet
    try {
      tokens = await entra.refresh(upstream.refreshToken, entra.apiScopes)
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err
      const code = err.aadsts ?? err.error
      switch (entra.refused(err, 'refresh', request, grant.clientId)) {
        case 'transient':
          throw new TemporarilyUnavailableError('Microsoft Entra ID could not renew the sign-in; retry shortly', { 'retry-after': String(UPSTREAM_RETRY_AFTER) })
        case 'sign_in_ended':
          if (!claimsChallenged(err)) throw new InvalidGrantError(`The sign-in with Microsoft Entra ID has ended (${code}); sign in again`)
          if (err.claims !== undefined) await challenges.remember(grant, err.claims)
          throw new InvalidGrantError(policyEndedSignIn(err.aadsts))
        case 'credentials':
          throw new ServerError(`Microsoft Entra ID refused this service's own credentials (${code}, ${err.error}); the service's operator must renew them. Retrying will not help.`)
        case 'configuration':
          throw new ServerError(`Microsoft Entra ID refused the renewal (${code}, ${err.error}); the service's operator must correct its configuration. Retrying will not help.`)
      }
    }
    return await grants.saveTokenSet(grant, tokens, upstream)
  }
}

/** `fastify.upstreamTokens`: Entra tokens for other resources (Microsoft Graph), for the MCP tools. */
export function createUpstreamTokens (entra: EntraClient, grants: GrantAccess, challenges: Pick<ClaimsChallenges, 'remember'>, graphScopes: readonly string[]): UpstreamTokensApi {
  /** The grant ends; the challenge (if Entra or Graph sent one) waits for the next sign-in. */
  async function endForClaims (grant: Grant, challenge: ClaimsRequest | undefined, code: string | undefined): Promise<never> {
    if (challenge !== undefined) await challenges.remember(grant, challenge)
    await grants.revoke(grant.sid, 'upstream_ended')
    throw new UpstreamTokenError('claims_challenge', policyEndedSignIn(code))
  }

  return {
    async forGrant (sid) {
      const grant = await grants.readGrant(sid)
      if (grant === null) throw new UpstreamTokenError('grant_not_found', 'The sign-in behind this token no longer exists (revoked or expired)')
      const upstream = grants.openUpstream(grant)
      if (upstream.graph !== undefined && upstream.graph.expiresAt - now() > UPSTREAM_RENEW_BEFORE) {
        return { accessToken: upstream.graph.accessToken, scopes: scopeList(upstream.graph.scope) }
      }
      if (upstream.refreshToken === undefined) {
        throw new UpstreamTokenError('no_refresh_token', 'The sign-in has no Entra refresh token (offline_access was not granted), so no Microsoft Graph token can be obtained')
      }
      const scopes = graphScopesFor(graphScopes)
      let tokens: EntraTokenSet
      try {
        tokens = await entra.refresh(upstream.refreshToken, scopes)
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        const refusal = graphTokenRefused(entra, err, scopes, grant.clientId)
        if (refusal.code === 'claims_challenge') return await endForClaims(grant, err.claims, err.aadsts)
        throw refusal
      }
      const scope = tokens.scope ?? scopes.join(' ')
      await grants.saveUpstream(grant, {
        ...upstream,
        refreshToken: tokens.refresh_token ?? upstream.refreshToken,
        graph: { accessToken: tokens.access_token, expiresAt: now() + tokens.expires_in, scope }
      })
      return { accessToken: tokens.access_token, scopes: scopeList(scope) }
    },

    async onBehalfOf (entraAccessToken, requested) {
      // No scopes: Microsoft Graph (AZURE_GRAPH_SCOPES or .default); bare names are Graph permissions.
      const scopes = graphScopesFor(requested !== undefined && requested.length > 0 ? requested : graphScopes)
      let tokens: EntraTokenSet
      try {
        tokens = await entra.onBehalfOf(entraAccessToken, scopes)
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        if (entra.refused(err, 'on_behalf_of') === 'transient') throw new UpstreamTokenError('upstream_unavailable', 'Microsoft Entra ID could not be reached for the on-behalf-of exchange; retry shortly')
        // An Entra-issued token has no grant here: its client signs in at Entra again.
        if (claimsChallenged(err)) throw new UpstreamTokenError('claims_challenge', policyEndedSignIn(err.aadsts))
        if (consentMissing(err)) throw new UpstreamTokenError('graph_consent_required', `No consent for ${scopes.join(' ')} on behalf of this user. Entra said: ${err.message}`)
        throw new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused the on-behalf-of exchange: ${err.error} ${err.message}`)
      }
      const scope = tokens.scope ?? scopes.join(' ')
      return { accessToken: tokens.access_token, scopes: scopeList(scope), expiresIn: tokens.expires_in }
    }
  }
}

function graphTokenRefused (entra: EntraClient, err: UpstreamError, scopes: string[], clientId: string): UpstreamTokenError {
  const failure = entra.refused(err, 'graph_token', undefined, clientId)
  if (failure === 'transient') return new UpstreamTokenError('upstream_unavailable', 'Microsoft Entra ID could not be reached for a Microsoft Graph token; retry shortly')
  if (failure === 'sign_in_ended' && claimsChallenged(err)) return new UpstreamTokenError('claims_challenge', policyEndedSignIn(err.aadsts))
  if (failure === 'credentials') return new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused this service's own credentials (${err.aadsts ?? err.error}); the service's operator must renew them`)
  if (graphConsentMissing(err)) {
    return new UpstreamTokenError('graph_consent_required', `This sign-in has no consent for Microsoft Graph (${scopes.join(' ')}): add the Graph permission to the app registration (AZURE_GRAPH_SCOPES) and grant consent, then sign in again. Entra said: ${err.message}`)
  }
  return new UpstreamTokenError('upstream_refused', `Microsoft Entra ID refused a Microsoft Graph token: ${err.error} ${err.message}`)
}
