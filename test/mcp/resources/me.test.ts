import t from 'tap'
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/client'
import { buildListening } from '../../helper.ts'
import { SIGNING_KEY_PEM, TENANT, auditLines, connectClient, mintToken, post } from '../../support/mcp.ts'

const ME = 'entra-mcp-gateway://me'
const SCOPES_KEY = 'io.github.entra-mcp-gateway/scopes'
const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs })
const read = (id: number | string, uri: string) => ({ jsonrpc: '2.0', id, method: 'resources/read', params: { uri } })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('resources/list shows me with the scopes it needs under _meta, the same key the tools use', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const { resources } = await client.listResources()
  const me = resources.find(r => r.uri === ME)
  t.match(me, { name: 'me', title: 'Signed-in user', mimeType: 'application/json', _meta: { [SCOPES_KEY]: ['tools.read'] } })
  const { tools } = await client.listTools()
  t.ok(tools.every(tool => Array.isArray(tool._meta?.[SCOPES_KEY])), 'tools list theirs under the same key')
})

t.test('reading me gives the caller\'s own identity and granted scopes, and nothing of the token', async t => {
  const token = mintToken(baseUrl, 'tools.read graph.read', { email: 'ada@contoso.example' } as object)
  const client = await connectClient(t, baseUrl, token)
  const result = await client.readResource({ uri: ME })
  t.equal(result.contents.length, 1)
  const [content] = result.contents as Array<{ uri: string, mimeType: string, text: string }>
  t.equal(content.uri, ME)
  t.equal(content.mimeType, 'application/json')
  t.same(JSON.parse(content.text), {
    name: 'Ada Lovelace',
    upn: 'ada@contoso.example',
    email: 'ada@contoso.example',
    oid: 'aaaaaaaa-0000-0000-0000-000000000001',
    tid: TENANT,
    scopes: ['tools.read', 'graph.read'],
    roles: []
  })
  t.notOk(content.text.includes(token.split('.')[1]), 'no part of the token')
  t.notOk(/grant-|sid|test-client/.test(content.text), 'no grant id or session')
})

t.test('a claim the token lacks is left out, not sent as null', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read', { name: undefined, preferred_username: undefined }))
  const body = JSON.parse(((await client.readResource({ uri: ME })).contents[0] as { text: string }).text)
  t.notOk('name' in body)
  t.notOk('upn' in body)
  t.equal(body.oid, 'aaaaaaaa-0000-0000-0000-000000000001')
})

t.test('pooled servers never show one caller another caller\'s identity, in sequence or interleaved', async t => {
  const users = Array.from({ length: 8 }, (_, i) => ({
    oid: `aaaaaaaa-0000-0000-0000-00000000000${i}`,
    token: mintToken(baseUrl, i % 2 === 0 ? 'tools.read' : 'tools.read graph.read', { oid: `aaaaaaaa-0000-0000-0000-00000000000${i}`, name: `User ${i}`, sub: `user-${i}` })
  }))
  const answers = await Promise.all([...users, ...users].map(async (u, i) => ({ u, res: await post(baseUrl, read(i, ME), bearer(u.token)) })))
  for (const { u, res } of answers) {
    const body = JSON.parse(res.json.result.contents[0].text)
    t.equal(body.oid, u.oid)
  }
})

t.test('without tools.read: HTTP 403 insufficient_scope naming granted + needed, audited, nothing read', async t => {
  const res = await post(baseUrl, read(11, ME), bearer(mintToken(baseUrl, 'graph.read')))
  t.equal(res.status, 403)
  const challenge = res.headers.get('www-authenticate') ?? ''
  const parsed = extractWWWAuthenticateParams(new Response(null, { status: 403, headers: { 'www-authenticate': challenge } }))
  t.equal(parsed.error, 'insufficient_scope')
  t.equal(parsed.scope, 'graph.read tools.read', 'what the caller holds, then what me needs (SEP-2350)')
  t.equal(parsed.resourceMetadataUrl?.href, `${baseUrl}/.well-known/oauth-protected-resource/mcp`)
  t.match(challenge, /error_description="The resource entra-mcp-gateway:\/\/me needs the scope tools\.read"/)
  t.match(res.json, { jsonrpc: '2.0', id: 11, error: { code: -32000, data: { required_scopes: ['tools.read'], missing_scopes: ['tools.read'] } } })
  t.notOk(res.text.includes('aaaaaaaa-0000'), 'no identity in the refusal')
  t.match(auditLines(logs, 'scope.denied').find(l => l.resource === ME), { outcome: 'denied', required: ['tools.read'], missing: ['tools.read'] })

  // The stepped-up token (the challenge's scopes) reads it.
  const stepped = await post(baseUrl, read(12, ME), bearer(mintToken(baseUrl, parsed.scope as string)))
  t.equal(stepped.status, 200)
  t.same(JSON.parse(stepped.json.result.contents[0].text).scopes, ['graph.read', 'tools.read'])
})

t.test('another spelling of the URI is still me, and still needs the scope; a different URI is not me', async t => {
  const weak = bearer(mintToken(baseUrl, 'graph.read'))
  const upper = await post(baseUrl, read(21, 'ENTRA-MCP-GATEWAY://me'), weak)
  t.equal(upper.status, 403, 'the scheme in capitals is refused like the exact URI')
  const ok = await post(baseUrl, read(22, 'ENTRA-MCP-GATEWAY://me'), bearer(mintToken(baseUrl, 'tools.read')))
  t.equal(ok.status, 200)
  t.equal(ok.json.result.contents[0].uri, ME)

  for (const [id, uri] of [[23, `${ME}?oid=bbbbbbbb-0000-0000-0000-000000000002`], [24, `${ME}/../someone`], [25, 'entra-mcp-gateway://ME']] as const) {
    const res = await post(baseUrl, read(id, uri), weak)
    t.equal(res.status, 200, `${uri}: not a resource, so no scope applies`)
    t.same({ ...res.json, error: { ...res.json.error, message: undefined } }, { jsonrpc: '2.0', id, error: { code: -32602, message: undefined, data: { uri } } }, `${uri}: -32602 with data.uri (SEP-2164)`)
    t.ok(res.json.error.message.includes(uri), 'the message names the URI')
  }
})
