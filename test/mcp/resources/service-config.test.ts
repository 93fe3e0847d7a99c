import t from 'tap'
import { buildListening } from '../../helper.ts'
import { SIGNING_KEY_PEM, connectClient, mintToken, post } from '../../support/mcp.ts'

const URI = 'entra-mcp-gateway://service-config'
const SCOPES_KEY = 'io.github.entra-mcp-gateway/scopes'
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, MCP_SCOPES: 'tools.read tools.write graph.read mail.read' })

t.test('service-config is listed as needing no scope, under the scopes _meta key', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const { resources } = await client.listResources()
  t.match(resources.find(r => r.uri === URI), { name: 'service-config', title: 'Service configuration', mimeType: 'application/json', _meta: { [SCOPES_KEY]: [] } })
})

t.test('reading service-config gives exactly what /auth/info shows, with any scope and no secret', async t => {
  const info = await (await fetch(`${baseUrl}/auth/info`)).json()
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read'))
  const result = await client.readResource({ uri: URI })
  const [content] = result.contents as Array<{ uri: string, mimeType: string, text: string }>
  t.equal(content.uri, URI)
  t.equal(content.mimeType, 'application/json')
  const config = JSON.parse(content.text)
  t.same(config, info)
  t.same(config.scopes, ['tools.read', 'tools.write', 'graph.read', 'mail.read'], 'the configured MCP_SCOPES')
  t.equal(config.endpoints.mcp, `${baseUrl}/mcp`)
  t.notMatch(content.text, /development-only-client-secret|PRIVATE KEY/, 'no client secret, no key')
})

t.test('the same answer for two different callers (it is public)', async t => {
  const read = { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: URI } }
  const a = await post(baseUrl, read, { authorization: `Bearer ${mintToken(baseUrl, 'tools.read', { oid: 'aaaaaaaa-0000-0000-0000-00000000000a', sub: 'a' })}` })
  const b = await post(baseUrl, read, { authorization: `Bearer ${mintToken(baseUrl, 'graph.read', { oid: 'aaaaaaaa-0000-0000-0000-00000000000b', sub: 'b' })}` })
  t.equal(a.status, 200)
  t.equal(a.text, b.text)
  t.notMatch(a.text, /aaaaaaaa-0000/, 'nothing of the caller in it')
})
