import type { FastifyReply } from 'fastify'
import { describeScope } from '../../plugins/oauth-proxy/consent/consent-session.ts'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { isLoopbackHost } from '../../plugins/shared/redirect-uris.ts'

// Server-rendered pages of the authorize flow: the consent page and the error page shown when an
// error cannot be sent to a verified redirect URI. No scripts; inline styles only.

/**
 * Its own CSP: nothing loads but inline styles; no framing (clickjacking); no <base>.
 * Deliberately no `form-action`: Chrome applies it to every redirect after the form POST
 * (consent -> Entra -> callback -> the client's redirect URI), which would block the sign-in.
 */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1b1f24;margin:0}
main{max-width:34rem;margin:3rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin-top:0}h2{font-size:1.05rem;margin:1.6rem 0 .5rem}code{background:#eef0f3;padding:.1rem .3rem;border-radius:4px;word-break:break-all}
ul{padding-left:1.2rem}li{margin:.4rem 0}.warn{background:#fff4ce;border-left:4px solid #c9a400;padding:.6rem .8rem}
.buttons{display:flex;gap:.8rem;margin-top:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #8a8f98;background:#fff;cursor:pointer}
button.primary{background:#0f6cbd;color:#fff;border-color:#0f6cbd}.muted{color:#5b616b;font-size:.9rem}
`

/** A page of this service: the shared style, no scripts, nothing loaded from elsewhere. */
export function layout (title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`
}

export interface ConsentPageInput {
  transactionId: string
  csrfToken: string
  clientId: string
  clientName?: string
  /** Where the client receives the result. */
  redirectUri: string
  /** Set when the client identifies itself with a client ID metadata document (its URL is the client id). */
  metadataDocument: boolean
  scopes: readonly string[]
  /** How long an approval skips this page next time; 0: asked every time. */
  rememberedForSeconds: number
  serviceName: string
  /** Path the form posts to. */
  action: string
  /** The token asked for is for the admin API (RFC 8707 resource), not for MCP tools. */
  adminApi?: boolean
}

export function renderConsentPage (input: ConsentPageInput): string {
  const redirect = new URL(input.redirectUri)
  const loopback = redirect.protocol === 'http:' && isLoopbackHost(redirect.hostname)
  // A private-use scheme (RFC 8252 §7.1, e.g. cursor://): whichever app claims it on this computer gets the answer.
  const appScheme = redirect.protocol !== 'http:' && redirect.protocol !== 'https:'
  const target = appScheme ? `${redirect.protocol}//${redirect.host}` : redirect.host
  const name = input.clientName !== undefined && input.clientName !== '' ? input.clientName : input.clientId
  const scopes = scopeItems(input.scopes)
  const warning = loopback
    ? `<p class="warn" id="loopback-warning">This application receives the answer on <strong>this computer</strong> (<code>${escapeHtml(redirect.host)}</code>, plain http). Approve only if you started it yourself just now.</p>`
    : appScheme
      ? `<p class="warn" id="app-scheme-warning">This application receives the answer through the app that handles <code>${escapeHtml(redirect.protocol)}</code> links on <strong>this computer</strong>. Approve only if you started it yourself just now.</p>`
      : ''
  const body = `
<h1>Allow <span id="client-name">${escapeHtml(name)}</span> to use ${escapeHtml(input.serviceName)}?</h1>
<p>The application <strong>${escapeHtml(name)}</strong> asks to act on your behalf.</p>
<p class="muted">Client ID${input.metadataDocument ? ' (metadata document)' : ''}: <code id="client-id">${escapeHtml(input.clientId)}</code><br>
It will receive the result at <code id="redirect-host">${escapeHtml(target)}</code>.</p>
${warning}${input.adminApi === true ? ADMIN_API_WARNING : ''}
<p>It asks for:</p>
<ul id="scopes">${scopes}</ul>
<p class="muted">After you approve, you sign in with your organisation account (Microsoft Entra ID). If you did not start this, choose Deny.</p>
<p class="muted" id="remembered">${escapeHtml(input.adminApi === true ? 'You are asked every time an application asks for the admin API.' : rememberedText(input.rememberedForSeconds))}</p>
${decisionForm(input)}`
  return layout(`Allow ${name}?`, body)
}

const ADMIN_API_WARNING = '<p class="warn" id="admin-api-warning">It asks for access to this gateway\'s <strong>admin API</strong>: if your account holds the administrator role, it can list and revoke everyone\'s sign-ins and registered applications. Approve only a script or tool you run yourself.</p>'

/** The requested scopes as list items: what each allows, and its name. */
export function scopeItems (scopes: readonly string[]): string {
  return scopes.map(s => `<li><strong>${escapeHtml(describeScope(s))}</strong> <span class="muted">(<code>${escapeHtml(s)}</code>)</span></li>`).join('')
}

/** The Approve / Deny form of a transaction (posted to `action` with its CSRF token). */
export function decisionForm (input: { action: string, transactionId: string, csrfToken: string }): string {
  return `<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="transaction" value="${escapeHtml(input.transactionId)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(input.csrfToken)}">
<div class="buttons">
<button type="submit" name="decision" value="approve" class="primary" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</div>
</form>`
}

function rememberedText (seconds: number): string {
  if (seconds <= 0) return 'This application cannot prove its identity to this service, so you are asked every time it signs in.'
  const days = Math.floor(seconds / 86400)
  const hours = Math.floor(seconds / 3600)
  const span = days >= 1 ? `${days} day${days === 1 ? '' : 's'}` : hours >= 1 ? `${hours} hour${hours === 1 ? '' : 's'}` : `${Math.max(1, Math.floor(seconds / 60))} minutes`
  return `Your approval is remembered in this browser for ${span} for these permissions of this application.`
}

export function renderErrorPage (error: string, description: string): string {
  return layout('Sign-in problem', `
<h1>This sign-in cannot continue</h1>
<p id="error-description">${escapeHtml(description)}</p>
<p class="muted">Error code: <code id="error-code">${escapeHtml(error)}</code>. Start again from the application you were signing in to.</p>`)
}

/**
 * An error for a client this browser has not approved yet: shown here, with the client's host
 * named, and a link the user may follow, instead of an automatic redirect to a URI anyone could
 * have registered.
 */
export function renderReturnPage (error: string, description: string, location: string): string {
  const url = new URL(location)
  const target = url.protocol === 'http:' || url.protocol === 'https:' ? url.host : `${url.protocol}//${url.host}`
  return layout('Sign-in problem', `
<h1>This sign-in cannot continue</h1>
<p id="error-description">${escapeHtml(description)}</p>
<p class="muted">Error code: <code id="error-code">${escapeHtml(error)}</code>.</p>
<p>The application asked for the answer to be sent to <code id="redirect-host">${escapeHtml(target)}</code>. Go back there only if you trust it:</p>
<p><a id="return-link" href="${escapeHtml(location)}">Return to ${escapeHtml(target)}</a></p>`)
}

/** Headers of every page of the flow: own CSP, no caching, no referrer across origins, no framing. */
export function pageHeaders (reply: FastifyReply): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the consent
    // POST, and the service could not tell its own form from a forged one.
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY')
}

export function sendErrorPage (reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return pageHeaders(reply).code(status).send(renderErrorPage(error, description))
}

export function sendReturnPage (reply: FastifyReply, status: number, error: string, description: string, location: string): FastifyReply {
  return pageHeaders(reply).code(status).send(renderReturnPage(error, description, location))
}
