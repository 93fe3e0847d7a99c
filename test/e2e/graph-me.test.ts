// graph_me through the real proxy: the user's Graph token comes from the grant's Entra refresh
// token, server-side (upstreamTokens.forGrant), never from the client.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildListening } from '../helper.ts'
import { startFakeGraph, type GraphUser } from '../support/fake-graph.ts'
import { callTool, post } from '../support/mcp.ts'
import { claimsOf, fullFlow, registerClient } from '../support/oauth-flow.ts'

t.test('graph_me with the development identity provider: a Graph token for the signed-in user', async t => {
  const users: Record<string, GraphUser> = {}
  const graph = await startFakeGraph({ users })
  t.teardown(() => graph.close())
  let inner: FastifyInstance | undefined
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', GRAPH_BASE_URL: graph.url }, { setup: i => { inner = i } })
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client, undefined, { scope: 'tools.read graph.read' })
  t.equal(tokens.status, 200)

  const sid = claimsOf(tokens.body.access_token).sid
  const upstream = await inner!.upstreamTokens.forGrant(sid)
  const graphClaims = claimsOf(upstream.accessToken)
  t.equal(graphClaims.aud, 'https://graph.microsoft.com', 'a token for Graph, not for this API')
  t.equal(graphClaims.oid, claimsOf(tokens.body.access_token).oid, 'for the same user')
  t.not(upstream.accessToken, tokens.body.access_token)
  users[upstream.accessToken] = { id: graphClaims.oid, displayName: 'Ada Lovelace', userPrincipalName: 'ada@dev-idp.example.com' }

  const result = await post(baseUrl, callTool(1, 'graph_me'), { authorization: `Bearer ${tokens.body.access_token}` })
  t.equal(result.status, 200)
  t.notOk(result.json.result?.isError, result.text.slice(0, 300))
  t.match(JSON.stringify(result.json.result), /Ada Lovelace/)
  t.same(graph.requests.map(r => r.token), [upstream.accessToken], 'Graph saw the cached Graph token, never the proxy token')
})
