import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import type { GrantSummary } from '../../plugins/oauth-proxy/grants/admin.ts'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { sendAdminPage } from './layout.ts'
import { ApiError, Csrf, DoneQuery, Limit, actionForm, byAdmin, flash, tags, time } from './parts.ts'

// Active grants (one sign-in of one user with one client): the page (/admin/grants) and its JSON
// (/admin/api/grants). Revoking one grant or all of a user's refuses their tokens at once on every
// instance (the grants model's revocation). Each action is audited `admin.*` and shows no secret.

const Sid = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' })
const Id = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })
const UserBody = Type.Object({ tid: Id, oid: Id })

export const GrantJson = Type.Object({
  sid: Type.String(),
  user: Type.Object({ oid: Type.Optional(Type.String()), tid: Type.Optional(Type.String()), name: Type.Optional(Type.String()), username: Type.Optional(Type.String()) }),
  clientId: Type.String(),
  clientName: Type.Optional(Type.String()),
  scopes: Type.Array(Type.String()),
  createdAt: Type.Integer(),
  refreshedAt: Type.Optional(Type.Integer()),
  expiresAt: Type.Integer()
})

const DONE: Record<string, string> = {
  grant_revoked: 'The grant was revoked: its tokens are refused from now on.',
  user_revoked: 'Every grant of that user was revoked.',
  not_found: 'That grant no longer exists (revoked or expired).'
}

/** `admin.grant_revoked`: who revoked which grant of whom. */
function auditGrant (fastify: FastifyInstance, request: FastifyRequest, grant: GrantSummary) {
  fastify.audit('admin.grant_revoked', { ...byAdmin(request), sid: grant.sid, client_id: grant.clientId, oid: grant.user.oid, tid: grant.user.tid }, request)
}

function auditUser (fastify: FastifyInstance, request: FastifyRequest, user: { tid: string, oid: string }, revoked: GrantSummary[]) {
  fastify.audit('admin.user_revoked', { ...byAdmin(request), oid: user.oid, tid: user.tid, count: revoked.length }, request)
}

function userCell (grant: GrantSummary): string {
  const { user } = grant
  const name = user.name ?? user.username ?? user.oid ?? '(unknown)'
  const sub = user.username !== undefined && user.username !== name ? `<br><span class="muted">${escapeHtml(user.username)}</span>` : ''
  return `<strong>${escapeHtml(name)}</strong>${sub}<br><span class="muted mono" title="object id">${escapeHtml(user.oid ?? '')}</span>`
}

function grantRow (grant: GrantSummary, csrfToken: string | undefined): string {
  const { oid, tid } = grant.user
  const revokeUser = oid !== undefined && tid !== undefined
    ? actionForm({ action: '/admin/users/revoke', fields: { tid, oid }, label: 'Revoke all of user', csrfToken, title: 'Revoke every grant of this user' })
    : ''
  return `<tr data-sid="${escapeHtml(grant.sid)}"><td>${userCell(grant)}</td><td class="mono">${escapeHtml(tid ?? '')}</td>
<td>${escapeHtml(grant.clientName ?? '')}<br><span class="muted mono">${escapeHtml(grant.clientId)}</span></td><td>${tags(grant.scopes)}</td>
<td>${time(grant.createdAt)}</td><td>${time(grant.refreshedAt)}</td>
<td class="actions">${actionForm({ action: '/admin/grants/revoke', fields: { sid: grant.sid }, label: 'Revoke', csrfToken })}${revokeUser}</td></tr>`
}

/** The page's body: the table of active grants. */
export function grantsBody (grants: GrantSummary[], csrfToken: string | undefined, done: unknown): string {
  const rows = grants.map(g => grantRow(g, csrfToken)).join('')
  const table = grants.length === 0
    ? '<p class="empty" id="no-grants">No active grants.</p>'
    : `<table id="grants"><thead><tr><th>User</th><th>Tenant</th><th>Client</th><th>Scopes</th><th>Created</th><th>Last refresh</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
  return `<h1>Grants</h1><p class="lead">Active sign-ins, the most recently active first. Revoking one refuses its tokens at once, on every instance.</p>
${flash(DONE, done)}<div class="table-wrap">${table}</div>`
}

const grants: FastifyPluginAsyncTypebox<{ guards: AdminGuards }> = async function (fastify, { guards }) {
  const model = fastify.grants.admin
  const page = { preHandler: guards.page }
  const post = { preHandler: [guards.page, guards.csrf] }

  fastify.get('/admin/grants', { ...page, schema: { querystring: DoneQuery } }, async (request, reply) => {
    const list = await model.listGrants({ limit: 500 })
    return sendAdminPage(reply, 200, { title: 'Grants', admin: request.admin, csrfToken: request.adminCsrfToken, active: 'grants', body: grantsBody(list, request.adminCsrfToken, request.query.done) })
  })

  fastify.post('/admin/grants/revoke', { ...post, schema: { body: Type.Object({ sid: Sid, ...Csrf }) } }, async (request, reply) => {
    const revoked = await model.revokeGrant(request.body.sid)
    if (revoked !== null) auditGrant(fastify, request, revoked)
    return reply.redirect(`/admin/grants?done=${revoked === null ? 'not_found' : 'grant_revoked'}`, 303)
  })

  fastify.post('/admin/users/revoke', { ...post, schema: { body: Type.Object({ ...UserBody.properties, ...Csrf }) } }, async (request, reply) => {
    const user = { tid: request.body.tid.toLowerCase(), oid: request.body.oid.toLowerCase() }
    auditUser(fastify, request, user, await model.revokeUser(user))
    return reply.redirect('/admin/grants?done=user_revoked', 303)
  })

  const api = { preHandler: guards.api }
  const listQuery = Type.Object({ tid: Type.Optional(Id), oid: Type.Optional(Id), client_id: Type.Optional(Type.String({ maxLength: 2000 })), limit: Limit })
  fastify.get('/admin/api/grants', { ...api, schema: { querystring: listQuery, response: { 200: Type.Object({ grants: Type.Array(GrantJson) }), '4xx': ApiError } } }, async (request, reply) => {
    const { tid, oid, client_id: clientId, limit } = request.query
    if ((tid === undefined) !== (oid === undefined)) return reply.code(400).send({ error: 'invalid_request', error_description: 'tid and oid name a user together' })
    const user = tid !== undefined && oid !== undefined ? { tid: tid.toLowerCase(), oid: oid.toLowerCase() } : undefined
    return { grants: await model.listGrants({ limit, user, clientId }) }
  })

  fastify.delete('/admin/api/grants/:sid', { ...api, schema: { params: Type.Object({ sid: Sid }), response: { 200: Type.Object({ revoked: GrantJson }), '4xx': ApiError } } }, async (request, reply) => {
    const revoked = await model.revokeGrant(request.params.sid)
    if (revoked === null) return reply.code(404).send({ error: 'not_found', error_description: 'No active grant with this id' })
    auditGrant(fastify, request, revoked)
    return { revoked }
  })

  fastify.post('/admin/api/users/revoke', { ...api, schema: { body: UserBody, response: { 200: Type.Object({ revoked: Type.Array(GrantJson) }), '4xx': ApiError } } }, async request => {
    const user = { tid: request.body.tid.toLowerCase(), oid: request.body.oid.toLowerCase() }
    const revoked = await model.revokeUser(user)
    auditUser(fastify, request, user, revoked)
    return { revoked }
  })
}

export default grants
