import type { IncomingMessage, ServerResponse } from 'node:http'
import type Provider from 'oidc-provider'
import { DEV_IDP_CSP, errorPage } from './views.ts'
import { GRAPH_RESOURCE, OFFLINE_MARKER, normalizeScopes } from './scopes.ts'
import { readBody, sendHtml, sendJson, withBody } from './node-http.ts'
import type { InteractionHandler } from './interactions.ts'
import { CLAIMS_MARKER, asksForClaims, claimsChallengeAnswer, type ClaimsDemands } from './conditional-access.ts'

// The Entra-shaped front of the provider: Entra's v2.0 paths under one tenant, requests rewritten the
// way Entra reads them (bare Graph scopes, offline_access without prompt=consent), AADSTS answers for
// what Entra refuses, then oidc-provider's own handler.

export type EntraPaths = ReturnType<typeof entraPaths>

/** The paths Entra serves for a tenant, relative to the authority host. */
export function entraPaths (tenant: string) {
  return {
    authorize: `/${tenant}/oauth2/v2.0/authorize`,
    token: `/${tenant}/oauth2/v2.0/token`,
    jwks: `/${tenant}/discovery/v2.0/keys`,
    logout: `/${tenant}/oauth2/v2.0/logout`,
    userinfo: `/${tenant}/oidc/userinfo`,
    metadata: `/${tenant}/v2.0/.well-known/openid-configuration`,
    signIn: `/${tenant}/signin/`
  }
}

export interface HandlerSetup {
  provider: Provider
  tenant: string
  mountPath: string
  paths: EntraPaths
  interaction: InteractionHandler
  demands: ClaimsDemands
}

/** Node request handler; `req.url` is the full path including the mount path. */
export function createHandler (setup: HandlerSetup): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { tenant, mountPath, paths, interaction, demands } = setup
  const callback = setup.provider.callback()
  return async function handle (req, res) {
    res.setHeader('content-security-policy', DEV_IDP_CSP)
    res.setHeader('x-frame-options', 'DENY')
    const full = req.url ?? '/'
    if (full !== mountPath && !full.startsWith(`${mountPath}/`)) return sendJson(res, 404, { error: 'not_found', error_description: 'Not a development identity provider path' })
    let url = full.slice(mountPath.length) || '/'
    const q = url.indexOf('?')
    const pathname = q === -1 ? url : url.slice(0, q)
    const search = q === -1 ? '' : url.slice(q)

    try {
      if (pathname === paths.metadata) {
        url = `/.well-known/openid-configuration${search}`
      } else if (pathname.startsWith(paths.signIn)) {
        const uid = pathname.slice(paths.signIn.length)
        if (!/^[\w-]{1,64}$/.test(uid)) return sendHtml(res, 404, errorPage('invalid_request', 'Unknown sign-in page'))
        return await interaction(req, res, uid)
      } else if (!pathname.startsWith(`/${tenant}/`)) {
        return unknownTenant(res, pathname, tenant)
      } else if (pathname === paths.authorize && (req.method === 'GET' || req.method === 'HEAD')) {
        url = `${pathname}?${entraAuthorizeQuery(search)}`
      } else if (pathname === paths.token && req.method === 'POST' && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) {
        const body = await entraTokenBody(req, res)
        if (body === null) return
        const challenge = demands.pending(await tokenRequestUser(setup.provider, new URLSearchParams(body)))
        if (challenge !== undefined) return sendJson(res, 400, claimsChallengeAnswer(challenge))
        req = withBody(req, body)
      }
      req.url = url
      ;(req as IncomingMessage & { originalUrl?: string }).originalUrl = `${mountPath}${url}`
      await callback(req, res)
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'The development identity provider hit an unexpected condition' })
      else res.destroy(err as Error)
    }
  }
}

/** Entra serves nothing outside a tenant path (and only under the v2.0 paths used here). */
function unknownTenant (res: ServerResponse, pathname: string, tenant: string): void {
  const first = pathname.split('/')[1] ?? ''
  return sendJson(res, 400, {
    error: 'invalid_tenant',
    error_description: `AADSTS90002: Tenant '${first}' not found. This development identity provider serves tenant ${tenant} only.`
  })
}

/** The /authorize query with scopes read the Entra way and offline_access carried in OFFLINE_MARKER. */
function entraAuthorizeQuery (search: string): string {
  const query = new URLSearchParams(search)
  const scopes = normalizeScopes(query.get('scope') ?? undefined)
  // Entra apps hold the delegated Graph permission User.Read by default.
  if (scopes.includes('openid') && !scopes.some(s => s.startsWith(`${GRAPH_RESOURCE}/`))) scopes.push(`${GRAPH_RESOURCE}/User.Read`)
  if (query.has('scope')) query.set('scope', scopes.join(' '))
  query.delete(OFFLINE_MARKER)
  if (scopes.includes('offline_access')) query.set(OFFLINE_MARKER, '1')
  // A claims challenge is answered by an interactive sign-in (Entra prompts for MFA), seen by the sign-in page.
  query.delete(CLAIMS_MARKER)
  if (asksForClaims(query.get('claims'))) {
    query.set(CLAIMS_MARKER, query.get('claims') ?? '')
    query.set('prompt', 'login')
  }
  return query.toString()
}

/**
 * The /token form with scopes read the Entra way: Entra accepts bare Graph scope names and offline_access
 * at the token endpoint; oidc-provider would refuse them. Null when a too large body was answered.
 */
async function entraTokenBody (req: IncomingMessage, res: ServerResponse): Promise<string | null> {
  let body: string
  try {
    body = (await readBody(req)).toString('utf8')
  } catch {
    sendJson(res, 413, { error: 'invalid_request', error_description: 'AADSTS90056: The request body is too large.' })
    return null
  }
  const form = new URLSearchParams(body)
  if (!form.has('scope')) return body
  form.set('scope', normalizeScopes(form.get('scope') ?? undefined).filter(s => s !== 'offline_access').join(' '))
  return form.toString()
}

/** The user (oid) behind a refresh or on-behalf-of token request, when the token names one. */
async function tokenRequestUser (provider: Provider, form: URLSearchParams): Promise<string | undefined> {
  const refreshToken = form.get('refresh_token')
  if (form.get('grant_type') === 'refresh_token' && refreshToken !== null) {
    const found = await provider.RefreshToken.find(refreshToken).catch(() => undefined)
    return found?.accountId
  }
  const assertion = form.get('assertion')
  if (form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && assertion !== null) {
    try {
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as { oid?: unknown }
      return typeof payload.oid === 'string' ? payload.oid : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}
