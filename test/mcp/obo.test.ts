// graph_me for an Entra-issued bearer token: the on-behalf-of exchange gets the caller's own
// token as assertion, server-side; the tool and its result never see it.
import t from 'tap'
import { build } from '../helper.ts'
import { azureEnv, entraToken, makeRsaKey, startJwksServer } from '../support/jwks-server.ts'
import { startFakeGraph } from '../support/fake-graph.ts'
import type { UpstreamTokensApi } from '../../plugins/oauth-proxy.ts'
import { callTool, injectMcp } from '../support/mcp.ts'

const KEY = makeRsaKey('entra-obo-key')

t.test('graph_me with an Entra token for this API uses on-behalf-of with that token, never shown to the tool', async t => {
  const jwks = await startJwksServer(t, [KEY])
  const graph = await startFakeGraph({ users: { 'obo-graph-token': { id: 'oid-ada', displayName: 'Ada (OBO)', userPrincipalName: 'ada@contoso.example' } } })
  t.teardown(() => graph.close())
  const assertions: string[] = []
  const upstreamTokens: UpstreamTokensApi = {
    async forGrant () { throw new Error('not for Entra tokens') },
    async claimsChallenged () { throw new Error('no claims challenge in this test') },
    async onBehalfOf (assertion) {
      assertions.push(assertion)
      return { accessToken: 'obo-graph-token', scopes: ['User.Read'], expiresIn: 3600 }
    }
  }
  const app = await build(t, azureEnv(jwks, { GRAPH_BASE_URL: graph.url }), { app: { mcp: { upstreamTokens } } })
  const token = entraToken(KEY, jwks.origin, { scp: 'tools.read graph.read' })
  const call = async (name: string) => await injectMcp(app, token, callTool(1, name))

  const res = await call('graph_me')
  t.equal(res.statusCode, 200)
  const result = res.json().result
  t.notOk(result.isError, res.body)
  t.equal(result.structuredContent.displayName, 'Ada (OBO)')
  t.same(assertions, [token], 'the caller\'s own token is the on-behalf-of assertion')
  t.same(graph.requests.map(r => r.token), ['obo-graph-token'], 'Graph got the exchanged token')
  t.notMatch(res.body, token.split('.')[2])

  const who = (await call('whoami')).json().result.structuredContent
  t.equal(who.token_kind, 'entra')
  t.notMatch(JSON.stringify(who), token.split('.')[1], 'the identity carries nothing of the raw token')
})
