import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'
import { pkcePair } from '../../support/browserless.ts'
import { auditsOf } from '../../support/oauth-flow.ts'

const BASE = 'http://localhost:8000'
const REDIRECT = 'http://127.0.0.1:53682/callback'

async function setup (t: Parameters<typeof build>[0], env: Record<string, string> = {}, metadata: Record<string, unknown> = {}) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', ...env }, { logs, setup: i => { inner = i } })
  const reg = await app.inject({
    method: 'POST',
    url: '/register',
    payload: { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'Test <App>', ...metadata }
  })
  if (reg.statusCode !== 201) throw new Error(reg.body)
  const client = reg.json() as { client_id: string }
  const { challenge } = await pkcePair()
  const query = (params: Record<string, string | undefined> = {}) => {
    const q = new URLSearchParams()
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st-1',
      scope: 'tools.read',
      resource: `${BASE}/mcp`,
      ...params
    }
    for (const [k, v] of Object.entries(all)) if (v !== undefined) q.set(k, v)
    return `/authorize?${q}`
  }
  const audits = (event: string) => auditsOf(logs, event)
  return { app, inner: inner as FastifyInstance, client, query, audits, logs }
}

function redirected (res: { statusCode: number, headers: Record<string, unknown> }) {
  const location = String(res.headers.location)
  return { url: new URL(location), params: new URL(location).searchParams }
}

/** The link on the page shown instead of a redirect, for a client this browser has not approved. */
function linked (res: { body: string }) {
  const location = (/id="return-link" href="([^"]+)"/.exec(res.body)?.[1] ?? '').replace(/&amp;/g, '&')
  return { url: new URL(location), params: new URL(location).searchParams }
}

/** Cookies of a browser that has approved the client once (consent page, Approve). */
async function approvedBrowser (app: FastifyInstance, url: string): Promise<string> {
  const page = await app.inject(url)
  const binding = String(page.headers['set-cookie']).split(';')[0]
  const field = (name: string) => new RegExp(`name="${name}" value="([\\w-]+)"`).exec(page.body)?.[1] ?? ''
  const approved = await app.inject({
    method: 'POST',
    url: '/authorize/consent',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: binding },
    payload: new URLSearchParams({ transaction: field('transaction'), csrf_token: field('csrf_token'), decision: 'approve' }).toString()
  })
  if (approved.statusCode !== 303) throw new Error(approved.body)
  return `${binding}; ${String(approved.headers['set-cookie']).split(';')[0]}`
}

t.test('a valid request shows the consent page naming the client, its redirect host and the scopes', async t => {
  const { app, inner, client, query, audits } = await setup(t)
  const res = await app.inject(query({ scope: 'tools.read graph.read' }))
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /form-action/, 'no form-action: it would block the redirect chain after the POST in Chrome')
  t.notMatch(csp, /script-src/, 'no scripts allowed (default-src none)')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.match(res.body, 'Test &lt;App&gt;', 'client name escaped')
  t.notMatch(res.body, 'Test <App>')
  t.match(res.body, client.client_id)
  t.match(res.body, '127.0.0.1:53682')
  t.match(res.body, /id="loopback-warning"/, 'loopback http redirect gets a warning')
  t.match(res.body, /Microsoft Graph/, 'scopes have human descriptions')
  t.match(res.body, /<code>graph\.read<\/code>/)
  t.match(res.body, /name="decision" value="approve"/)
  t.match(res.body, /name="decision" value="deny"/)
  t.match(res.body, /name="csrf_token" value="[\w-]{32}"/)
  const txId = /name="transaction" value="([\w-]+)"/.exec(res.body)?.[1]
  t.ok(txId)
  const stored = JSON.parse(await inner.store.get(`tx:${txId}`) as string)
  t.match(stored, { clientId: client.client_id, redirectUri: REDIRECT, state: 'st-1', scopes: ['tools.read', 'graph.read'], resource: `${BASE}/mcp` })
  t.equal(stored.upstream, undefined, 'no upstream leg before consent')
  t.equal(audits('authorize.started').length, 1)
  t.match(audits('authorize.started')[0], { client_id: client.client_id, outcome: 'success' })
})

t.test('an https redirect URI gets no loopback warning', async t => {
  const { app, query } = await setup(t, {}, { redirect_uris: ['https://app.example.com/cb'] })
  const res = await app.inject(query({ redirect_uri: 'https://app.example.com/cb' }))
  t.equal(res.statusCode, 200)
  t.notMatch(res.body, /id="loopback-warning"/)
  t.match(res.body, 'app.example.com')
})

t.test('errors about the client or its redirect URI are shown on a page, never redirected', async t => {
  const { app, query } = await setup(t)
  const cases: Array<[string, Record<string, string | undefined>, string]> = [
    ['unregistered client', { client_id: 'no-such-client' }, 'invalid_client'],
    ['missing client_id', { client_id: undefined }, 'invalid_request'],
    ['redirect URI mismatch', { redirect_uri: 'https://evil.example.com/callback' }, 'invalid_request'],
    ['redirect URI with another path', { redirect_uri: 'http://127.0.0.1:53682/callback/x' }, 'invalid_request']
  ]
  for (const [name, params, error] of cases) {
    const res = await app.inject(query(params))
    t.equal(res.statusCode, 400, name)
    t.equal(res.headers.location, undefined, `${name}: no redirect`)
    t.match(res.headers['content-type'], /text\/html/, name)
    t.match(res.body, `<code id="error-code">${error}</code>`, name)
  }
})

