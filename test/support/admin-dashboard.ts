// The admin dashboard with guards made here (app.ts's adminRoutes seam: the feed's tests need no
// sign-in; the real guards are tested in test/plugins/admin and test/e2e/admin-*.test.ts), and a
// server-sent events reader.
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { build, buildListening, type BuildOptions } from '../helper.ts'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import type { DashboardOptions } from '../../routes/admin/dashboard.ts'

/** The page guard lets in a request with this cookie (a browser) or header; the api guard this bearer token. */
export const ADMIN_COOKIE = 'test_admin=yes'
export const ADMIN_BEARER = 'Bearer test-admin-token'

/** Guards shaped like the admin branch's: 302 to /admin/login without a session, 401 + WWW-Authenticate without a token. */
export function testGuards (calls: string[] = []): AdminGuards {
  return {
    async page (request: FastifyRequest, reply: FastifyReply) {
      calls.push(`page ${request.url}`)
      if ((request.headers.cookie ?? '').split(/;\s*/).includes(ADMIN_COOKIE)) return
      await reply.redirect('/admin/login', 302)
    },
    async api (request: FastifyRequest, reply: FastifyReply) {
      calls.push(`api ${request.url}`)
      if (request.headers.authorization === ADMIN_BEARER) return
      await reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'invalid_token', error_description: 'An admin token is needed' })
    },
    async csrf () {}
  }
}

/** app.ts options: the admin area with test guards (and these dashboard options). */
function withTestGuards (buildOpts: BuildOptions, opts: Partial<DashboardOptions>): BuildOptions {
  return { ...buildOpts, app: { ...buildOpts.app, adminRoutes: { guards: opts.guards ?? testGuards(), dashboard: opts } } }
}

export interface SseFrame { id?: string, event?: string, data?: string, comment?: string, retry?: string }

/** A reader of one event stream: every frame in order, `next` waits for the next one matching. */
export interface SseReader {
  status: number
  headers: IncomingMessage['headers']
  frames: SseFrame[]
  next: (match?: (f: SseFrame) => boolean) => Promise<SseFrame>
  close: () => void
  request: ClientRequest
}

export async function openSse (url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  return await new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers: { accept: 'text/event-stream', cookie: ADMIN_COOKIE, ...headers } }, res => {
      const frames: SseFrame[] = []
      const waiters: Array<{ match: (f: SseFrame) => boolean, from: number, resolve: (f: SseFrame) => void }> = []
      let buffer = ''
      let read = 0
      const settle = () => {
        for (const w of [...waiters]) {
          const found = frames.slice(w.from).find(w.match)
          if (found !== undefined) { waiters.splice(waiters.indexOf(w), 1); w.resolve(found) }
        }
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame: SseFrame = {}
          for (const line of buffer.slice(0, end).split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim()
            else {
              const colon = line.indexOf(':')
              const key = line.slice(0, colon) as keyof SseFrame
              frame[key] = line.slice(colon + 1).replace(/^ /, '')
            }
          }
          frames.push(frame)
          buffer = buffer.slice(end + 2)
        }
        settle()
      })
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        request,
        next: async (match = () => true) => await new Promise<SseFrame>(resolve => {
          const from = read
          const found = frames.slice(from).findIndex(match)
          if (found !== -1) { read = from + found + 1; resolve(frames[from + found]); return }
          waiters.push({ match, from, resolve: f => { read = frames.indexOf(f) + 1; resolve(f) } })
        }),
        close: () => { request.destroy() }
      })
    })
    request.on('error', reject)
    request.end()
  })
}

/** Waits for `condition` (state that changes on another socket's event); fails after `ms`. */
export async function until (condition: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** build() with the dashboard; `inner` is app.ts's context (fastify.audit, fastify.auditFeed). */
export async function buildDashboard (t: Parameters<typeof build>[0], env: Record<string, string> = {}, dashboardOpts: Partial<DashboardOptions> = {}, buildOpts: BuildOptions = {}) {
  let inner: FastifyInstance | undefined
  const app = await build(t, env, { ...withTestGuards(buildOpts, dashboardOpts), setup: f => { inner = f } })
  return { app, inner: inner as FastifyInstance }
}

/** buildListening() with the dashboard. */
export async function listenDashboard (t: Parameters<typeof build>[0], env: Record<string, string> = {}, dashboardOpts: Partial<DashboardOptions> = {}, buildOpts: BuildOptions = {}) {
  let inner: FastifyInstance | undefined
  const listening = await buildListening(t, env, { ...withTestGuards(buildOpts, dashboardOpts), setup: f => { inner = f } })
  return { ...listening, inner: inner as FastifyInstance }
}
