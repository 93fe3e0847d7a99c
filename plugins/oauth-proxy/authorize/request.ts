import { isValidS256Challenge } from './pkce.ts'
import { parseScope, requestedScopes } from './requested-scopes.ts'
import { resolveResource } from './resource-indicator.ts'

/** What /authorize needs to know of a client (a subset of the registry's ClientRecord). */
export interface AuthorizeClient {
  client_id: string
  redirect_uris: string[]
  grant_types?: string[]
  response_types?: string[]
  scope?: string
}

export interface AuthorizeSettings {
  /** Scopes this service offers (MCP_SCOPES). */
  scopes: readonly string[]
  /** The canonical MCP resource URL. */
  resource: string
  /** The admin API's resource URL (RFC 8707), asked for by administrators' scripts. */
  admin: { resource: string }
}

export interface AuthorizeParams {
  clientId: string
  redirectUri: string
  /** The client's own state, echoed back to it. */
  state?: string
  codeChallenge: string
  scopes: string[]
  resource: string
}

/**
 * The three outcomes of checking an authorize request:
 * - `page`: the client or its redirect URI cannot be trusted, so the error is shown, never redirected;
 * - `redirect`: the redirect URI is verified, the error goes back to the client (with state and iss);
 * - `ok`: go on to consent.
 */
export type AuthorizeCheck =
  | { outcome: 'page', status: number, error: string, description: string }
  | { outcome: 'redirect', clientId: string, redirectUri: string, state?: string, error: string, description: string }
  | { outcome: 'ok', params: AuthorizeParams }

export const MAX_STATE_LENGTH = 2048

/** Reads one query parameter; a parameter given twice is a malformed request (RFC 6749 §3.1). */
function single (query: Record<string, unknown>, name: string): { value?: string, repeated: boolean } {
  const raw = query[name]
  if (raw === undefined) return { repeated: false }
  if (typeof raw === 'string') return { value: raw, repeated: false }
  return { repeated: true }
}

/**
 * Default scopes when the request names none: the client's registered scope when it has one,
 * otherwise every scope this service offers.
 */
export function defaultScopes (client: AuthorizeClient, offered: readonly string[]): string[] {
  const registered = parseScope(client.scope).filter(s => offered.includes(s))
  return registered.length > 0 ? registered : [...offered]
}

/** An error for the client at its verified redirect URI. */
interface Refusal { error: string, description: string }
const refusal = (error: string, description: string): Refusal => ({ error, description })

/**
 * Checks in a fixed order: the client and its redirect URI first (until both are known, an error is a
 * page), then state, response type, PKCE, resource and scopes (errors go back to the client).
 */
export function checkAuthorizeRequest (
  query: Record<string, unknown>,
  client: AuthorizeClient | null,
  settings: AuthorizeSettings,
  redirectUriMatches: (registered: string[], presented: string) => boolean
): AuthorizeCheck {
  const target = verifiedRedirectUri(query, client, redirectUriMatches)
  if ('outcome' in target) return target
  const { redirectUri } = target
  const known = target.client

  const stateParam = single(query, 'state')
  const state = stateParam.repeated ? undefined : stateParam.value
  const fail = ({ error, description }: Refusal): AuthorizeCheck => ({ outcome: 'redirect', clientId: known.client_id, redirectUri, state, error, description })
  if (stateParam.repeated) return fail(refusal('invalid_request', 'The request has more than one state.'))
  if (state !== undefined && state.length > MAX_STATE_LENGTH) return fail(refusal('invalid_request', `state is longer than ${MAX_STATE_LENGTH} characters.`))

  const responseTypeRefused = checkResponseType(query, known)
  if (responseTypeRefused !== undefined) return fail(responseTypeRefused)
  const codeChallenge = checkPkce(query)
  if (typeof codeChallenge !== 'string') return fail(codeChallenge)
  const resource = checkResource(query, settings)
  if (typeof resource !== 'string') return fail(resource)
  const scopes = checkScopes(query, known, settings)
  if (!Array.isArray(scopes)) return fail(scopes)

  return { outcome: 'ok', params: { clientId: known.client_id, redirectUri, state, codeChallenge, scopes, resource } }
}

