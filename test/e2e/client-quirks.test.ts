// What real MCP clients send that a strict reading would refuse, through the whole flow:
// - OpenID Connect scopes of their own: Claude Code asks for offline_access whatever the metadata
//   lists, mcp-remote for openid email profile. This service grants less (RFC 6749 §3.3) instead of
//   refusing the sign-in; the token answer says what was granted.
// - `resource` normalised by URL parsing (a trailing slash) or the bare origin (Claude Code).
import t from 'tap'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { authorizeRequest, claimsOf, fullFlow, mcpStatus, registerClient, tokenRequest } from '../support/oauth-flow.ts'

const ENV = { RATE_LIMIT_ENABLED: 'false' }

t.test('Claude Code: the MCP scopes plus offline_access; the MCP scopes are granted, with a refresh token', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client, undefined, { scope: 'tools.read tools.write graph.read offline_access' })
  t.equal(tokens.status, 200, 'signed in')
  t.equal(tokens.body.scope, 'tools.read tools.write graph.read', 'the answer names what was granted')
  t.equal(claimsOf(tokens.body.access_token).scope, 'tools.read tools.write graph.read')
  t.ok(tokens.body.refresh_token, 'a refresh token, as the client registered the refresh_token grant')
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200)
})

t.test('mcp-remote: openid email profile only; the default scopes are granted', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const client = await registerClient(baseUrl, { scope: 'tools.read' })
  const { tokens } = await fullFlow(baseUrl, client, undefined, { scope: 'openid email profile' })
  t.equal(tokens.status, 200, 'signed in')
  t.equal(tokens.body.scope, 'tools.read', 'the client\'s registered scope')
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200)
})

t.test('a scope that is neither offered nor a sign-in scope still ends the request with invalid_scope', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const client = await registerClient(baseUrl)
  const scope = 'tools.read offline_access admin.everything'
  const page = await new Browserless().navigate((await authorizeRequest(baseUrl, client, { scope })).url)
  t.equal(page.status, 400, 'shown on the service\'s page to a browser that never approved the client')
  t.match(page.body, '<code id="error-code">invalid_scope</code>')
  const { browser } = await fullFlow(baseUrl, client)
  await t.rejects(fullFlow(baseUrl, client, browser, { scope }), /no code: .*error=invalid_scope/, 'sent to the client once this browser approved it')
})

t.test('resource sent with a trailing slash or as the bare origin: the token is for the one MCP resource', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const client = await registerClient(baseUrl)
  const browser = new Browserless()
  for (const resource of [`${baseUrl}/mcp/`, `${baseUrl}/`, baseUrl]) {
    const { tokens } = await fullFlow(baseUrl, client, browser, { resource })
    t.equal(tokens.status, 200, `${resource}: signed in`)
    t.equal(claimsOf(tokens.body.access_token).aud, `${baseUrl}/mcp`, `${resource}: audience is the MCP resource`)
    const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id, resource })
    t.equal(refreshed.status, 200, `${resource}: accepted at refresh too`)
    t.equal(await mcpStatus(baseUrl, refreshed.body.access_token), 200)
  }
  await t.rejects(fullFlow(baseUrl, client, browser, { resource: `${baseUrl}/other` }), /no code: .*error=invalid_target/, 'another path is not this resource')
})
