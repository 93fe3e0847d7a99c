import type { FastifyReply } from 'fastify'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { CSRF_FIELD, type AdminCaller } from '../../plugins/admin/guards.ts'
import { assetUrl } from './assets.ts'

// The admin area's page frame: header with navigation, the signed-in administrator and a sign-out
// button, then the page's body. Styles come from one CSS file served by the service
// (assets/admin.css, routes/admin/assets.ts); no inline style or script anywhere, so the CSP below can forbid both.

/** Every admin page's CSP (/work/notes/admin-contract.md). */
export const ADMIN_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

export type AdminSection = 'dashboard' | 'grants' | 'clients'

export interface AdminPageInput {
  title: string
  /** HTML, already escaped where it holds data. */
  body: string
  /** The session's CSRF token (request.adminCsrfToken): the sign-out form needs it. */
  csrfToken?: string
  /** The signed-in administrator (request.admin); without one, no navigation is shown. */
  admin?: AdminCaller
  /** Which navigation entry is current. */
  active?: AdminSection
  /** Same-origin script URLs (`<script src defer>`), e.g. the dashboard's. */
  scripts?: readonly string[]
}

/** The area's one style sheet, by its content-hashed URL. */
const STYLESHEET = `<link rel="stylesheet" href="${escapeHtml(assetUrl('admin.css'))}">`

const NAV: ReadonlyArray<[AdminSection, string, string]> = [
  ['dashboard', 'Dashboard', '/admin'],
  ['grants', 'Grants', '/admin/grants'],
  ['clients', 'Clients', '/admin/clients']
]

/** A hidden field with the CSRF token, for every POST form of an admin page. */
export function csrfField (csrfToken: string | undefined): string {
  return `<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrfToken ?? '')}">`
}

function header (input: AdminPageInput): string {
  const brand = '<a class="brand" href="/admin">Entra MCP Gateway <span>Admin</span></a>'
  if (input.admin === undefined) return `<header class="top"><div class="bar">${brand}</div></header>`
  const links = NAV.map(([section, label, href]) =>
    `<a href="${href}" id="nav-${section}"${section === input.active ? ' class="current" aria-current="page"' : ''}>${label}</a>`).join('')
  const who = input.admin.name ?? input.admin.oid
  return `<header class="top"><div class="bar">${brand}<nav aria-label="Admin">${links}</nav>
<div class="who"><span id="admin-name" title="${escapeHtml(input.admin.oid)}">${escapeHtml(who)}</span>
<form method="post" action="/admin/logout">${csrfField(input.csrfToken)}<button type="submit" id="sign-out" class="ghost">Sign out</button></form></div></div></header>`
}

/** The whole HTML page. */
export function adminPage (input: AdminPageInput): string {
  const scripts = (input.scripts ?? []).map(src => `<script src="${escapeHtml(src)}" defer></script>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${escapeHtml(input.title)} · Gateway admin</title><link rel="icon" href="data:,">${STYLESHEET}${scripts}</head>
<body>${header(input)}<main>${input.body}</main></body></html>`
}

/** Headers of every admin page: its CSP, never cached, no framing, referrer kept to this origin. */
export function adminPageHeaders (reply: FastifyReply): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', ADMIN_CSP)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY')
}

export function sendAdminPage (reply: FastifyReply, status: number, input: AdminPageInput): FastifyReply {
  return adminPageHeaders(reply).code(status).send(adminPage(input))
}

/** A short page with a heading, a sentence and optional link (refusals, signed out, sign-in problems). */
export function sendNotice (reply: FastifyReply, status: number, title: string, message: string, link?: { href: string, label: string }): FastifyReply {
  const action = link === undefined ? '' : `<p><a class="button" id="notice-link" href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>`
  return sendAdminPage(reply, status, {
    title,
    body: `<section class="notice"><h1 id="notice-title">${escapeHtml(title)}</h1><p id="notice-text">${escapeHtml(message)}</p>${action}</section>`
  })
}