t.test('a device-only client cannot start a code flow: a page naming unauthorized_client, never a redirect, no browser binding', async t => {
  const { app, query, audits } = await setup(t, {}, { redirect_uris: undefined, grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] })
  for (const [name, params] of [
    ['an attacker-chosen redirect URI', { redirect_uri: 'https://evil.example.com/callback' }],
    ['a loopback redirect URI', {}],
    ['no redirect URI', { redirect_uri: undefined }]
  ] as const) {
    const res = await app.inject(query(params))
    t.equal(res.statusCode, 400, name)
    t.equal(res.headers.location, undefined, `${name}: no redirect`)
    t.notOk(String(res.headers['set-cookie'] ?? '').includes('='), `${name}: no browser binding cookie`)
    t.match(res.body, '<code id="error-code">unauthorized_client</code>', name)
    t.match(res.body, /device-only application signs in with a code/, name)
  }
  t.equal(audits('authorize.started').filter(a => a.reason === 'unauthorized_client').length, 3)
})

t.test('a loopback redirect URI on another port matches (RFC 8252)', async t => {
  const { app, query } = await setup(t)
  const res = await app.inject(query({ redirect_uri: 'http://127.0.0.1:40000/callback' }))
  t.equal(res.statusCode, 200)
})

t.test('errors after the redirect URI is verified go to the client with error, state and iss: on a page with a link until this browser approved the client', async t => {
  const { app, query, audits } = await setup(t)
  const cases: Array<[string, Record<string, string | undefined>, string]> = [
    ['PKCE missing', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['PKCE method missing (defaults to plain)', { code_challenge_method: undefined }, 'invalid_request'],
    ['resource mismatch', { resource: 'https://other.example.com/mcp' }, 'invalid_target'],
    ['unknown scope', { scope: 'tools.read admin.everything' }, 'invalid_scope'],
    ['implicit flow', { response_type: 'token' }, 'unsupported_response_type']
  ]
  const approved = await approvedBrowser(app, query())
  for (const [name, params, error] of cases) {
    const page = await app.inject(query(params))
    t.equal(page.statusCode, 400, `${name}: a browser that has not approved the client is not redirected`)
    t.equal(page.headers.location, undefined, name)
    t.match(page.body, '<code id="redirect-host">127.0.0.1:53682</code>', `${name}: the page names where the link goes`)
    const res = await app.inject({ url: query(params), headers: { cookie: approved } })
    t.equal(res.statusCode, 302, `${name}: a browser that approved the client is redirected`)
    for (const { url, params: p } of [linked(page), redirected(res)]) {
      t.equal(`${url.origin}${url.pathname}`, REDIRECT, name)
      t.equal(p.get('error'), error, name)
      t.equal(p.get('state'), 'st-1', name)
      t.equal(p.get('iss'), BASE, name)
      t.ok((p.get('error_description') ?? '').length > 0, name)
    }
  }
  t.equal(audits('authorize.started').filter(a => a.outcome === 'failure').length, 2 * cases.length)
})

t.test('open redirect: a self-registered redirect URI gets no automatic redirect from an invalid request (RFC 9700 §4.11.2)', async t => {
  const { app, query } = await setup(t, {}, { redirect_uris: ['https://evil.example/phish'] })
  const res = await app.inject(query({ redirect_uri: 'https://evil.example/phish', scope: 'bogus' }))
  t.equal(res.statusCode, 400)
  t.equal(res.headers.location, undefined, 'no redirect to the phishing page')
  t.match(res.body, '<code id="redirect-host">evil.example</code>')
  t.match(res.body, /Go back there only if you trust it/)
  t.equal(linked(res).url.host, 'evil.example', 'the user may still follow the link on purpose')
})

t.test('no scope asked: the client registered scope, else every offered scope; asked: any offered scope', async t => {
  const { app, query } = await setup(t)
  const res = await app.inject(query({ scope: undefined }))
  for (const scope of ['tools.read', 'tools.write', 'graph.read']) t.match(res.body, `<code>${scope}</code>`)
  const narrow = await setup(t, {}, { scope: 'tools.read' })
  const res2 = await narrow.app.inject(narrow.query({ scope: undefined }))
  t.match(res2.body, '<code>tools.read</code>')
  t.notMatch(res2.body, '<code>tools.write</code>')
  // Step-up: a client that registered with the scopes of its first sign-in may ask for more.
  const beyond = await narrow.app.inject(narrow.query({ scope: 'tools.read tools.write' }))
  t.equal(beyond.statusCode, 200, 'beyond the registered scope: the consent page, not an error')
  t.match(beyond.body, '<code>tools.write</code>')
})

t.test('repeated or malformed parameters never cause a 500', async t => {
  const { app, client, query } = await setup(t)
  const twice = await app.inject(query() + '&scope=tools.write')
  t.equal(twice.statusCode, 400)
  t.equal(linked(twice).params.get('error'), 'invalid_request')
  const twoClients = await app.inject(`/authorize?client_id=${client.client_id}&client_id=x`)
  t.equal(twoClients.statusCode, 400)
  const garbage = await app.inject('/authorize?%%%=%ZZ&client_id=%E0%A4%A')
  t.ok(garbage.statusCode < 500, `status ${garbage.statusCode}`)
  const long = await app.inject(query({ state: 'x'.repeat(3000) }))
  t.equal(linked(long).params.get('error'), 'invalid_request')
})
