// End to end with the official MCP SDK client (v2): auth() from @modelcontextprotocol/client with a
// headless OAuthClientProvider, against a listening server and the development identity provider.
// Then the same flow once per MCP revision (a client pinned to 2026-07-28, a 2025-11-25 client), each
// through a 403 insufficient_scope step-up, with the revision each request carried read off the wire.
import t, { type Test } from 'tap'
import {
  auth, Client, IssuerMismatchError, StreamableHTTPClientTransport, UnauthorizedError,
  type FetchLike, type OAuthClientMetadata, type OAuthClientProvider, type OAuthDiscoveryState, type StoredOAuthClientInformation, type StoredOAuthTokens
} from '@modelcontextprotocol/client'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { post } from '../support/mcp.ts'
import { revokeRequest } from '../support/oauth-flow.ts'

const REDIRECT = 'http://127.0.0.1:53999/callback'

/** An OAuthClientProvider whose "browser" is a cookie-jar fetch that approves consent and signs in as a test user. */
class HeadlessProvider implements OAuthClientProvider {
  browser = new Browserless()
  client?: StoredOAuthClientInformation
  saved?: StoredOAuthTokens
  discovery?: OAuthDiscoveryState
  /** The issuer the SDK named with each save (SEP-2352 `ctx.issuer`). */
  savedFor: string[] = []
  verifier = ''
  authorizationCode?: string
  returnedState?: string | null
  expectedState = `sdk-${Math.random().toString(36).slice(2)}`
  iss?: string | null
  /** The whole callback query (code, state, iss), as a host hands it to `transport.finishAuth`. */
  callback?: URLSearchParams
  pagesSeen: string[] = []
  /** Each authorization request URL the SDK sent the "browser" to. */
  authorizations: URL[] = []

  get redirectUrl () { return REDIRECT }
  get clientMetadata (): OAuthClientMetadata {
    return { client_name: 'SDK headless test', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }
  }

  state () { return this.expectedState }
  clientInformation () { return this.client }
  saveClientInformation (info: StoredOAuthClientInformation, ctx?: { issuer: string }) { this.client = info; this.savedFor.push(ctx?.issuer ?? '') }
  tokens () { return this.saved }
  saveTokens (tokens: StoredOAuthTokens, ctx?: { issuer: string }) { this.saved = tokens; this.savedFor.push(ctx?.issuer ?? '') }
  discoveryState () { return this.discovery }
  saveDiscoveryState (state: OAuthDiscoveryState) { this.discovery = state }
  saveCodeVerifier (verifier: string) { this.verifier = verifier }
  codeVerifier () { return this.verifier }

  async redirectToAuthorization (url: URL) {
    this.authorizations.push(url)
    const result = await this.browser.authorize(url.href, { user: 'Grace Hopper', stopAt: u => u.startsWith(REDIRECT) })
    this.pagesSeen = result.chain
    this.authorizationCode = result.params.get('code') ?? undefined
    this.returnedState = result.params.get('state')
    this.iss = result.params.get('iss')
    this.callback = result.params
  }
}

async function listTools (mcpUrl: URL, provider: OAuthClientProvider) {
  // 'auto': server/discover first, the 2025 handshake when the server does not answer it as a 2026 server.
  const client = new Client({ name: 'e2e', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } })
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider })
  await client.connect(transport)
  try {
    return await client.listTools()
  } finally {
    await client.close()
  }
}

// One server for every case below (each case registers its own client and signs in on its own).
const logs: string[] = []
const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }, { logs })
const mcpUrl = new URL(`${baseUrl}/mcp`)

