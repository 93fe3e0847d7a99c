// Verification of the client assertions that private_key_jwt clients present at /token and /revoke
// (RFC 7523 §2.2 and §3; OAuth 2.1 §2.4). Not to be confused with plugins/oauth-proxy/upstream-entra/client-assertion.ts, which
// makes this service's own assertion for Entra. Pure apart from the key lookup the caller passes in.
import { reasonedError } from '../../shared/reasoned-error.ts'
import { createDecoder, createVerifier, TOKEN_ERROR_CODES } from 'fast-jwt'
import { ASSERTION_ALGORITHMS, publicKeyPem, type AssertionAlgorithm, type ClientJwk } from './client-jwks.ts'

export { CLIENT_ASSERTION_TYPE } from '../upstream-entra/client-assertion.ts'

/** An assertion may be valid for at most this long from now (and from its iat). */
export const MAX_ASSERTION_LIFETIME = 600
const MAX_ASSERTION_LENGTH = 8192
const MAX_JTI_LENGTH = 256

export type AssertionFailure = 'malformed' | 'algorithm' | 'key' | 'signature' | 'claims' | 'expired' | 'lifetime' | 'replayed'

/**
 * Why an assertion is refused; the message is fit for `error_description` and logs (it never quotes
 * the assertion). Internal: private-key-jwt answers it as 401 invalid_client.
 */
export class ClientAssertionError extends reasonedError<AssertionFailure>('FST_ERR_CLIENT_ASSERTION', 'ClientAssertionError') {}

export interface AssertionHeader { alg: AssertionAlgorithm, kid?: string }

export interface VerifyAssertionOptions {
  /** The client the assertion must be about: iss = sub = client_id. */
  clientId: string
  /** Accepted `aud` values: the token endpoint URL and the issuer. */
  audiences: string[]
  /** The client's key for this header; throws a ClientAssertionError when there is none. */
  keyFor: (header: AssertionHeader) => Promise<ClientJwk>
  clockToleranceSeconds: number
  now?: () => number
}

const decodeComplete = createDecoder({ complete: true })

/**
 * The `sub` the assertion names, read without verification: which client it claims to be
 * (RFC 7523 §3 lets the client leave client_id out). Null when it is not a readable JWT.
 */
export function assertedClientId (assertion: string): string | null {
  if (assertion.length > MAX_ASSERTION_LENGTH) return null
  try {
    const { payload } = decodeComplete(assertion) as { payload: Record<string, unknown> }
    return typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : null
  } catch {
    return null
  }
}

const CLAIM_ERRORS: Record<string, AssertionFailure> = {
  [TOKEN_ERROR_CODES.invalidSignature]: 'signature',
  [TOKEN_ERROR_CODES.expired]: 'expired',
  [TOKEN_ERROR_CODES.inactive]: 'claims',
  [TOKEN_ERROR_CODES.invalidClaimValue]: 'claims',
  [TOKEN_ERROR_CODES.invalidClaimType]: 'claims',
  [TOKEN_ERROR_CODES.missingRequiredClaim]: 'claims',
  [TOKEN_ERROR_CODES.invalidAlgorithm]: 'algorithm'
}

/**
 * Checks a client assertion and returns its `jti` and `exp` (for the caller's single-use record):
 * a JWT signed RS256, PS256 or ES256 with one of the client's keys; `iss` and `sub` equal to the
 * client id; `aud` naming one of `audiences`; `exp` present, not passed, and at most
 * MAX_ASSERTION_LIFETIME seconds ahead (of now and of `iat`); `nbf`/`iat` not in the future;
 * a `jti`. Throws ClientAssertionError otherwise.
 */
export async function verifyClientAssertion (assertion: string, opts: VerifyAssertionOptions): Promise<{ jti: string, exp: number }> {
  const nowMs = (opts.now ?? Date.now)()
  const now = Math.floor(nowMs / 1000)
  const tolerance = opts.clockToleranceSeconds
  if (assertion.length > MAX_ASSERTION_LENGTH) throw new ClientAssertionError('malformed', 'client_assertion is too long')
  let header: Record<string, unknown>
  try {
    header = (decodeComplete(assertion) as { header: Record<string, unknown> }).header
  } catch {
    throw new ClientAssertionError('malformed', 'client_assertion is not a JWT')
  }
  const alg = header.alg
  if (typeof alg !== 'string' || !(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new ClientAssertionError('algorithm', `client_assertion algorithm ${typeof alg === 'string' ? JSON.stringify(alg.slice(0, 20)) : '(none)'} is not accepted; use ${ASSERTION_ALGORITHMS.join(', ')}`)
  }
  if (header.crit !== undefined) throw new ClientAssertionError('malformed', 'client_assertion header extensions (crit) are not supported')
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid === '')) throw new ClientAssertionError('malformed', 'client_assertion kid must be a string')

  const key = await opts.keyFor({ alg: alg as AssertionAlgorithm, ...(header.kid !== undefined ? { kid: header.kid as string } : {}) })
  const verify = createVerifier({
    key: publicKeyPem(key),
    algorithms: [alg as AssertionAlgorithm],
    allowedIss: opts.clientId,
    allowedSub: opts.clientId,
    allowedAud: opts.audiences,
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
    clockTolerance: tolerance * 1000,
    clockTimestamp: nowMs
  })
  let payload: Record<string, unknown>
  try {
    payload = verify(assertion) as Record<string, unknown>
  } catch (err) {
    const code = (err as { code?: string }).code ?? ''
    const reason = CLAIM_ERRORS[code] ?? 'malformed'
    throw new ClientAssertionError(reason, `client_assertion refused: ${(err as Error).message}`)
  }

  const { exp, iat, jti } = payload
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new ClientAssertionError('claims', 'client_assertion exp must be a number')
  if (exp > now + MAX_ASSERTION_LIFETIME + tolerance) {
    throw new ClientAssertionError('lifetime', `client_assertion exp is more than ${MAX_ASSERTION_LIFETIME} seconds ahead`)
  }
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new ClientAssertionError('claims', 'client_assertion iat must be a number')
    if (iat > now + tolerance) throw new ClientAssertionError('claims', 'client_assertion iat is in the future')
    if (exp - iat > MAX_ASSERTION_LIFETIME) throw new ClientAssertionError('lifetime', `client_assertion is valid for more than ${MAX_ASSERTION_LIFETIME} seconds`)
  }
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    throw new ClientAssertionError('claims', `client_assertion jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`)
  }
  return { jti, exp }
}
