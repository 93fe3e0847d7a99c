import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import type { ClientDeletion, ClientSummary, ConsentSummary } from '../../plugins/oauth-proxy/grants/admin.ts'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { sendAdminPage } from './layout.ts'
import { ApiError, Csrf, DoneQuery, Limit, actionForm, byAdmin, flash, tags, time } from './parts.ts'

// Registered clients and the consents browsers remembered for them: the page (/admin/clients) and
// the JSON (/admin/api/clients, /admin/api/consents). Deleting a client revokes its grants and
// forgets its consents; deleting a consent makes that browser's next sign-in with it ask again.

const ClientId = Type.String({ minLength: 1, maxLength: 2000 })
const ConsentId = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })

const ClientJson = Type.Object({
  clientId: Type.String(),
  name: Type.Optional(Type.String()),
  source: Type.String(),
  authMethod: Type.Optional(Type.String()),
  redirectUris: Type.Array(Type.String()),
  grantTypes: Type.Array(Type.String()),
  registeredAt: Type.Optional(Type.Integer()),
  activeGrants: Type.Integer()
})
const ConsentJson = Type.Object({
  id: Type.String(), clientId: Type.String(), clientName: Type.Optional(Type.String()), scopes: Type.Array(Type.String()), expiresAt: Type.Integer()
})
const DeletionJson = Type.Object({
  clientId: Type.String(), registration: Type.Boolean(), grants: Type.Integer(), consents: Type.Integer()
})

const DONE: Record<string, string> = {
  client_deleted: 'The client was deleted, its grants revoked and its consents forgotten.',
  consent_deleted: 'The consent was deleted: that browser is asked again next time.',
  not_found: 'That consent no longer exists.'
}

function auditClient (fastify: FastifyInstance, request: FastifyRequest, deletion: ClientDeletion) {
  fastify.audit('admin.client_deleted', { ...byAdmin(request), client_id: deletion.clientId, registration: deletion.registration, grants: deletion.grants.length, consents: deletion.consents.length }, request)
}

function auditConsent (fastify: FastifyInstance, request: FastifyRequest, consent: ConsentSummary) {
  fastify.audit('admin.consent_deleted', { ...byAdmin(request), client_id: consent.clientId, consent: consent.id }, request)
}

const deletionJson = (d: ClientDeletion) => ({ clientId: d.clientId, registration: d.registration, grants: d.grants.length, consents: d.consents.length })

function clientRow (client: ClientSummary, csrfToken: string | undefined): string {
  const source = client.source === 'metadata_document' ? 'metadata document' : 'registered'
  return `<tr><td><strong>${escapeHtml(client.name ?? '(no name)')}</strong><br><span class="muted mono">${escapeHtml(client.clientId)}</span></td>
<td>${escapeHtml(source)}<br><span class="muted">${client.authMethod === undefined ? '' : `token auth: ${escapeHtml(client.authMethod)}`}</span></td><td>${tags(client.redirectUris)}</td><td>${tags(client.grantTypes)}</td>
<td>${time(client.registeredAt)}</td><td>${client.activeGrants}</td>
<td class="actions">${actionForm({ action: '/admin/clients/delete', fields: { client_id: client.clientId }, label: 'Delete', csrfToken, title: 'Delete the client, revoke its grants, forget its consents' })}</td></tr>`
}

function consentRow (consent: ConsentSummary, csrfToken: string | undefined): string {
  return `<tr><td><strong>${escapeHtml(consent.clientName ?? '(no name)')}</strong><br><span class="muted mono">${escapeHtml(consent.clientId)}</span></td>
<td class="mono" title="a browser's consent session (hashed)">${escapeHtml(consent.id.slice(0, 12))}…</td><td>${tags(consent.scopes)}</td><td>${time(consent.expiresAt)}</td>
<td class="actions">${actionForm({ action: '/admin/consents/delete', fields: { id: consent.id, client_id: consent.clientId }, label: 'Delete', csrfToken })}</td></tr>`
}

