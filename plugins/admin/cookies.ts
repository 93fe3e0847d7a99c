import { ADMIN_LOGIN_TTL } from './sessions.ts'

// The admin area's two cookies. Over https both carry the `__Host-` prefix (Secure, Path=/, no
// Domain: no other host or path can set or read them); over local http a plain name.
// SameSite=Lax, not Strict: the sign-in ends with a cross-site redirect from Entra, and the
// session cookie must reach /admin on the redirect that follows it. POSTs need the CSRF token anyway.

const secure = (baseUrl: string) => baseUrl.startsWith('https://')
const named = (baseUrl: string, name: string) => secure(baseUrl) ? `__Host-${name}` : name

/** The administrator's session id (opaque; the store holds its hash). A session cookie: no Max-Age. */
export function sessionCookieName (baseUrl: string): string {
  return named(baseUrl, 'emg_admin')
}

/** The browser secret of a sign-in under way: /auth/callback finishes only in the browser that has it. */
export function loginCookieName (baseUrl: string): string {
  return named(baseUrl, 'emg_admin_login')
}

export function sessionCookieOptions (baseUrl: string) {
  return { path: '/', httpOnly: true, secure: secure(baseUrl), sameSite: 'lax' as const }
}

export function loginCookieOptions (baseUrl: string) {
  return { ...sessionCookieOptions(baseUrl), maxAge: ADMIN_LOGIN_TTL }
}
