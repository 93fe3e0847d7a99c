// The public keys of a private_key_jwt client (RFC 7523, RFC 7517): which key sets and keys are
// accepted, and which key verifies an assertion. Pure functions: no Fastify, no I/O.
import { createPublicKey } from 'node:crypto'
import { hasControlOrSpace } from '../../shared/redirect-uris.ts'

/** Signature algorithms accepted for client assertions: never `none` or a shared-secret HS*. */
export const ASSERTION_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const
export type AssertionAlgorithm = typeof ASSERTION_ALGORITHMS[number]

/** A public signing key, reduced to the members that matter. */
export interface ClientJwk {
  kty: 'RSA' | 'EC'
  kid?: string
  alg?: AssertionAlgorithm
  use?: 'sig'
  n?: string
  e?: string
  crv?: 'P-256'
  x?: string
  y?: string
}

export interface ClientJwks { keys: ClientJwk[] }

export const JWKS_LIMITS = { keys: 20, kid: 256, uri: 2000, minRsaBits: 2048 } as const

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** Null when `value` may be a client's jwks_uri (https, absolute, no user information or fragment). */
export function jwksUriProblem (value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) return 'jwks_uri must be a non-empty string'
  if (value.length > JWKS_LIMITS.uri) return `jwks_uri must be at most ${JWKS_LIMITS.uri} characters`
  if (hasControlOrSpace(value) || !URL.canParse(value)) return 'jwks_uri must be an absolute URL'
  const url = new URL(value)
  if (url.protocol !== 'https:') return 'jwks_uri must use https'
  if (url.username !== '' || url.password !== '') return 'jwks_uri must not contain user information'
  if (value.includes('#')) return 'jwks_uri must not contain a fragment'
  return null
}

/** One JWK as a usable verification key, or null when it is not one (other type, curve, use or algorithm). */
function usableKey (value: unknown): ClientJwk | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const jwk = value as Record<string, unknown>
  if (jwk.use !== undefined && jwk.use !== 'sig') return null
  if (jwk.alg !== undefined && !(ASSERTION_ALGORITHMS as readonly unknown[]).includes(jwk.alg)) return null
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > JWKS_LIMITS.kid)) return null
  const common = {
    ...(jwk.kid !== undefined ? { kid: jwk.kid as string } : {}),
    ...(jwk.alg !== undefined ? { alg: jwk.alg as AssertionAlgorithm } : {}),
    ...(jwk.use !== undefined ? { use: 'sig' as const } : {})
  }
  let key: ClientJwk
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') {
    if (jwk.alg === 'ES256') return null
    key = { kty: 'RSA', ...common, n: jwk.n, e: jwk.e }
  } else if (jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    if (jwk.alg !== undefined && jwk.alg !== 'ES256') return null
    key = { kty: 'EC', ...common, crv: 'P-256', x: jwk.x, y: jwk.y }
  } else {
    return null
  }
  try {
    const details = createPublicKey({ key: { ...key }, format: 'jwk' }).asymmetricKeyDetails
    if (key.kty === 'RSA' && (details?.modulusLength ?? 0) < JWKS_LIMITS.minRsaBits) return null
  } catch {
    return null
  }
  return key
}

/**
 * A client's key set, from a metadata document's `jwks` or from its `jwks_uri`: the usable public
 * signing keys (RSA of 2048 bits or more, EC P-256), or the reason the set is refused. Keys of other
 * types, for encryption or for other algorithms are left out; a set holding private key material is
 * refused whole (whoever published it has lost the key).
 */
export function parseClientJwks (value: unknown): ClientJwks | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'the JWKS must be a JSON object'
  const list = (value as { keys?: unknown }).keys
  if (!Array.isArray(list)) return 'the JWKS must have a "keys" array'
  if (list.length > JWKS_LIMITS.keys) return `the JWKS may hold at most ${JWKS_LIMITS.keys} keys`
  if (list.some(k => k !== null && typeof k === 'object' && PRIVATE_MEMBERS.some(m => m in k))) {
    return 'the JWKS contains private or symmetric key material'
  }
  const keys = list.map(usableKey).filter((k): k is ClientJwk => k !== null)
  if (keys.length === 0) return `the JWKS holds no usable signing key (${ASSERTION_ALGORITHMS.join(', ')}; RSA keys of ${JWKS_LIMITS.minRsaBits} bits or more, EC keys on P-256)`
  return { keys }
}

function fits (key: ClientJwk, alg: AssertionAlgorithm): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false
  return alg === 'ES256' ? key.kty === 'EC' : key.kty === 'RSA'
}

export type KeyChoice = { key: ClientJwk } | { key: null, unknownKid: boolean, reason: string }

/**
 * The key that verifies an assertion with this header: the key named by `kid`, of a type that fits
 * `alg`. Without a kid, the one key of the set that fits (several: refused, the client must say which).
 */
export function chooseKey (jwks: ClientJwks, header: { alg: AssertionAlgorithm, kid?: string }): KeyChoice {
  if (header.kid !== undefined) {
    const named = jwks.keys.filter(k => k.kid === header.kid)
    if (named.length === 0) return { key: null, unknownKid: true, reason: 'no key with this kid in the client\'s JWKS' }
    const key = named.find(k => fits(k, header.alg))
    return key === undefined ? { key: null, unknownKid: false, reason: `the key with this kid is not for ${header.alg}` } : { key }
  }
  const fitting = jwks.keys.filter(k => fits(k, header.alg))
  if (fitting.length === 1) return { key: fitting[0] }
  return fitting.length === 0
    ? { key: null, unknownKid: true, reason: `no ${header.alg} key in the client's JWKS` }
    : { key: null, unknownKid: false, reason: 'the assertion has no kid and the client\'s JWKS has several keys for its algorithm' }
}

/** SPKI PEM of a public JWK (what fast-jwt's verifier takes). */
export function publicKeyPem (key: ClientJwk): string {
  return createPublicKey({ key: { ...key }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
}
