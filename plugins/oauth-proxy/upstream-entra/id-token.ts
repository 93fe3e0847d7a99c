import { createVerifier, createDecoder } from 'fast-jwt'
import { IdTokenError } from './errors.ts'

/** Claims of a verified Entra id token this service keeps. */
export interface EntraIdClaims {
  sub: string
  oid?: string
  tid: string
  name?: string
  preferred_username?: string
  email?: string
  /** App roles assigned to the user for this app (Entra emits `roles` only for assigned roles). */
  roles?: string[]
}

export interface IdTokenVerifierOptions {
  clientId: string
  /** Tenants whose users may sign in (lower case). */
  allowedTenants: readonly string[]
  issuerFor (tid: string): string
  /** Entra's signing key (PEM) for a tenant and kid, or undefined when Entra has no such key. */
  signingKey (tid: string, kid: string): Promise<string | undefined>
  clockToleranceSeconds: number
}

/** Verifies an Entra id token: signature via Entra's JWKS, iss for its tenant, aud = client id, nonce, allowed tid. */
export function createIdTokenVerifier (opts: IdTokenVerifierOptions): (idToken: string, nonce: string) => Promise<EntraIdClaims> {
  const decode = createDecoder({ complete: true })
  const clockTolerance = opts.clockToleranceSeconds * 1000

  return async function verifyIdToken (idToken, nonce) {
    let decoded: { header: { kid?: string, alg?: string }, payload: Record<string, unknown> }
    try {
      decoded = decode(idToken)
    } catch {
      throw new IdTokenError('malformed', 'The id token from Microsoft Entra ID is malformed')
    }
    const tid = decoded.payload.tid
    if (typeof tid !== 'string' || !opts.allowedTenants.includes(tid.toLowerCase())) {
      throw new IdTokenError('tenant_not_allowed', 'Users of this organisation (tenant) may not sign in to this service')
    }
    const kid = decoded.header.kid
    if (typeof kid !== 'string') throw new IdTokenError('unknown_key', 'The id token names no signing key')
    const pem = await opts.signingKey(tid, kid)
    if (pem === undefined) throw new IdTokenError('unknown_key', 'The id token was not signed by a key of Microsoft Entra ID')
    const verifier = createVerifier({
      key: pem,
      algorithms: ['RS256'],
      allowedIss: opts.issuerFor(tid),
      allowedAud: opts.clientId,
      allowedNonce: nonce,
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'nonce', 'tid'],
      clockTolerance
    })
    let claims: Record<string, unknown>
    try {
      claims = verifier(idToken)
    } catch (err) {
      throw new IdTokenError('invalid', `The id token from Microsoft Entra ID failed verification (${(err as { code?: string }).code ?? 'invalid'})`)
    }
    return claimsOf(claims)
  }
}

function claimsOf (claims: Record<string, unknown>): EntraIdClaims {
  const str = (name: string) => typeof claims[name] === 'string' ? claims[name] as string : undefined
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : []
  return {
    sub: claims.sub as string,
    oid: str('oid'),
    tid: (claims.tid as string).toLowerCase(),
    name: str('name'),
    preferred_username: str('preferred_username'),
    email: str('email'),
    ...(roles.length > 0 ? { roles } : {})
  }
}
