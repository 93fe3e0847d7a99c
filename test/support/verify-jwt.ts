import { createPublicKey, verify, type webcrypto } from 'node:crypto'

type JsonWebKey = webcrypto.JsonWebKey & { kid?: string }

// A small RS256 JWT verifier for these tests (node:crypto only), so they check signatures
// against the JWKS the provider publishes without depending on the code under test.

export interface Verified { header: Record<string, unknown>, payload: Record<string, unknown> }

export function decodeJwt (token: string): Verified {
  const [header, payload] = token.split('.').slice(0, 2).map(p => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')))
  return { header, payload }
}

export function verifyJwt (token: string, jwks: { keys: JsonWebKey[] }, expected: { issuer: string, audience: string, now?: number }): Verified {
  const parts = token.split('.')
  if (parts.length !== 3) throw new Error('not a compact JWS')
  const { header, payload } = decodeJwt(token)
  if (header.alg !== 'RS256') throw new Error(`unexpected alg ${String(header.alg)}`)
  const jwk = jwks.keys.find(k => k.kid === header.kid)
  if (jwk === undefined) throw new Error(`no key ${String(header.kid)} in the JWKS`)
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(parts[2], 'base64url'))
  if (!ok) throw new Error('bad signature')
  if (payload.iss !== expected.issuer) throw new Error(`iss ${String(payload.iss)} is not ${expected.issuer}`)
  if (payload.aud !== expected.audience) throw new Error(`aud ${String(payload.aud)} is not ${expected.audience}`)
  const now = expected.now ?? Math.floor(Date.now() / 1000)
  if (typeof payload.exp !== 'number' || payload.exp <= now) throw new Error('expired')
  return { header, payload }
}
