import { isDeepStrictEqual } from 'node:util'

// A stand-in for Entra's Conditional Access: a user can be made to "need MFA". From then on, their
// refresh and on-behalf-of requests are answered `interaction_required` (AADSTS50076) with a claims
// challenge, and the Graph stand-in answers 401 `insufficient_claims`, until the user signs in
// interactively through an authorize request whose `claims` parameter carries that challenge.

/** The authorize parameter that carries the `claims` JSON through oidc-provider to the sign-in page. */
export const CLAIMS_MARKER = 'x_entra_claims'
/** What a "needs MFA" user is asked for: the authentication context c1 (e.g. "require MFA"). */
export const MFA_CHALLENGE = Object.freeze({ access_token: { acrs: { essential: true, value: 'c1' } } })
export const MFA_REQUIRED = 'AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.'

type Challenge = Record<string, Record<string, unknown>>

export class ClaimsDemands {
  readonly #pending = new Map<string, Challenge>()

  /** From now on the user (oid) must satisfy `challenge` in an interactive sign-in. */
  demand (oid: string, challenge: Challenge = MFA_CHALLENGE): void {
    this.#pending.set(oid, challenge)
  }

  pending (oid: string | undefined): Challenge | undefined {
    return oid === undefined ? undefined : this.#pending.get(oid)
  }

  /**
   * An interactive sign-in of `oid` whose authorize request carried `claimsJson`: when every claim
   * demanded is in it with the same request, the demand is met. True when it was met now.
   */
  satisfy (oid: string, claimsJson: string | undefined): boolean {
    const demand = this.#pending.get(oid)
    if (demand === undefined || claimsJson === undefined) return false
    let asked: Challenge
    try { asked = JSON.parse(claimsJson) } catch { return false }
    const covered = Object.entries(demand).every(([token, claims]) =>
      Object.entries(claims).every(([name, request]) => isDeepStrictEqual(asked?.[token]?.[name], request)))
    if (covered) this.#pending.delete(oid)
    return covered
  }
}

/** Whether an authorize `claims` parameter asks for more than the client capabilities (xms_cc). */
export function asksForClaims (claimsJson: string | null): boolean {
  if (claimsJson === null) return false
  try {
    const claims = JSON.parse(claimsJson) as Record<string, Record<string, unknown> | undefined>
    return Object.entries(claims).some(([token, members]) => Object.keys(members ?? {}).some(name => !(token === 'access_token' && name === 'xms_cc')))
  } catch {
    return false
  }
}

/** Entra's answer to a token request of a user who must satisfy a challenge first. */
export function claimsChallengeAnswer (challenge: Challenge): Record<string, unknown> {
  return {
    error: 'interaction_required',
    error_description: MFA_REQUIRED,
    error_codes: [50076],
    suberror: 'basic_action',
    claims: JSON.stringify(challenge)
  }
}

/** Microsoft Graph's `WWW-Authenticate` for a token that does not satisfy the challenge (CAE). */
export function graphClaimsChallenge (challenge: Challenge): string {
  const claims = Buffer.from(JSON.stringify(challenge)).toString('base64')
  return `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${claims}"`
}
