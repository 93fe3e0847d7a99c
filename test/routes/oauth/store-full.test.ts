// Issue #11 §5: anonymous GET /authorize calls must not push security state out of the in-memory
// store. Transactions have their own bound; when it is reached /authorize answers 503, and nothing
// that exists is dropped.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'
import { pkcePair } from '../../support/browserless.ts'
import { memoryStoreBounds } from '../../../plugins/store/memory.ts'
import { auditsOf } from '../../support/oauth-flow.ts'

const BASE = 'http://localhost:8000'
const REDIRECT = 'http://127.0.0.1:53682/callback'
const MAX_ENTRIES = 100

async function setup (t: Parameters<typeof build>[0]) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', MEMORY_STORE_MAX_ENTRIES: String(MAX_ENTRIES) }, { logs, setup: i => { inner = i } })
  const register = () => app.inject({ method: 'POST', url: '/register', payload: { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' } })
  return { app, inner: inner as FastifyInstance, logs, register }
}

t.test('filling the store with anonymous /authorize calls: a revoked token stays refused, clients stay, further calls get 503', async t => {
  const { app, inner, logs, register } = await setup(t)
  const client = (await register()).json() as { client_id: string }
  const { accessToken, jti, expiresIn } = inner.tokenSigner.issueAccessToken({ sub: 'u', client_id: client.client_id, scope: 'tools.read', sid: 'grant-1' })
  await inner.denyAccessToken({ jti, exp: Math.floor(Date.now() / 1000) + expiresIn, sid: 'grant-1' })
  const { challenge } = await pkcePair()
  // The attacker's own client (registered after the victim's), renewed now and then as anyone may.
  let attacker = ''
  const authorize = () => {
    const query = new URLSearchParams({ response_type: 'code', client_id: attacker, redirect_uri: REDIRECT, scope: 'tools.read', state: 's' })
    query.set('code_challenge', challenge)
    query.set('code_challenge_method', 'S256')
    query.set('resource', `${BASE}/mcp`)
    return app.inject(`/authorize?${query}`)
  }

  const statuses: number[] = []
  let refused
  let refusedClient
  for (let i = 0; i < MAX_ENTRIES * 2; i++) {
    if (i % 50 === 0) attacker = (await register()).json().client_id
    const res = await authorize()
    statuses.push(res.statusCode)
    if (res.statusCode === 503 && refused === undefined) { refused = res; refusedClient = attacker }
  }
  const accepted = statuses.filter(s => s === 200).length
  t.equal(accepted, memoryStoreBounds(MAX_ENTRIES).transaction, 'as many consent pages as the transactions bound')
  t.equal(statuses.filter(s => s === 503).length, MAX_ENTRIES * 2 - accepted, 'every other call: 503')
  t.match(refused?.headers['content-type'], /text\/html/, 'the service\'s error page')
  t.match(refused?.body, /temporarily_unavailable/)
  const full = auditsOf(logs, 'store.full')
  t.ok(full.length >= 1, 'audited')
  t.match(full[0], { kind: 'transaction', outcome: 'failure', client_id: refusedClient })

  const mcp = await app.inject({ method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${accessToken}` }, payload: {} })
  t.equal(mcp.statusCode, 401, 'the revoked token is still refused')
  t.match(mcp.headers['www-authenticate'], /revoked/)
  t.not(await inner.clients.get(client.client_id), null, 'the registered client still exists')
})

t.test('registrations have their own bound: past it /register answers 503 temporarily_unavailable, audited', async t => {
  const { inner, logs, register } = await setup(t)
  const ids: string[] = []
  for (let i = 0; i < memoryStoreBounds(MAX_ENTRIES).client; i++) {
    const res = await register()
    t.equal(res.statusCode, 201)
    ids.push(res.json().client_id)
  }
  const refused = await register()
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().error, 'temporarily_unavailable')
  t.match(auditsOf(logs, 'store.full'), [{ kind: 'client', outcome: 'failure' }])
  for (const id of ids) t.not(await inner.clients.get(id), null, `${id} is still registered`)
})
