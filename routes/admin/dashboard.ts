import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import { DASHBOARD_SCRIPTS, dashboardBody } from './dashboard-page.ts'
import { adminPage, adminPageHeaders } from './layout.ts'
import { EVENT_STREAM, serveEventStream, type EventStreamOptions, type OpenStreams } from './event-stream.ts'
import { ErrorBody, EventsAnswer, EventsQuery, PageQuery, StreamHeaders, StreamQuery, SummaryAnswer, SummaryQuery, eventItem, filterOf } from './dashboard-schemas.ts'

export interface DashboardOptions {
  guards: AdminGuards
  /** Test seam: heartbeat and unsent-bytes bound of the event stream. */
  eventStream?: Partial<EventStreamOptions>
  /** Test seam: the page's wrapper, instead of the admin area's layout (layout.ts adminPage). */
  page?: (request: FastifyRequest, title: string, body: string) => string
}

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody }

/**
 * The live audit dashboard (fastify.auditFeed): the page, its event stream and chart data under
 * `guards.page`, the same data as JSON under `guards.api`. Assets: routes/admin/assets.ts.
 */
const dashboard: FastifyPluginAsync<DashboardOptions> = async function (fastify, opts) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { guards } = opts
  const streamOptions = { ...EVENT_STREAM, ...opts.eventStream }
  const wrap = opts.page ?? ((request: FastifyRequest, title: string, body: string) => adminPage({
    title, body, admin: request.admin, csrfToken: request.adminCsrfToken, active: 'dashboard', scripts: DASHBOARD_SCRIPTS
  }))
  const open: OpenStreams = new Set()
  // Open streams would hold the server's close: end them first.
  fastify.addHook('preClose', async () => { for (const end of [...open]) end() })

  app.get('/admin', { preHandler: guards.page, schema: { querystring: PageQuery } }, async (request, reply) => {
    const { chart = '1h', ...query } = request.query
    return adminPageHeaders(reply).send(wrap(request, 'Audit dashboard', dashboardBody({ query, chart, source: fastify.auditFeed.kind })))
  })

  // No HEAD twin: it would hold a subscription open with nothing to send.
  app.get('/admin/events', { exposeHeadRoute: false, preHandler: guards.page, schema: { querystring: StreamQuery, headers: StreamHeaders } }, async (request, reply) => {
    await serveEventStream(request, reply, fastify.auditFeed, filterOf(request.query, Date.now()), request.headers['last-event-id'], streamOptions, open)
  })

  app.get('/admin/summary', { preHandler: guards.page, schema: { querystring: SummaryQuery, response: { 200: SummaryAnswer, ...errors } } }, async (request, reply) => {
    return reply.header('cache-control', 'no-store').send(fastify.auditFeed.summary(request.query.window, request.query.top))
  })

  app.get('/admin/api/events', { preHandler: guards.api, schema: { querystring: EventsQuery, response: { 200: EventsAnswer, ...errors } } }, async (request, reply) => {
    const { limit, ...query } = request.query
    const events = await fastify.auditFeed.recent(filterOf(query, Date.now()), limit)
    return reply.header('cache-control', 'no-store').send({ source: fastify.auditFeed.kind, events: events.map(eventItem) })
  })

  app.get('/admin/api/summary', { preHandler: guards.api, schema: { querystring: SummaryQuery, response: { 200: SummaryAnswer, ...errors } } }, async (request, reply) => {
    return reply.header('cache-control', 'no-store').send(fastify.auditFeed.summary(request.query.window, request.query.top))
  })
}

export default dashboard
