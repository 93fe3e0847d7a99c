import { escapeHtml } from '../../plugins/shared/html.ts'
import { decisionForm, layout, scopeItems } from './consent-page.ts'

// The pages of the device grant's browser side (RFC 8628 §3.3): enter the code, the consent page
// with where the request came from, and the end. The consent page's look, CSP and headers
// (consent-page.ts pageHeaders); no scripts.

export interface DeviceEntryInput {
  action: string
  formToken: string
  /** verification_uri_complete's code, shown for the person to check and confirm, never acted on alone. */
  userCode?: string
  /** Why the last code was not accepted. */
  problem?: string
}

export function renderDeviceEntryPage (input: DeviceEntryInput): string {
  const problem = input.problem !== undefined ? `<p class="warn" id="device-problem">${escapeHtml(input.problem)}</p>` : ''
  return layout('Sign in a device', `
<h1>Sign in an application on another device</h1>
<p>Enter the code that the application shows you (for example in a terminal). It looks like <code>WDJB-MJHT</code>.</p>
${problem}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf_token" value="${escapeHtml(input.formToken)}">
<p><label for="user-code">Code</label><br>
<input id="user-code" name="user_code" value="${escapeHtml(input.userCode ?? '')}" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="20" size="12" style="font-size:1.4rem;letter-spacing:.15rem;padding:.4rem;text-transform:uppercase"></p>
<div class="buttons"><button type="submit" class="primary" id="continue">Continue</button></div>
</form>
<p class="muted">Only enter a code that you got yourself, from an application you started just now. Never enter a code someone sent you.</p>`)
}

export interface DeviceConsentInput {
  transactionId: string
  csrfToken: string
  clientId: string
  clientName?: string
  scopes: readonly string[]
  /** When the application asked (epoch seconds), and from which address. */
  requestedAt: number
  requestIp: string
  serviceName: string
  action: string
}

/** Minutes ago, in words: "just now", "3 minutes ago". */
function ago (seconds: number): string {
  const minutes = Math.floor(Math.max(0, seconds) / 60)
  if (minutes < 1) return 'just now'
  return `${minutes} minute${minutes === 1 ? '' : 's'} ago`
}

export function renderDeviceConsentPage (input: DeviceConsentInput, nowSeconds: number): string {
  const name = input.clientName !== undefined && input.clientName !== '' ? input.clientName : input.clientId
  const when = new Date(input.requestedAt * 1000).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC')
  const scopes = scopeItems(input.scopes)
  const body = `
<h1>Sign in <span id="client-name">${escapeHtml(name)}</span> on another device?</h1>
<p class="warn" id="device-warning"><strong>Continue only if you started this sign-in yourself</strong>, just now, on a device or terminal in front of you. If someone sent you this code or asked you to enter it, choose Deny: they would get access to ${escapeHtml(input.serviceName)} with your account.</p>
<p>The sign-in was requested:</p>
<ul id="request-origin">
<li>at <strong id="requested-at">${escapeHtml(when)}</strong> (${escapeHtml(ago(nowSeconds - input.requestedAt))})</li>
<li>from the address <code id="request-ip">${escapeHtml(input.requestIp)}</code></li>
</ul>
<p class="muted">Client ID: <code id="client-id">${escapeHtml(input.clientId)}</code></p>
<p>The application asks for:</p>
<ul id="scopes">${scopes}</ul>
<p class="muted">After you approve, you sign in with your organisation account (Microsoft Entra ID), and the application on the other device is signed in as you.</p>
${decisionForm(input)}`
  return layout(`Sign in ${name}?`, body)
}

/** The end of the browser side: the device is signed in, or was refused. */
export function renderDeviceDonePage (approved: boolean, clientName: string): string {
  return approved
    ? layout('Device signed in', `
<h1 id="device-done">You are signed in</h1>
<p><strong>${escapeHtml(clientName)}</strong> on your other device is now signed in. Return to it; you can close this page.</p>`)
    : layout('Device sign-in denied', `
<h1 id="device-done">Sign-in denied</h1>
<p>Nothing was granted to <strong>${escapeHtml(clientName)}</strong>. You can close this page.</p>`)
}
