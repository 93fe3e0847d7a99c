import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { TRANSACTION_TTL } from './transactions.ts'

// Every browser step of a sign-in (the consent POST, the callback from Entra) must come from the
// browser that opened /authorize. /authorize gives that browser a random secret in a cookie and
// keeps only its hash in the transaction; a form or a link carried to another browser lacks it.
// One secret per browser (reused while it lives) so that two sign-ins in two tabs both work.

export const BINDING_COOKIE = 'emg_browser'

/** `__Host-` prefix (Secure, Path=/, no Domain) when the service is served over https. */
export function bindingCookieName (baseUrl: string): string {
  return baseUrl.startsWith('https://') ? `__Host-${BINDING_COOKIE}` : BINDING_COOKIE
}

/** Lives as long as a transaction: a sign-in left open longer has expired anyway. */
export function bindingCookieOptions (baseUrl: string) {
  return { path: '/', httpOnly: true, secure: baseUrl.startsWith('https://'), sameSite: 'lax' as const, maxAge: TRANSACTION_TTL }
}

const SECRET = /^[A-Za-z0-9_-]{43}$/

/** The browser's secret from its cookie when it is one of ours, else a new one. */
export function browserSecret (presented: unknown): string {
  return typeof presented === 'string' && SECRET.test(presented) ? presented : randomBytes(32).toString('base64url')
}

export function bindingHash (secret: string): string {
  return createHash('sha256').update(secret).digest('base64url')
}

/** True when `presented` (the cookie) is the secret whose hash the transaction holds. */
export function bindingMatches (expectedHash: string | undefined, presented: unknown): boolean {
  if (expectedHash === undefined || typeof presented !== 'string' || !SECRET.test(presented)) return false
  const a = Buffer.from(bindingHash(presented))
  const b = Buffer.from(expectedHash)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Why a form POST is not from the service's own page, or undefined when nothing says so.
 * Browsers send Sec-Fetch-Site (the relation to the page that posted) and Origin; a request
 * with neither (an old browser, a script) still needs the binding cookie, which is the rule that
 * stops the attack on its own: these headers only make the refusal earlier and clearer.
 */
export function crossSiteReason (headers: IncomingHttpHeaders, serviceOrigin: string): string | undefined {
  const site = headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin') return `Sec-Fetch-Site: ${String(site)}`
  const origin = headers.origin
  if (origin !== undefined && origin !== serviceOrigin) return `Origin: ${origin.slice(0, 200)}`
  return undefined
}
