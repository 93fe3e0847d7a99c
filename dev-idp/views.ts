import type { DevUser } from './users.ts'
import { escapeHtml } from '../plugins/shared/html.ts'

// Server-rendered pages of the development identity provider: no scripts, inline styles only,
// plain forms that a script can submit without a browser.

/** The Content-Security-Policy set on every response of the development identity provider. */
export const DEV_IDP_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f3f2f1;margin:0;padding:40px 16px;color:#1b1b1b}
main{max-width:440px;margin:0 auto;background:#fff;padding:32px 40px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:1.5rem;font-weight:600;margin:0 0 8px}p{margin:0 0 16px}
.warn{background:#fff4ce;border-left:4px solid #c19c00;padding:8px 12px;font-size:.9rem}
.user{display:block;width:100%;text-align:left;padding:12px;margin:0 0 8px;border:1px solid #8a8886;background:#fff;font-size:1rem;cursor:pointer}
.user:hover{background:#f3f2f1}.user small{display:block;color:#605e5c}
.cancel{margin-top:12px;padding:8px 20px;border:1px solid #8a8886;background:#fff;cursor:pointer}
.meta{font-size:.8rem;color:#605e5c;word-break:break-all}`

function page (title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`
}

export interface SignInPageInput {
  /** Where the form posts (absolute path). */
  action: string
  users: readonly DevUser[]
  clientId: string
  tenantId: string
  scopes: string[]
  loginHint?: string
}

/**
 * The sign-in page: one submit button per user (`name="user"`, value = the user's oid) and a
 * cancel button (`name="action" value="cancel"`) that answers `access_denied` like Entra.
 */
export function signInPage (input: SignInPageInput): string {
  const hint = input.loginHint?.toLowerCase()
  const buttons = input.users.map(u => {
    const hinted = hint !== undefined && (u.preferredUsername.toLowerCase() === hint || u.email.toLowerCase() === hint)
    return `<button class="user" type="submit" name="user" value="${escapeHtml(u.oid)}" data-user="${escapeHtml(u.preferredUsername)}"${hinted ? ' autofocus' : ''}>Sign in as ${escapeHtml(u.name)}<small>${escapeHtml(u.preferredUsername)}</small></button>`
  }).join('\n')
  return page('Sign in - development identity provider', `<h1>Pick an account</h1>
<p class="warn">Development identity provider: test users only, no password. Never use this in production.</p>
<form method="post" action="${escapeHtml(input.action)}">
${buttons}
<button class="cancel" type="submit" name="action" value="cancel">Cancel</button>
</form>
<p class="meta">Tenant ${escapeHtml(input.tenantId)} &middot; application ${escapeHtml(input.clientId)}<br>Scopes: ${escapeHtml(input.scopes.join(' '))}</p>`)
}

export function errorPage (error: string, description: string): string {
  return page('Sign-in error', `<h1>Sorry, but we are having trouble signing you in.</h1>
<p><strong>${escapeHtml(error)}</strong></p>
<p>${escapeHtml(description)}</p>`)
}

export function logoutPage (form: string, host: string): string {
  return page('Sign out', `<h1>Sign out from ${escapeHtml(host)}?</h1>
${form}
<button class="user" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="cancel" type="submit" form="op.logoutForm">No, stay signed in</button>`)
}

export function loggedOutPage (): string {
  return page('Signed out', '<h1>You signed out of your account</h1><p>It is a good idea to close all browser windows.</p>')
}