t.test('401 -> discovery -> registration -> authorize -> consent -> sign-in -> callback -> token -> /mcp -> refresh -> revoke -> refused', async t => {
  const unauthenticated = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  t.equal(unauthenticated.status, 401)
  const challenge = unauthenticated.headers.get('www-authenticate') ?? ''
  const resourceMetadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1]
  t.equal(resourceMetadataUrl, `${baseUrl}/.well-known/oauth-protected-resource/mcp`)

  const provider = new HeadlessProvider()
  const first = await auth(provider, { serverUrl: mcpUrl, resourceMetadataUrl: new URL(resourceMetadataUrl as string) })
  t.equal(first, 'REDIRECT')
  t.ok(provider.client?.client_id, 'dynamically registered')
  t.ok(provider.pagesSeen.some(u => u.startsWith(`${baseUrl}/authorize?`)), 'authorize')
  t.ok(provider.pagesSeen.some(u => u === `${baseUrl}/authorize/consent`), 'consent page submitted')
  t.ok(provider.pagesSeen.some(u => u.startsWith(`${baseUrl}/dev-idp/`)), 'signed in at the identity provider')
  t.ok(provider.pagesSeen.some(u => u.startsWith(`${baseUrl}/auth/callback?`)), 'callback')
  t.equal(provider.returnedState, provider.expectedState)
  t.equal(provider.iss, baseUrl)
  t.ok(provider.authorizationCode)
  t.equal(provider.client?.issuer, baseUrl, 'the registration is stamped with the authorization server (SEP-2352)')

  // RFC 9207: the metadata promises iss, so a callback without it, or with another one, is refused
  // before the code is redeemed (the code stays usable for the real answer below).
  const code = provider.authorizationCode as string
  await t.rejects(auth(provider, { serverUrl: mcpUrl, authorizationCode: code }), IssuerMismatchError, 'no iss: refused')
  await t.rejects(auth(provider, { serverUrl: mcpUrl, authorizationCode: code, iss: 'https://evil.example' }), IssuerMismatchError, 'another iss: refused')
  t.equal(provider.saved, undefined, 'nothing was exchanged')

  const second = await auth(provider, { serverUrl: mcpUrl, authorizationCode: code, iss: provider.iss ?? undefined })
  t.equal(second, 'AUTHORIZED')
  const firstTokens = provider.saved as StoredOAuthTokens
  t.match(firstTokens, { token_type: /^bearer$/i, access_token: /^eyJ/, refresh_token: /.+/, scope: 'tools.read tools.write graph.read' })
  t.equal(firstTokens.issuer, baseUrl, 'the tokens are stamped with their issuer')
  t.ok(provider.savedFor.every(issuer => issuer === baseUrl), 'every save named this issuer')

  const tools = await listTools(mcpUrl, provider)
  t.ok(tools.tools.some(tool => tool.name === 'whoami'), '/mcp accepted the token')

  const third = await auth(provider, { serverUrl: mcpUrl })
  t.equal(third, 'AUTHORIZED', 'refreshed with the refresh token, no browser')
  const refreshed = provider.saved as StoredOAuthTokens
  t.not(refreshed.access_token, firstTokens.access_token)
  t.not(refreshed.refresh_token, firstTokens.refresh_token, 'rotated')
  t.ok((await listTools(mcpUrl, provider)).tools.length > 0, 'the refreshed token works')

  const revoke = await revokeRequest(baseUrl, { token: refreshed.refresh_token, client_id: provider.client?.client_id })
  t.equal(revoke.status, 200)
  const refused = await post(baseUrl, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { authorization: `Bearer ${refreshed.access_token}` })
  t.equal(refused.status, 401, '/mcp refuses the revoked grant')
  t.match(refused.headers.get('www-authenticate'), /error="invalid_token"/)

  const events = logs.map(l => JSON.parse(l)).filter(l => l.audit === true).map(l => l.event)
  for (const event of ['client.registered', 'authorize.started', 'consent.granted', 'login.succeeded', 'token.issued', 'token.refreshed', 'token.revoked']) {
    t.ok(events.includes(event), `audit ${event}`)
  }
})

/** One POST to /mcp as it went over the wire: its JSON-RPC method, the revision header, the answer's status. */
interface WireCall { method: string, protocolVersion: string | null, bodyVersion?: string, status: number, result?: Record<string, unknown> }

/** A fetch that records every POST to `mcpUrl` (the transport's own fetch; OAuth requests pass through untouched). */
function recordingFetch (calls: WireCall[]): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init)
    if (String(url) === mcpUrl.href && init?.method === 'POST') {
      const body = JSON.parse(String(init.body))
      calls.push({
        method: body.method,
        protocolVersion: new Headers(init.headers).get('mcp-protocol-version'),
        bodyVersion: body.params?.protocolVersion,
        status: response.status,
        result: response.headers.get('content-type')?.startsWith('application/json') === true ? (await response.clone().json()).result : undefined
      })
    }
    return response
  }
}

const ERAS = [
  { revision: '2026-07-28', client: 'pinned to 2026-07-28 (server/discover, no initialize)', mode: { pin: '2026-07-28' } },
  { revision: '2025-11-25', client: 'a 2025-era client (initialize with 2025-11-25)', mode: 'legacy' }
] as const

const scopesOf = (url: URL) => (url.searchParams.get('scope') ?? '').split(' ').filter(s => s !== 'offline_access').sort()

