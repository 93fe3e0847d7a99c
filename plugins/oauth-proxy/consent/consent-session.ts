import { randomBytes, timingSafeEqual } from 'node:crypto'
import { deriveKey } from '../grants/token-crypto.ts'
import { isLoopbackHost } from '../../shared/redirect-uris.ts'

// The consent page comes before the sign-in, so the user is not known yet: an approval is
// remembered per browser "consent session" (a random id in a signed cookie) and client id,
// with the approved scopes, in the store (`consent:{session}:{client_id}`) for CONSENT_TTL.

export const CONSENT_COOKIE = 'emg_consent'

/** `__Host-` prefix (Secure, Path=/, no Domain) when the service is served over https. */
export function consentCookieName (baseUrl: string): string {
  return baseUrl.startsWith('https://') ? `__Host-${CONSENT_COOKIE}` : CONSENT_COOKIE
}

export function consentCookieOptions (baseUrl: string, maxAgeSeconds: number) {
  return {
    path: '/',
    httpOnly: true,
    secure: baseUrl.startsWith('https://'),
    sameSite: 'lax' as const,
    signed: true,
    maxAge: maxAgeSeconds
  }
}

/**
 * The cookie signing secret must be the same on every instance: derive it from
 * TOKEN_ENCRYPTION_KEY, or make one for this process when no key is configured.
 */
export function cookieSecret (encryptionKey: Buffer | null): string {
  return (encryptionKey !== null ? deriveKey(encryptionKey, 'consent-cookie') : randomBytes(32)).toString('base64url')
}

export function newConsentSessionId (): string {
  return randomBytes(24).toString('base64url')
}

const SESSION_ID = /^[A-Za-z0-9_-]{32}$/
export function isConsentSessionId (value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value)
}

/**
 * Whether a remembered approval may skip the consent page (RFC 8252 §8.6). Only when the code can
 * reach nobody but the client: an https redirect URI (not loopback) of a client that proves who it
 * is at /token (a secret or a key) or that is named by its metadata document's https URL. A public
 * client registered by anyone, or a loopback or private-scheme redirect that any local app can
 * claim, is asked every time.
 */
export function consentMaySkip (client: { token_endpoint_auth_method: string, source: string }, redirectUri: string): boolean {
  const url = new URL(redirectUri)
  if (url.protocol !== 'https:' || isLoopbackHost(url.hostname)) return false
  return client.token_endpoint_auth_method !== 'none' || client.source === 'metadata_document'
}

/** True when every requested scope was approved before. */
export function scopesCovered (approved: readonly string[], requested: readonly string[]): boolean {
  const set = new Set(approved)
  return requested.every(s => set.has(s))
}

export function mergeScopes (a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])]
}

/** A CSRF token for one transaction. */
export function newCsrfToken (): string {
  return randomBytes(24).toString('base64url')
}

export function csrfMatches (expected: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(presented)
  return a.length === b.length && timingSafeEqual(a, b)
}

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  'tools.read': 'Use read-only tools (for example: who you are, token details)',
  'tools.write': 'Use tools that change something on your behalf',
  'graph.read': 'Read your Microsoft 365 profile through Microsoft Graph'
}

export function describeScope (scope: string): string {
  return SCOPE_DESCRIPTIONS[scope] ?? `Permission "${scope}"`
}
