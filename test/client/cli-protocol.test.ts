import t from 'tap'
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { FetchLike } from '@modelcontextprotocol/client'
import { buildListening, freePort } from '../helper.ts'
import { parseSigningKeys } from '../../config/keys.ts'
import { createTokenSigner } from '../../plugins/jwt-verify/signing-keys.ts'
import { waitFor } from '../../bench/server-process.ts'
import { auditEvents, cacheFor, headlessBrowser, runCli, seedCache, tempConfigHome } from '../support/cli.ts'

// The CLI against the service (development identity provider inside), and against a server that
// speaks only the 2025 revisions: the SDK v1's own stateless example (bench/sdk-baseline-server.ts).
const logs: string[] = []
const { baseUrl } = await buildListening(t, {}, { logs })
const server = `${baseUrl}/mcp`

interface Sent { url: string, method?: string, protocolHeader: string | null, body: string, status: number, answer: string }

/** A fetch that records every request the CLI sends (URL, JSON-RPC method, body) and the answer. */
function recordingFetch () {
  const sent: Sent[] = []
  const fetchFn: FetchLike = async (url, init) => {
    const body = typeof init?.body === 'string' ? init.body : ''
    let method: string | undefined
    try { method = (JSON.parse(body) as { method?: string }).method } catch {} // a form body, or none
    const response = await fetch(url, init)
    const answer = response.headers.get('content-type')?.startsWith('application/json') === true ? await response.clone().text() : ''
    sent.push({ url: String(url), method, protocolHeader: new Headers(init?.headers).get('mcp-protocol-version'), body, status: response.status, answer })
    return response
  }
  return { sent, fetchFn }
}

const xdg = await tempConfigHome(t)
const env = { XDG_CONFIG_HOME: xdg }
const browser = headlessBrowser({ user: 'Ada Lovelace' })