for (const era of ERAS) {
  t.test(`${era.revision}, ${era.client}: sign in for tools.read, tools/list, tools/call, then a 403 insufficient_scope on graph_me, step-up through the same browser for tools.read graph.read, and graph_me answers`, async t => {
    const provider = new HeadlessProvider()
    // Sign in for tools.read alone, as a client configured to ask for less than the server offers.
    t.equal(await auth(provider, { serverUrl: mcpUrl, scope: 'tools.read' }), 'REDIRECT', 'sign-in starts in the browser')
    t.equal(await auth(provider, { serverUrl: mcpUrl, authorizationCode: provider.authorizationCode, iss: provider.iss ?? undefined }), 'AUTHORIZED', 'and the code is exchanged')
    t.same(scopesOf(provider.authorizations[0]), ['tools.read'], 'first authorization: tools.read only')

    const calls: WireCall[] = []
    const client = new Client({ name: `e2e-${era.revision}`, version: '1.0.0' }, { versionNegotiation: { mode: era.mode } })
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: recordingFetch(calls) })
    await client.connect(transport)
    t.teardown(() => client.close())
    t.equal(client.getNegotiatedProtocolVersion(), era.revision, `the client settled on ${era.revision}`)

    const tools = await client.listTools()
    t.same(tools.tools.map(tool => tool.name).sort(), ['graph_me', 'revoke_my_sign_in', 'validate_token', 'whoami'], 'tools/list')
    const whoami = await client.callTool({ name: 'whoami', arguments: {} })
    t.notOk(whoami.isError, 'whoami answers')
    t.same((whoami.structuredContent as { scopes?: string[] } | undefined)?.scopes, ['tools.read'], 'with the one scope granted')

    // graph_me needs graph.read: the transport reads the 403 challenge and starts a new authorization
    // with the union of scopes; the "browser" completes it and the host hands the callback back.
    await t.rejects(client.callTool({ name: 'graph_me', arguments: {} }), UnauthorizedError, 'the step-up needs the user (a redirect)')
    t.equal(provider.authorizations.length, 2, 'a second authorization')
    t.same(scopesOf(provider.authorizations[1]), ['graph.read', 'tools.read'], 'for the scopes granted plus the one needed')
    t.ok(provider.pagesSeen.some(u => u === `${baseUrl}/authorize/consent`), 'the user consented to the larger scope')
    await transport.finishAuth(provider.callback as URLSearchParams)
    t.match(provider.saved?.scope?.split(' ').sort(), ['graph.read', 'tools.read'], 'a token for both')

    const graph = await client.callTool({ name: 'graph_me', arguments: {} })
    t.notOk(graph.isError, 'graph_me answers after the step-up', { graph })
    t.match(graph.structuredContent, { displayName: 'Grace Hopper' }, 'with the signed-in user\'s profile')

    const denied = logs.map(l => JSON.parse(l)).filter(l => l.audit === true && l.event === 'scope.denied' && l.client_id === provider.client?.client_id)
    t.match(denied, [{ tool: 'graph_me', missing: ['graph.read'] }], 'the service audited one refusal of graph_me for this client, for graph.read')
    t.equal(denied.length, 1, 'and only one')
    checkWire(t, calls, era.revision)
  })
}

/** Every request of the session went out in `revision`, and the 403 sat between two graph_me calls. */
function checkWire (t: Test, calls: WireCall[], revision: string) {
  const methods = calls.map(c => `${c.method} ${c.status}`)
  if (revision === '2026-07-28') {
    t.notOk(calls.some(c => c.method === 'initialize'), 'no initialize on the wire')
    t.equal(calls[0]?.method, 'server/discover', 'server/discover first')
  } else {
    t.equal(calls[0]?.method, 'initialize', 'the 2025 handshake first')
    t.equal(calls[0]?.bodyVersion, revision, `initialize asked for ${revision}`)
  }
  // Which leg answered: the SDK v2 handler adds caching hints to tools/list; the pooled 2025 leg keeps the 2025 shape.
  const list = calls.find(c => c.method === 'tools/list')?.result
  if (revision === '2026-07-28') t.match(list, { ttlMs: Number, cacheScope: String, resultType: 'complete' }, 'tools/list answered by the 2026-07-28 handler (caching hints)')
  else t.ok(list !== undefined && Array.isArray(list.tools) && !('ttlMs' in list) && !('resultType' in list), 'tools/list answered as JSON in the 2025 shape (no caching hints)')
  const after = revision === '2026-07-28' ? calls : calls.slice(1)
  t.same([...new Set(after.map(c => c.protocolVersion))], [revision], `every request carried MCP-Protocol-Version: ${revision}`)
  const calledTools = methods.filter(m => m.startsWith('tools/'))
  t.same(calledTools, ['tools/list 200', 'tools/call 200', 'tools/call 403', 'tools/call 200'], `on the wire: ${methods.join(', ')}`)
}
