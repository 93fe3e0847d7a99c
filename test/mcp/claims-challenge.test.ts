// Issue #16 §2 at the tool boundary: a Conditional Access claims challenge met while a tool reaches
// Microsoft Graph (the Graph token's renewal, or Graph's own 401 insufficient_claims) ends the grant
// and answers the MCP request HTTP 401 invalid_token with a reason a person understands, on both
// revisions, so every client signs in again. The embedded development identity provider stands in
// for Entra: Margaret Hamilton needs MFA; `demands.demand(oid)` makes anyone need it.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { callTool, post } from '../support/mcp.ts'
import { auditsOf, claimsOf, fullFlow, mcpStatus, registerClient } from '../support/oauth-flow.ts'
import type { EntraLikeProvider } from '../../dev-idp/provider.ts'

const logs: string[] = []
let inner: FastifyInstance | undefined
const { baseUrl } = await buildListening(t, { LOG_LEVEL: 'info' }, { logs, setup: i => { inner = i } })
const api = inner as FastifyInstance & { devIdentityProvider: EntraLikeProvider }
const idp = api.devIdentityProvider
const oidOf = (name: string) => idp.users.find(u => u.name === name)?.oid as string

async function signedIn (user: string) {
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client, new Browserless(), { scope: 'tools.read graph.read' }, { user })
  if (tokens.status !== 200) throw new Error(JSON.stringify(tokens.body))
  return { client, token: tokens.body.access_token as string, sid: claimsOf(tokens.body.access_token).sid as string }
}

const MODERN = '2026-07-28'
const graphMe = (token: string, era: '2025' | '2026', id: number) => era === '2025'
  ? post(baseUrl, callTool(id, 'graph_me'), { authorization: `Bearer ${token}` })
  : post(baseUrl, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'graph_me', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } } },
    { authorization: `Bearer ${token}`, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'graph_me' })

for (const era of ['2025', '2026'] as const) {
  t.test(`${era}: a challenged Graph token ends the grant, and the tool call is answered 401 invalid_token with the reason`, async t => {
    const { token, sid } = await signedIn('Margaret Hamilton')
    const res = await graphMe(token, era, 41)
    t.equal(res.status, 401)
    t.match(res.headers.get('www-authenticate'), /^Bearer resource_metadata="[^"]+", .*error="invalid_token"/)
    t.match(res.headers.get('www-authenticate'), /Conditional Access/)
    t.equal(res.json?.id, 41, 'the JSON-RPC answer keeps the id')
    t.match(res.json?.error?.message, /sign-in policy \(Conditional Access\) requires you to sign in again \(AADSTS50076\)/)
    t.match(auditsOf(logs, 'upstream.claims_challenge').at(-1), { operation: 'graph_token', aadsts: 'AADSTS50076', claims_challenge: true })
    t.equal(await api.grants.readGrant(sid), null, 'the grant ended')
    t.equal(await mcpStatus(baseUrl, token), 401, 'and its access token is refused from now on')
  })
}

t.test('Graph\'s own insufficient_claims (CAE) on a cached Graph token ends the grant the same way and keeps the challenge for the next sign-in', async t => {
  const ada = oidOf('Ada Lovelace')
  const { client, token, sid } = await signedIn('Ada Lovelace')
  t.equal((await graphMe(token, '2025', 1)).status, 200, 'Graph works; its token is now cached in the grant')
  idp.demands.demand(ada)
  t.teardown(() => idp.demands.satisfy(ada, JSON.stringify(idp.demands.pending(ada))))
  const res = await graphMe(token, '2025', 2)
  t.equal(res.status, 401)
  t.match(res.headers.get('www-authenticate'), /error="invalid_token"/)
  t.equal(await api.grants.readGrant(sid), null, 'the grant ended')
  const grant = { clientId: client.client_id, user: { sub: '', oid: ada, tid: idp.tenantId } }
  t.same(await api.claimsChallenges.take(grant.clientId, grant.user), idp.demands.pending(ada), 'Graph\'s challenge waits for Ada\'s next sign-in with this client')
})

t.test('a tool that does not reach Graph is not affected by a pending policy', async t => {
  const { token } = await signedIn('Margaret Hamilton')
  const res = await post(baseUrl, callTool(3, 'whoami'), { authorization: `Bearer ${token}` })
  t.equal(res.status, 200)
  t.notOk(res.json?.result?.isError)
})
