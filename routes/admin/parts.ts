import Type from 'typebox'
import type { FastifyRequest } from 'fastify'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { csrfField } from './layout.ts'

// Small pieces of the grants and clients pages: times, lists as tags, the message after an action,
// a one-button POST form, and the JSON answers' error shape.

/** Epoch seconds as `2026-12-07 22:45 UTC` (a `<time>` with the ISO value). */
export function time (epochSeconds: number | undefined): string {
  if (epochSeconds === undefined || !Number.isFinite(epochSeconds)) return '<span class="muted">—</span>'
  const iso = new Date(epochSeconds * 1000).toISOString()
  return `<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`
}

export function tags (values: readonly string[]): string {
  return values.length === 0 ? '<span class="muted">—</span>' : values.map(v => `<span class="tag">${escapeHtml(v)}</span>`).join('')
}

/** The sentence after a POST/redirect/GET: chosen from a fixed list by the `done` query value (nothing reflected). */
export function flash (messages: Readonly<Record<string, string>>, done: unknown): string {
  const text = typeof done === 'string' && Object.hasOwn(messages, done) ? messages[done] : undefined
  return text === undefined ? '' : `<p class="flash" id="flash" role="status">${escapeHtml(text)}</p>`
}

/** A POST form of one button, with hidden fields and the session's CSRF token. */
export function actionForm (input: { action: string, fields: Record<string, string>, label: string, csrfToken?: string, id?: string, title?: string }): string {
  const hidden = Object.entries(input.fields).map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('')
  const id = input.id === undefined ? '' : ` id="${escapeHtml(input.id)}"`
  const title = input.title === undefined ? '' : ` title="${escapeHtml(input.title)}"`
  return `<form method="post" action="${escapeHtml(input.action)}">${csrfField(input.csrfToken)}${hidden}<button type="submit" class="danger"${id}${title}>${escapeHtml(input.label)}</button></form>`
}

/** The `done` query value of the pages. */
export const DoneQuery = Type.Object({ done: Type.Optional(Type.String({ maxLength: 40 })) })

export const ApiError = Type.Object({ error: Type.String(), error_description: Type.Optional(Type.String()) })

/** The `_csrf` field every form POST carries (checked by guards.csrf), beside the action's own fields. */
export const Csrf = { _csrf: Type.Optional(Type.String({ maxLength: 100 })) }

/** `?limit=` of the JSON listings (1..1000, default 100). */
export const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }))

/** The acting administrator's fields of an `admin.*` audit line. */
export function byAdmin (request: FastifyRequest): { admin_oid?: string, admin_tid?: string } {
  return { admin_oid: request.admin?.oid, admin_tid: request.admin?.tid }
}
