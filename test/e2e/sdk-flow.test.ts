// End to end with the official MCP SDK client (v2): auth() from @modelcontextprotocol/client with a
// headless OAuthClientProvider, against a listening server and the development identity provider.
import t from 'tap'
import {
  auth, Client, IssuerMismatchError, StreamableHTTPClientTransport,
  type OAuthClientMetadata, type OAuthClientProvider, type OAuthDiscoveryState, type StoredOAuthClientInformation, type StoredOAuthTokens
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
  pagesSeen: string[] = []

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
    const result = await this.browser.authorize(url.href, { user: 'Grace Hopper', stopAt: u => u.startsWith(REDIRECT) })
    this.pagesSeen = result.chain
    this.authorizationCode = result.params.get('code') ?? undefined
    this.returnedState = result.params.get('state')
    this.iss = result.params.get('iss')
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

t.test('401 -> discovery -> registration -> authorize -> consent -> sign-in -> callback -> token -> /mcp -> refresh -> revoke -> refused', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }, { logs })
  const mcpUrl = new URL(`${baseUrl}/mcp`)

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