/** The client and the redirect URI it registered; until both are known, an error is shown as a page. */
function verifiedRedirectUri (
  query: Record<string, unknown>,
  client: AuthorizeClient | null,
  redirectUriMatches: (registered: string[], presented: string) => boolean
): AuthorizeCheck & { outcome: 'page' } | { client: AuthorizeClient, redirectUri: string } {
  const page = (status: number, error: string, description: string) => ({ outcome: 'page' as const, status, error, description })

  const clientId = single(query, 'client_id')
  if (clientId.repeated || clientId.value === undefined || clientId.value === '') return page(400, 'invalid_request', 'The request has no client_id (or more than one).')
  if (client === null) return page(400, 'invalid_client', 'This application is not registered with this service.')
  // A client without the code grant (device-only, RFC 8628) has no redirect URI to answer at: a page.
  if (client.grant_types !== undefined && !client.grant_types.includes('authorization_code')) {
    return page(400, 'unauthorized_client', 'This application did not register the authorization_code grant, so it cannot sign in here; a device-only application signs in with a code (its user opens /device).')
  }

  const redirect = single(query, 'redirect_uri')
  if (redirect.repeated) return page(400, 'invalid_request', 'The request has more than one redirect_uri.')
  if (redirect.value === undefined) {
    if (client.redirect_uris.length !== 1) return page(400, 'invalid_request', 'The request has no redirect_uri and the application registered several.')
    return { client, redirectUri: client.redirect_uris[0] }
  }
  if (!redirectUriMatches(client.redirect_uris, redirect.value)) {
    return page(400, 'invalid_request', 'The redirect_uri does not match any redirect URI registered for this application.')
  }
  return { client, redirectUri: redirect.value }
}

function checkResponseType (query: Record<string, unknown>, client: AuthorizeClient): Refusal | undefined {
  const responseType = single(query, 'response_type')
  if (responseType.repeated || responseType.value === undefined) return refusal('invalid_request', 'response_type is required (and only once).')
  if (responseType.value !== 'code') return refusal('unsupported_response_type', 'Only response_type=code is supported.')
  if (client.response_types !== undefined && !client.response_types.includes('code')) return refusal('unauthorized_client', 'This application did not register the "code" response type.')
}

/** The S256 code challenge (PKCE is required), or why not. */
function checkPkce (query: Record<string, unknown>): string | Refusal {
  const challenge = single(query, 'code_challenge')
  const method = single(query, 'code_challenge_method')
  if (challenge.repeated || method.repeated) return refusal('invalid_request', 'code_challenge and code_challenge_method may appear only once.')
  if (challenge.value === undefined || challenge.value === '') return refusal('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256.')
  if (method.value !== 'S256') return refusal('invalid_request', 'Only the S256 code_challenge_method is supported (plain is refused).')
  if (!isValidS256Challenge(challenge.value)) return refusal('invalid_request', 'code_challenge must be 43 base64url characters (the S256 hash of the verifier).')
  return challenge.value
}

/** The canonical resource asked for (MCP when none is named), or why not (one resource per request). */
function checkResource (query: Record<string, unknown>, settings: AuthorizeSettings): string | Refusal {
  const resource = single(query, 'resource')
  if (resource.repeated) return refusal('invalid_target', `One resource per request: ${settings.resource} (or the admin API, ${settings.admin.resource})`)
  const resolved = resolveResource(resource.value, { mcp: settings.resource, admin: settings.admin.resource })
  return resolved ?? refusal('invalid_target', `Unknown resource; this service's resource is ${settings.resource}`)
}

/** The requested scopes (all offered), or the defaults when none is named. */
function checkScopes (query: Record<string, unknown>, client: AuthorizeClient, settings: AuthorizeSettings): string[] | Refusal {
  const scope = single(query, 'scope')
  if (scope.repeated) return refusal('invalid_request', 'The request has more than one scope parameter.')
  const scopes = requestedScopes(scope.value, settings.scopes)
  if (scopes.length === 0) return defaultScopes(client, settings.scopes)
  // Any offered scope, also beyond the client's registered `scope`: registration is open, so
  // that ceiling protects nothing (anyone may register again with more) and it would refuse the
  // step-up of clients that registered with the scopes of their first sign-in. The user still
  // approves every scope on the consent page.
  const unknown = scopes.filter(s => !settings.scopes.includes(s))
  if (unknown.length > 0) return refusal('invalid_scope', `Unknown scope: ${unknown.join(' ')} (offered: ${settings.scopes.join(' ')})`)
  return scopes
}

/** The redirect back to the client with an error or a code (RFC 6749 §4.1.2, RFC 9207 `iss`). */
export function clientRedirect (redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri)
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(name, value)
  }
  return url.toString()
}
