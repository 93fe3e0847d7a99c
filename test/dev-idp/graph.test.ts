import t from 'tap'
import { buildListening } from '../helper.ts'
import { Browserless, pkcePair } from '../support/browserless.ts'
import { MCP_HEADERS, callTool, mintToken } from '../support/mcp.ts'

const REDIRECT = 'http://127.0.0.1:9/callback'

/** Signs Ada in through the proxy and the development provider; returns the proxy's access token. */
async function signIn (baseUrl: string, scope: string): Promise<string> {
  const registered = await (await fetch(`${baseUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'graph test', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
  })).json() as { client_id: string }
  const { verifier, challenge } = await pkcePair()
  const url = new URL(`${baseUrl}/authorize`)
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: registered.client_id, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', scope, state: 's' })) url.searchParams.set(k, v)
  const { params } = await new Browserless().authorize(url.href, { user: 'Ada Lovelace', stopAt: u => u.startsWith(REDIRECT) })
  const token = await (await fetch(`${baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: REDIRECT, client_id: registered.client_id, code_verifier: verifier })
  })).json() as { access_token: string }
  return token.access_token
}

t.test('in development mode graph_me reads the profile from the provider\'s stand-in for Graph', async t => {
  const { baseUrl } = await buildListening(t)
  const accessToken = await signIn(baseUrl, 'tools.read graph.read')
  const res = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${accessToken}` }, body: JSON.stringify(callTool(1, 'graph_me')) })
  t.equal(res.status, 200)
  const body = await res.json() as { result: { isError?: boolean, content: Array<{ text: string }> } }
  t.notOk(body.result.isError, body.result.content[0].text)
  const profile = JSON.parse(body.result.content[0].text)
  t.equal(profile.displayName, 'Ada Lovelace')
  t.equal(profile.userPrincipalName, 'ada@dev-idp.example.com')
  t.equal(profile.id, '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61')
})

t.test('the stand-in for Graph refuses a missing token and a token for another audience, as Graph does', async t => {
  const { baseUrl } = await buildListening(t)
  const me = `${baseUrl}/dev-idp/graph/v1.0/me`
  const none = await fetch(me)
  t.equal(none.status, 401)
  t.equal((await none.json() as any).error.code, 'InvalidAuthenticationToken')
  const ours = await fetch(me, { headers: { authorization: `Bearer ${mintToken(baseUrl, 'graph.read')}` } })
  t.equal(ours.status, 401, 'a token of this service is not a Graph token')
  t.match((await ours.json() as any).error.message, /validation failure/)
})
