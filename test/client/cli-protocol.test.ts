import t from 'tap'
import type { FetchLike } from '@modelcontextprotocol/client'
import { buildListening } from '../helper.ts'
import { auditEvents, cacheFor, headlessBrowser, runCli, seedCache, tempConfigHome } from '../support/cli.ts'

// The CLI against today's service (2025-era /mcp, development identity provider inside).
const logs: string[] = []
const { baseUrl } = await buildListening(t, {}, { logs })
const server = `${baseUrl}/mcp`

/** A fetch that records every request (URL, JSON-RPC method, body text) the CLI sends. */
function recordingFetch () {
  const sent: Array<{ url: string, method?: string, protocolHeader: string | null, body: string }> = []
  const fetchFn: FetchLike = async (url, init) => {
    const body = typeof init?.body === 'string' ? init.body : ''
    let method: string | undefined
    try { method = (JSON.parse(body) as { method?: string }).method } catch {} // a form body, or none
    sent.push({ url: String(url), method, protocolHeader: new Headers(init?.headers).get('mcp-protocol-version'), body })
    return fetch(url, init)
  }
  return { sent, fetchFn }
}

const xdg = await tempConfigHome(t)
const env = { XDG_CONFIG_HOME: xdg }
const browser = headlessBrowser({ user: 'Ada Lovelace' })

t.test('login, then tools with the default (auto): server/discover is tried, the server answers as a 2025 server, the CLI falls back to initialize 2025-11-25', async (t) => {
  const login = await runCli(['login', '--server', server], { env, openUrl: browser.openUrl })
  t.equal(login.code, 0, login.stderr)
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['tools', '--json', '--server', server], { env, fetch: fetchFn })
  t.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout)
  t.equal(out.protocolVersion, '2025-11-25', 'the revision negotiated with today\'s server')
  t.ok(out.tools.some((tool: { name: string }) => tool.name === 'whoami'))
  const methods = sent.filter(r => r.url === server).map(r => r.method)
  t.equal(methods[0], 'server/discover', 'the probe came first')
  t.ok(methods.indexOf('initialize') > 0, 'then the 2025 handshake')
  t.ok(methods.includes('tools/list'))
  const listed = sent.find(r => r.method === 'tools/list')
  t.equal(listed?.protocolHeader, '2025-11-25', 'requests after the fallback carry the 2025 header')
})

t.test('--protocol 2025-11-25 skips the probe; call works', async (t) => {
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['call', 'whoami', '--json', '--protocol', '2025-11-25', '--server', server], { env, fetch: fetchFn })
  t.equal(res.code, 0, res.stderr)
  t.match(JSON.parse(res.stdout).structuredContent, { name: 'Ada Lovelace' })
  t.notOk(sent.some(r => r.method === 'server/discover'), 'no server/discover')
  t.equal(sent.find(r => r.url === server)?.method, 'initialize')
})

t.test('--protocol 2026-07-28 against a server that does not offer it fails with a clear error, not a fallback', async (t) => {
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['tools', '--protocol', '2026-07-28', '--server', server], { env, fetch: fetchFn })
  t.not(res.code, 0)
  t.match(res.stderr, /did not offer pinned protocol version 2026-07-28/)
  t.notMatch(res.stderr, /\n\s+at /, 'no stack trace')
  t.notOk(sent.some(r => r.method === 'initialize'), 'no 2025 handshake when pinned')
  t.equal(browser.opened.length, 1, 'no browser')
})

t.test('--protocol with an unknown revision is a usage error', async (t) => {
  const res = await runCli(['tools', '--protocol', '2024-11-05', '--server', server], { env })
  t.equal(res.code, 2)
  t.match(res.stderr, /--protocol must be one of auto, 2025-11-25, 2026-07-28/)
})

t.test('tokens cached for another authorization server are never sent to this one: no refresh with them, no revocation, a new registration at sign-in', async (t) => {
  const other = await tempConfigHome(t)
  const otherEnv = { XDG_CONFIG_HOME: other }
  const foreignRefresh = 'rt-issued-by-another-authorization-server'
  const foreignClient = 'client-registered-at-another-authorization-server'
  // The cache says: signed in at https://other-as.example for this server, access token expired.
  await seedCache(other, server, {
    issuer: 'https://other-as.example',
    client: { client_id: foreignClient, issuer: 'https://other-as.example' },
    tokens: { access_token: 'at-foreign', refresh_token: foreignRefresh, token_type: 'Bearer', expires_in: 3600, issuer: 'https://other-as.example' },
    expiresAt: Date.now() - 1000,
    scope: 'tools.read'
  })
  const { sent, fetchFn } = recordingFetch()
  const refreshed = auditEvents(logs, 'token.refreshed').length
  const registered = auditEvents(logs, 'client.registered').length

  const call = await runCli(['whoami', '--server', server], { env: otherEnv, fetch: fetchFn, openUrl: async () => { throw new Error('no browser expected') } })
  t.equal(call.code, 3, call.stderr)
  t.match(call.stderr, new RegExp(`made at another authorization server than the one it names now \\(${baseUrl}\\).*login`))
  t.equal(auditEvents(logs, 'token.refreshed').length, refreshed, 'no refresh happened')
  t.equal(auditEvents(logs, 'client.registered').length, registered, 'a command does not register anywhere')

  const otherBrowser = headlessBrowser({ user: 'Grace Hopper' })
  const login = await runCli(['login', '--json', '--server', server], { env: otherEnv, fetch: fetchFn, openUrl: otherBrowser.openUrl })
  t.equal(login.code, 0, login.stderr)
  t.equal(auditEvents(logs, 'client.registered').length, registered + 1, 'registered anew at this authorization server')
  t.not(otherBrowser.opened[0].searchParams.get('client_id'), foreignClient, 'the other server\'s client_id is not used here')
  for (const request of sent) {
    t.notOk(request.body.includes(foreignRefresh) || request.url.includes(foreignRefresh), `the foreign refresh token is not in ${request.url}`)
    t.notOk(request.body.includes(foreignClient) || request.url.includes(foreignClient), `the foreign client_id is not in ${request.url}`)
  }
  const cache = cacheFor(other)
  t.equal((await cache.get(server))?.issuer, baseUrl, 'commands now use this server\'s sign-in')
  t.equal((await cache.get(server, 'https://other-as.example'))?.tokens?.refresh_token, foreignRefresh, 'the other server\'s sign-in is kept apart, untouched')

  const whoami = await runCli(['whoami', '--json', '--server', server], { env: otherEnv, fetch: fetchFn })
  t.equal(whoami.code, 0, whoami.stderr)
  t.equal(JSON.parse(whoami.stdout).name, 'Grace Hopper')
})

t.test('logout when the server now names another authorization server: the tokens are not sent there, the local copy is deleted', async (t) => {
  const other = await tempConfigHome(t)
  const foreignRefresh = 'rt-for-logout-at-another-authorization-server'
  await seedCache(other, server, {
    issuer: 'https://other-as.example',
    client: { client_id: 'c-foreign', issuer: 'https://other-as.example' },
    tokens: { access_token: 'at-foreign', refresh_token: foreignRefresh, token_type: 'Bearer', issuer: 'https://other-as.example' }
  })
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['logout', '--server', server], { env: { XDG_CONFIG_HOME: other }, fetch: fetchFn })
  t.equal(res.code, 1)
  t.match(res.stderr, /Deleted the local credentials .* another authorization server .* not sent/)
  t.notOk(sent.some(r => r.body.includes(foreignRefresh)), 'the refresh token went nowhere')
  t.equal(await cacheFor(other).get(server), undefined)
})
