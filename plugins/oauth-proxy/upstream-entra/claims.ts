// Conditional Access and continuous access evaluation (CAE): the `claims` request parameter.
// The service declares the CP1 client capability on every upstream request, so Entra answers a
// revocation or a policy change with a claims challenge instead of letting long-lived tokens run on;
// a challenge Entra (or Microsoft Graph) sent is passed back at the next sign-in, merged with CP1,
// so the user is asked for exactly what the policy requires. Pure; no project imports.

/** The client capability that tells Entra this service can handle claims challenges. */
export const CLIENT_CAPABILITIES = ['CP1'] as const
/** A challenge larger than this is not a claims request but noise: it is not passed on. */
const MAX_CHALLENGE_BYTES = 4096

/** An OpenID Connect claims request: `{ "access_token": { "<claim>": { "essential": true, … } } }`. */
export type ClaimsRequest = Record<string, Record<string, unknown>>

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/**
 * A claims challenge as Entra sends it in a token error (`claims`: JSON) or Graph in
 * `WWW-Authenticate` (`claims`: base64 of the JSON). Undefined when it is not a JSON object of
 * objects (e.g. `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`) or too large.
 */
export function parseClaimsChallenge (text: string | undefined): ClaimsRequest | undefined {
  if (text === undefined || text === '' || Buffer.byteLength(text) > MAX_CHALLENGE_BYTES) return undefined
  for (const candidate of [text, Buffer.from(text, 'base64').toString('utf8')]) {
    try {
      const value: unknown = JSON.parse(candidate)
      if (isObject(value) && Object.values(value).every(isObject)) return value as ClaimsRequest
    } catch {}
  }
  return undefined
}

/** The `claims` parameter for Entra: CP1 in `access_token.xms_cc`, merged with a challenge if any. */
export function claimsParameter (challenge?: ClaimsRequest): string {
  const merged: ClaimsRequest = {}
  for (const [token, claims] of Object.entries(challenge ?? {})) merged[token] = { ...claims }
  const access = merged.access_token ?? {}
  const declared = isObject(access.xms_cc) && Array.isArray(access.xms_cc.values) ? access.xms_cc.values.filter(v => typeof v === 'string') : []
  access.xms_cc = { values: [...new Set([...declared, ...CLIENT_CAPABILITIES])] }
  merged.access_token = access
  return JSON.stringify(merged)
}

/**
 * The claims challenge in a Microsoft Graph `WWW-Authenticate` answer:
 * `Bearer … error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7…"`.
 */
export function graphClaimsChallenge (wwwAuthenticate: string | null | undefined): ClaimsRequest | undefined {
  if (wwwAuthenticate == null || !/\berror\s*=\s*"?insufficient_claims"?/i.test(wwwAuthenticate)) return undefined
  const claims = /\bclaims\s*=\s*"([^"]*)"/i.exec(wwwAuthenticate)?.[1]
  return parseClaimsChallenge(claims)
}
