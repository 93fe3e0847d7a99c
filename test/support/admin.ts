// The admin area without a browser: sessions made through the sessions model (as a successful
// sign-in leaves them), tokens for the admin API or MCP minted through the grants model and /token,
// and a test-only /admin/api route behind the real api guard. Not a test file.
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.ts'
import { createAdminGuards } from '../../plugins/admin/guards.ts'
import { sessionCookieName } from '../../plugins/admin/cookies.ts'
import type { AdminUser } from '../../plugins/admin/sessions.ts'
import { pkcePair } from './browserless.ts'
import { REDIRECT_URI } from './oauth-flow.ts'

export const ADMIN: AdminUser = { oid: '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72', tid: 'tid-1', name: 'Grace Hopper', username: 'grace@dev-idp.example.com', roles: ['Gateway.Admin'] }
export const NOT_ADMIN: AdminUser = { oid: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61', tid: 'tid-1', name: 'Ada Lovelace', roles: [] }

/** The app (logs in `logs`), a clock the test moves (epoch seconds), and the steps the guard tests take. */
export async function adminApp (t: Parameters<typeof build>[0], env: Record<string, string> = {}) {
  const logs: string[] = []
  const clock = { now: 1_800_000_000 }
  let inner: FastifyInstance | undefined
  const app = await build(t, { RATE_LIMIT_ENABLED: 'false', ...env }, {
    logs,
    app: { adminClock: () => clock.now },
    setup: instance => {
      inner = instance
      const guards = createAdminGuards(instance, (reply, status, title) => reply.code(status).send({ refused: title }))
      instance.get('/admin/api/ping', { preHandler: guards.api }, async request => ({ admin: request.admin }))
    }
  })
  const api = inner as FastifyInstance
  const cookieName = sessionCookieName(api.config.baseUrl)

  /** A session as a successful sign-in leaves it: its cookie header and its CSRF token. */
  const session = async (user: AdminUser = ADMIN) => {
    const { id, session } = await api.adminSessions.create(user)
    return { id, cookie: `${cookieName}=${id}`, csrf: session.csrf }
  }

  /**
   * Tokens of this service for `resource` (through /token), for a user with these app roles (Grace
   * by default), with a new client unless one is given.
   */
  const token = async (resource: string, roles: string[] = ['Gateway.Admin'], as: { oid: string, tid: string, name: string } = { oid: ADMIN.oid, tid: 'tid-1', name: 'Grace Hopper' }, clientId?: string) => {
    const client = clientId !== undefined ? { client_id: clientId } : (await app.inject({ method: 'POST', url: '/register', payload: { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'Test Client' } })).json()
    const { verifier, challenge } = await pkcePair()
    const tx = { id: 'x'.repeat(43), clientId: client.client_id, redirectUri: REDIRECT_URI, state: 's', codeChallenge: challenge, scopes: ['tools.read'], resource, csrf: 'c', browser: 'b', createdAt: 0 }
    const { code } = await api.grants.createGrant({ tx, user: { sub: as.oid, ...as, roles }, tokens: { access_token: 'entra-at', expires_in: 3600 } })
    const res = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: client.client_id }).toString() })
    if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`)
    return { ...res.json() as { access_token: string, refresh_token: string }, clientId: client.client_id as string }
  }

  const audits = (event: string) => logs.map(l => JSON.parse(l)).filter(l => l.audit === true && l.event === event)
  return { app, api, clock, cookieName, session, token, audits, logs }
}