/** Starts the SDK v1 stateless example (2025 revisions only, bearer JWT check) with a key of its own. */
async function start2025OnlyServer (t: { teardown: (fn: () => unknown) => void }) {
  const privatePem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const [key] = parseSigningKeys(privatePem)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const script = fileURLToPath(new URL('../../bench/sdk-baseline-server.ts', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { PATH: process.env.PATH, BASELINE_PORT: String(port), BASELINE_PUBLIC_KEY: key.publicPem, BASELINE_ISSUER: issuer },
    stdio: 'ignore'
  })
  t.teardown(() => { child.kill() })
  await waitFor(`${issuer}/health`, child)
  const claims = { sub: 'legacy-user', oid: '00000000-0000-4000-8000-0000000000c1', tid: '00000000-0000-4000-8000-0000000000a1', name: 'Legacy Tester', client_id: 'cli-test', scope: 'tools.read', sid: 'legacy' }
  const token = createTokenSigner([key], { issuer, audience: `${issuer}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken(claims)
  return { issuer, server: `${issuer}/mcp`, token }
}

t.test('auto against a server that speaks only 2025 revisions: server/discover is tried, then initialize 2025-11-25, and the tools work', async (t) => {
  const legacy = await start2025OnlyServer(t)
  const home = await tempConfigHome(t)
  await seedCache(home, legacy.server, {
    issuer: legacy.issuer,
    tokens: { access_token: legacy.token.accessToken, token_type: 'Bearer', expires_in: legacy.token.expiresIn, scope: 'tools.read', issuer: legacy.issuer },
    expiresAt: Date.now() + legacy.token.expiresIn * 1000,
    scope: 'tools.read'
  })
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['tools', '--json', '--server', legacy.server], { env: { XDG_CONFIG_HOME: home }, fetch: fetchFn })
  t.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout)
  t.equal(out.protocolVersion, '2025-11-25', 'the 2025 revision, after the fallback')
  t.same(out.tools.map((tool: { name: string }) => tool.name), ['whoami'])
  const methods = sent.map(r => r.method)
  t.equal(methods[0], 'server/discover', 'the probe came first')
  t.ok(methods.indexOf('initialize') > 0, 'then the 2025 handshake')
  t.equal(sent.find(r => r.method === 'tools/list')?.protocolHeader, '2025-11-25', 'later requests carry the 2025 header')

  const call = await runCli(['call', 'whoami', '--server', legacy.server], { env: { XDG_CONFIG_HOME: home } })
  t.equal(call.code, 0, call.stderr)
  t.match(call.stdout, /Legacy Tester/, 'the call ran on the 2025 server')

  const pinned = await runCli(['tools', '--protocol', '2026-07-28', '--server', legacy.server], { env: { XDG_CONFIG_HOME: home } })
  t.equal(pinned.code, 1, 'pinned to 2026-07-28: no fallback')
  t.match(pinned.stderr, /did not offer pinned protocol version 2026-07-28/)
  t.notMatch(pinned.stderr, /\n\s+at /, 'no stack trace')
})

t.test('auto against the service speaks the newest revision the service offers: 2026-07-28 when it answers server/discover, else 2025-11-25 after initialize', async (t) => {
  const login = await runCli(['login', '--server', server], { env, openUrl: browser.openUrl })
  t.equal(login.code, 0, login.stderr)
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['tools', '--json', '--server', server], { env, fetch: fetchFn })
  t.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout)
  t.ok(out.tools.some((tool: { name: string }) => tool.name === 'whoami'))
  const probe = sent.find(r => r.url === server && r.method === 'server/discover' && r.status !== 401)
  t.ok(probe, 'the probe came first')
  const offers2026 = probe?.status === 200 && (JSON.parse(probe.answer) as { result?: { supportedVersions?: string[] } }).result?.supportedVersions?.includes('2026-07-28') === true
  const methods = sent.filter(r => r.url === server).map(r => r.method)
  t.equal(out.protocolVersion, offers2026 ? '2026-07-28' : '2025-11-25')
  t.equal(methods.includes('initialize'), !offers2026, offers2026 ? 'no 2025 handshake' : 'the 2025 handshake after the refused probe')
  t.equal(sent.find(r => r.method === 'tools/list')?.protocolHeader, out.protocolVersion, 'tools/list carries the negotiated revision')

  const pinned = await runCli(['tools', '--json', '--protocol', '2026-07-28', '--server', server], { env })
  t.equal(pinned.code, offers2026 ? 0 : 1, pinned.stderr)
  if (!offers2026) t.match(pinned.stderr, /did not offer pinned protocol version 2026-07-28/)
})

t.test('--protocol 2025-11-25 skips the probe; call works', async (t) => {
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['call', 'whoami', '--json', '--protocol', '2025-11-25', '--server', server], { env, fetch: fetchFn })
  t.equal(res.code, 0, res.stderr)
  t.match(JSON.parse(res.stdout).structuredContent, { name: 'Ada Lovelace' })
  t.notOk(sent.some(r => r.method === 'server/discover'), 'no server/discover')
  t.equal(sent.find(r => r.url === server)?.method, 'initialize')
  t.equal(browser.opened.length, 1, 'no browser after the login')
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

t.test('login goes where the server sends it now: a cached discovery naming another authorization server is not followed', async (t) => {
  const other = await tempConfigHome(t)
  const foreign = 'https://moved-away-as.example'
  await seedCache(other, server, {
    issuer: foreign,
    client: { client_id: 'c-moved', issuer: foreign, scope: 'tools.read tools.write graph.read' },
    discovery: {
      authorizationServerUrl: foreign,
      authorizationServerMetadata: { issuer: foreign, authorization_endpoint: `${foreign}/authorize`, token_endpoint: `${foreign}/token`, response_types_supported: ['code'] }
    }
  })
  const { sent, fetchFn } = recordingFetch()
  const signingIn = headlessBrowser({ user: 'Grace Hopper' })
  const res = await runCli(['login', '--json', '--server', server], { env: { XDG_CONFIG_HOME: other }, fetch: fetchFn, openUrl: signingIn.openUrl })
  t.equal(res.code, 0, res.stderr)
  t.equal(signingIn.opened[0].origin, baseUrl, 'the browser went to the service\'s authorization server')
  t.notOk(sent.some(r => r.url.startsWith(foreign)), 'nothing was sent to the authorization server of the stale discovery')
  t.not(JSON.parse(res.stdout).clientId, 'c-moved', 'a registration of its own at this authorization server')
  t.equal((await cacheFor(other).get(server))?.discovery?.authorizationServerMetadata?.issuer, baseUrl, 'the discovery is replaced')
})

t.test('step-up on the revision auto negotiates: the 403 insufficient_scope is answered with a sign-in for the missing scope, then the call runs', async (t) => {
  const home = await tempConfigHome(t)
  const stepping = headlessBrowser({ user: 'Ada Lovelace' })
  const deps = { env: { XDG_CONFIG_HOME: home }, openUrl: stepping.openUrl }
  const login = await runCli(['login', '--scope', 'tools.read', '--server', server], deps)
  t.equal(login.code, 0, login.stderr)
  const negotiated = JSON.parse((await runCli(['tools', '--json', '--server', server], deps)).stdout).protocolVersion
  const { sent, fetchFn } = recordingFetch()
  const res = await runCli(['call', 'graph_me', '--json', '--server', server], { ...deps, fetch: fetchFn })
  t.match(res.stderr, /needs more permissions \(graph\.read\)/)
  const refused = sent.find(r => r.method === 'tools/call' && r.status === 403)
  t.ok(refused, 'the first call was refused with 403')
  t.equal(refused?.protocolHeader, negotiated, `refused on the negotiated revision (${String(negotiated)})`)
  t.equal(stepping.opened.length, 2, 'one step-up sign-in')
  t.same((stepping.opened[1].searchParams.get('scope') ?? '').split(' ').sort(), ['graph.read', 'tools.read'])
  const retried = sent.filter(r => r.method === 'tools/call' && r.status === 200)
  t.equal(retried.length, 1, 'the call ran once, after the step-up')
  t.equal(retried[0]?.protocolHeader, negotiated)
  t.ok(Array.isArray(JSON.parse(res.stdout).content), 'a tool result')
})