/** The page's body: clients, then consents. */
export function clientsBody (clients: ClientSummary[], consents: ConsentSummary[], csrfToken: string | undefined, done: unknown): string {
  const clientTable = clients.length === 0
    ? '<p class="empty" id="no-clients">No clients.</p>'
    : `<table id="clients"><thead><tr><th>Client</th><th>Kind</th><th>Redirect URIs</th><th>Grant types</th><th>Registered</th><th>Grants</th><th></th></tr></thead><tbody>${clients.map(c => clientRow(c, csrfToken)).join('')}</tbody></table>`
  const consentTable = consents.length === 0
    ? '<p class="empty" id="no-consents">No remembered consents.</p>'
    : `<table id="consents"><thead><tr><th>Client</th><th>Browser</th><th>Scopes</th><th>Until</th><th></th></tr></thead><tbody>${consents.map(c => consentRow(c, csrfToken)).join('')}</tbody></table>`
  return `<h1>Clients</h1><p class="lead">Registered applications, and applications with a metadata document that hold grants.</p>
${flash(DONE, done)}<div class="table-wrap">${clientTable}</div>
<h2>Consents</h2><p class="lead">Approvals remembered per browser; deleting one makes that browser ask again.</p><div class="table-wrap">${consentTable}</div>`
}

const clients: FastifyPluginAsyncTypebox<{ guards: AdminGuards }> = async function (fastify, { guards }) {
  const model = fastify.grants.admin
  const post = { preHandler: [guards.page, guards.csrf] }

  fastify.get('/admin/clients', { preHandler: guards.page, schema: { querystring: DoneQuery } }, async (request, reply) => {
    const [list, consents] = await Promise.all([model.listClients({ limit: 500 }), model.listConsents({ limit: 500 })])
    return sendAdminPage(reply, 200, { title: 'Clients', admin: request.admin, csrfToken: request.adminCsrfToken, active: 'clients', body: clientsBody(list, consents, request.adminCsrfToken, request.query.done) })
  })

  fastify.post('/admin/clients/delete', { ...post, schema: { body: Type.Object({ client_id: ClientId, ...Csrf }) } }, async (request, reply) => {
    auditClient(fastify, request, await model.deleteClient(request.body.client_id))
    return reply.redirect('/admin/clients?done=client_deleted', 303)
  })

  fastify.post('/admin/consents/delete', { ...post, schema: { body: Type.Object({ id: ConsentId, client_id: ClientId, ...Csrf }) } }, async (request, reply) => {
    const deleted = await model.deleteConsent(request.body.id, request.body.client_id)
    if (deleted !== null) auditConsent(fastify, request, deleted)
    return reply.redirect(`/admin/clients?done=${deleted === null ? 'not_found' : 'consent_deleted'}`, 303)
  })

  const api = { preHandler: guards.api }
  fastify.get('/admin/api/clients', { ...api, schema: { querystring: Type.Object({ limit: Limit }), response: { 200: Type.Object({ clients: Type.Array(ClientJson) }) } } }, async request => {
    return { clients: await model.listClients({ limit: request.query.limit }) }
  })

  fastify.delete('/admin/api/clients/:clientId', { ...api, schema: { params: Type.Object({ clientId: ClientId }), response: { 200: Type.Object({ deleted: DeletionJson }) } } }, async request => {
    const deletion = await model.deleteClient(request.params.clientId)
    auditClient(fastify, request, deletion)
    return { deleted: deletionJson(deletion) }
  })

  fastify.get('/admin/api/consents', { ...api, schema: { querystring: Type.Object({ client_id: Type.Optional(ClientId), limit: Limit }), response: { 200: Type.Object({ consents: Type.Array(ConsentJson) }) } } }, async request => {
    return { consents: await model.listConsents({ clientId: request.query.client_id, limit: request.query.limit }) }
  })

  fastify.delete('/admin/api/consents/:id', { ...api, schema: { params: Type.Object({ id: ConsentId }), querystring: Type.Object({ client_id: ClientId }), response: { 200: Type.Object({ deleted: ConsentJson }), '4xx': ApiError } } }, async (request, reply) => {
    const deleted = await model.deleteConsent(request.params.id, request.query.client_id)
    if (deleted === null) return reply.code(404).send({ error: 'not_found', error_description: 'No such consent' })
    auditConsent(fastify, request, deleted)
    return { deleted }
  })
}

export default clients
