// Every reading of Microsoft Entra ID's refusals in one place: the AADSTS codes this service knows,
// what a refusal means for the caller, and the words a client is told. Pure; no project imports.

/** The AADSTS code in an Entra description (e.g. AADSTS65001), if any. */
export function aadstsOf (description: string | undefined): string | undefined {
  return description === undefined ? undefined : /\b(AADSTS\d+)\b/.exec(description)?.[1]
}

const MAX_DESCRIPTION = 400

/** Entra's descriptions carry trace and correlation ids and timestamps after the first line: keep the message. */
export function readableDescription (description: unknown): string {
  if (typeof description !== 'string' || description === '') return 'Microsoft Entra ID gave no description'
  const first = description.split(/\r?\n/)[0].replace(/\s*Trace ID:.*$/i, '').trim()
  return first.length > MAX_DESCRIPTION ? `${first.slice(0, MAX_DESCRIPTION - 1)}…` : first
}

/** What Entra answered instead of a token: its `error`, the AADSTS code of its description, and whether it was passing trouble. */
export interface EntraRefusal {
  error: string
  aadsts?: string
  /** Network failure, timeout or 5xx: worth retrying, says nothing about the grant. */
  transient: boolean
}

/**
 * What a refusal from Entra means. `transient`: try again later. `sign_in_ended`: the user must sign
 * in again. `credentials`: Entra refused the service's own credentials (expired secret, unknown
 * certificate, app gone): only the operator can fix it. `configuration`: another permanent refusal of
 * what the service asked (a scope Entra does not know...): only the operator can fix it too.
 */
export type UpstreamFailure = 'transient' | 'sign_in_ended' | 'credentials' | 'configuration'

// AADSTS codes about the service's own client credentials or registration, whatever the error name.
const CREDENTIAL_CODES = new Set([
  'AADSTS7000222', // the client secret expired
  'AADSTS7000215', // the client secret is wrong
  'AADSTS700027', // the client assertion's certificate is not registered, or its signature fails
  'AADSTS700024', // the client assertion is outside its validity
  'AADSTS700016', // no such application in the tenant
  'AADSTS7000112' // the application is disabled
])
// Entra throttling or passing trouble that comes with a 4xx status.
const TRANSIENT_CODES = new Set([
  'AADSTS50196', // client request loop: throttled
  'AADSTS90033' // a transient error
])
const SIGN_IN_ERRORS = new Set(['invalid_grant', 'interaction_required', 'login_required', 'consent_required'])
const NO_CONSENT = 'AADSTS65001' // the user or administrator has not consented
const INVALID_SCOPE = 'AADSTS70011' // a scope Entra does not know for this resource

export function upstreamFailure (err: EntraRefusal): UpstreamFailure {
  const code = err.aadsts ?? ''
  if (err.transient || err.error === 'temporarily_unavailable' || TRANSIENT_CODES.has(code)) return 'transient'
  if (CREDENTIAL_CODES.has(code) || err.error === 'invalid_client' || err.error === 'unauthorized_client') return 'credentials'
  if (SIGN_IN_ERRORS.has(err.error)) return 'sign_in_ended'
  return 'configuration'
}

// Conditional Access and continuous access evaluation: the policy wants more of the user now.
const CONDITIONAL_ACCESS_CODES = new Set([
  'AADSTS50076', // multi-factor authentication required (new location, policy change)
  'AADSTS50079', // the user must register for multi-factor authentication
  'AADSTS50158', // an external security challenge is not satisfied
  'AADSTS53000', // the device must be compliant
  'AADSTS53001', // the device must be domain joined
  'AADSTS53003', // access blocked by a Conditional Access policy
  'AADSTS70043', // the refresh token is past the sign-in frequency the policy allows
  'AADSTS50173', // the grant was revoked (password changed or reset): CAE
  'AADSTS50133' // the session ended because the password expired or changed
])

/**
 * Entra wants the user to sign in again under a Conditional Access policy: it sent a claims
 * challenge, or named a Conditional Access reason. Such a refusal always ends the sign-in.
 */
export function claimsChallenged (err: EntraRefusal & { claims?: unknown }): boolean {
  return err.claims !== undefined || CONDITIONAL_ACCESS_CODES.has(err.aadsts ?? '')
}

/** The user (or an administrator) has not consented to the scopes asked on their behalf. */
export function consentMissing (err: EntraRefusal): boolean {
  return err.aadsts === NO_CONSENT || err.error === 'consent_required'
}

/** A Graph token refused for want of consent, or for a Graph scope the app registration does not have. */
export function graphConsentMissing (err: EntraRefusal): boolean {
  return consentMissing(err) || err.error === 'invalid_scope' || err.aadsts === INVALID_SCOPE
}

/**
 * What the client is told when Entra refused or failed at sign-in: an error code the client knows
 * (RFC 6749 §4.1.2.1) and a readable description naming Entra's AADSTS code.
 */
export function clientErrorFor (error: string, description: string): { error: string, description: string } {
  const text = `Microsoft Entra ID: ${description}`
  switch (error) {
    case 'access_denied':
    case 'consent_required':
    case 'interaction_required':
    case 'login_required':
      return { error: 'access_denied', description: text }
    case 'temporarily_unavailable':
      return { error: 'temporarily_unavailable', description: text }
    default:
      return { error: 'server_error', description: `${text} (${error})` }
  }
}
