import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// RFC 7636: verifier = 43-128 characters of [A-Z a-z 0-9 - . _ ~]; S256 challenge = base64url(sha256(verifier)).
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
const S256_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/

/** A fresh high-entropy verifier (32 random bytes, 43 characters). */
export function createCodeVerifier (): string {
  return randomBytes(32).toString('base64url')
}

export function isValidCodeVerifier (verifier: unknown): verifier is string {
  return typeof verifier === 'string' && VERIFIER.test(verifier)
}

/** A challenge this service accepts: only S256, which always has 43 base64url characters. */
export function isValidS256Challenge (challenge: unknown): challenge is string {
  return typeof challenge === 'string' && S256_CHALLENGE.test(challenge)
}

export function s256Challenge (verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url')
}

/** True when `verifier` is well formed and hashes to `challenge` (constant-time comparison). */
export function verifyS256 (verifier: unknown, challenge: string): boolean {
  if (!isValidCodeVerifier(verifier) || !isValidS256Challenge(challenge)) return false
  const computed = Buffer.from(s256Challenge(verifier))
  const expected = Buffer.from(challenge)
  return computed.length === expected.length && timingSafeEqual(computed, expected)
}
