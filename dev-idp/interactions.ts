import type { IncomingMessage, ServerResponse } from 'node:http'
import type Provider from 'oidc-provider'
import { findUser, type DevUser } from './users.ts'
import { errorPage, signInPage } from './views.ts'
import { addOidcScopes, normalizeScopes, resourceOfScope } from './scopes.ts'
import { readBody, sendHtml, sendJson } from './node-http.ts'
import { CLAIMS_MARKER, type ClaimsDemands } from './conditional-access.ts'

// The sign-in page: GET shows the list of development users (or grants consent at once when only
// consent is asked); POST signs the chosen user in, or ends the sign-in when it is cancelled.

export interface InteractionSetup {
  provider: Provider
  tenant: string
  users: readonly DevUser[]
  demands: ClaimsDemands
  /** Path of the sign-in page, without the interaction uid: `{mountPath}/{tenant}/signin/`. */
  signInPath: string
}

/** `(req, res, uid)` for `{signInPath}{uid}`. */
export type InteractionHandler = (req: IncomingMessage, res: ServerResponse, uid: string) => Promise<void>

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

export function createInteractions (setup: InteractionSetup): InteractionHandler {
  const { provider } = setup
  return async function interaction (req, res, uid) {
    let details: Details
    try {
      details = await provider.interactionDetails(req, res)
    } catch {
      return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS90015: This sign-in session has expired or was not found. Start the sign-in again from the application.'))
    }
    if (details.uid !== uid) return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS90015: This sign-in session does not match the page.'))
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (details.prompt.name === 'login') return sendHtml(res, 200, signInPageFor(setup, details, uid, true))
      return grantConsent(provider, req, res, details)
    }
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Method not allowed' })
    return submitSignIn(setup, req, res, details, uid)
  }
}

function signInPageFor ({ users, tenant, signInPath }: InteractionSetup, details: Details, uid: string, withHint: boolean): string {
  const params = details.params as Record<string, string | undefined>
  return signInPage({
    action: `${signInPath}${uid}`,
    users,
    clientId: params.client_id ?? '',
    tenantId: tenant,
    scopes: normalizeScopes(params.scope),
    loginHint: withHint ? params.login_hint : undefined
  })
}

/** Any prompt other than login (consent, asked with prompt=consent): granted at once, as with admin consent. */
async function grantConsent (provider: Provider, req: IncomingMessage, res: ServerResponse, details: Details): Promise<void> {
  const params = details.params as Record<string, string | undefined>
  const accountId = details.session?.accountId
  if (accountId === undefined) return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS50058: No signed-in user'))
  const grant = new provider.Grant({ clientId: params.client_id ?? '', accountId })
  const requested = normalizeScopes(params.scope)
  addOidcScopes(grant, requested, params)
  const byResource = new Map<string, string[]>()
  for (const s of requested) {
    const r = resourceOfScope(s)
    if (r !== undefined) byResource.set(r, [...(byResource.get(r) ?? []), s])
  }
  for (const [r, s] of byResource) grant.addResourceScope(r, s.join(' '))
  const grantId = await grant.save()
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}

/** The sign-in form: a development user's oid (or name), or cancel. */
async function submitSignIn (setup: InteractionSetup, req: IncomingMessage, res: ServerResponse, details: Details, uid: string): Promise<void> {
  const { provider, users, demands } = setup
  let form: URLSearchParams
  try {
    form = new URLSearchParams((await readBody(req, 8 * 1024)).toString('utf8'))
  } catch {
    return sendHtml(res, 413, errorPage('invalid_request', 'The form is too large'))
  }
  if (form.get('action') === 'cancel' || form.has('cancel')) {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'AADSTS65004: User declined to consent to access the app.'
    }, { mergeWithLastSubmission: false })
  }
  const user = findUser(users, form.get('user') ?? '')
  if (user === undefined) return sendHtml(res, 400, signInPageFor(setup, details, uid, false))
  // Signing in here stands for doing what the policy asked (MFA) when the request carried its challenge.
  const met = demands.satisfy(user.oid, (details.params as Record<string, string | undefined>)[CLAIMS_MARKER])
  return provider.interactionFinished(req, res, {
    login: { accountId: user.oid, amr: met ? ['pwd', 'mfa'] : ['pwd'], remember: true }
  }, { mergeWithLastSubmission: false })
}
