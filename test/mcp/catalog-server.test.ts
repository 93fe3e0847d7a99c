// Resources and prompts on both eras of /mcp: 2026-07-28 requests (the SDK's handler, its own
// scope challenge turned into our 403) and 2025 ones (our pre-check), through the real HTTP route.
import t from 'tap'
import { buildListening } from '../helper.ts'
import { defineResource } from '../../mcp/catalog.ts'
import { SIGNING_KEY_PEM, auditLines, mintToken, post } from '../support/mcp.ts'

const MODERN = '2026-07-28'
const SCOPES_KEY = 'io.github.entra-mcp-gateway/scopes'
const ME = 'entra-mcp-gateway://me'
const CONFIG = 'entra-mcp-gateway://service-config'
const broken = defineResource({
  name: 'broken',
  uri: 'test://broken',
  title: 'Broken',
  description: 'Always fails (test resource).',
  scopes: [],
  cacheHint: { ttlMs: 0, cacheScope: 'private' },
  read: () => { throw new Error('secret detail from inside the handler') }
})
const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs, app: { mcp: { extraResources: [broken] } } })
const bearer = (scope: string) => ({ authorization: `Bearer ${mintToken(baseUrl, scope)}` })

/** A 2026-07-28 request as a conforming client sends it: `_meta` envelope, version, method and name headers. */
function modern (scope: string, id: number | string, method: string, params: Record<string, unknown> = {}) {
  const target = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined
  const body = {
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } }
  }
  return post(baseUrl, body, { ...bearer(scope), 'mcp-protocol-version': MODERN, 'mcp-method': method, ...(target !== undefined ? { 'mcp-name': target } : {}) })
}

t.test('2026-07-28: server/discover declares resources and prompts, listChanged false (nothing is added at run time)', async t => {
  const res = await modern('tools.read', 1, 'server/discover')
  t.equal(res.status, 200)
  t.same(res.json.result.capabilities.resources, { listChanged: false })
  t.same(res.json.result.capabilities.prompts, { listChanged: false })
})

t.test('2025: initialize declares the same capabilities', async t => {
  const res = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }, bearer('tools.read'))
  t.equal(res.status, 200)
  t.same(res.json.result.capabilities.resources, { listChanged: false })
  t.same(res.json.result.capabilities.prompts, { listChanged: false })
})

t.test('2026-07-28: resources/list and prompts/list carry each item\'s scopes under _meta and the list cache hints', async t => {
  const resources = await modern('tools.read', 2, 'resources/list')
  t.equal(resources.status, 200)
  t.match(resources.json.result, { ttlMs: Number, cacheScope: /^(public|private)$/ })
  const byUri = new Map(resources.json.result.resources.map((r: any) => [r.uri, r]))
  t.match(byUri.get(ME), { name: 'me', _meta: { [SCOPES_KEY]: ['tools.read'] } })
  t.match(byUri.get(CONFIG), { name: 'service-config', _meta: { [SCOPES_KEY]: [] } })
  t.notOk('cacheHint' in (byUri.get(ME) as object), 'the hint is not listed as a resource field')
  const prompts = await modern('tools.read', 3, 'prompts/list')
  t.equal(prompts.status, 200)
  t.match(prompts.json.result, { ttlMs: Number, cacheScope: /^(public|private)$/ })
  t.match(prompts.json.result.prompts, [{ name: 'available-tools', _meta: { [SCOPES_KEY]: ['tools.read'] } }])
})

t.test('2026-07-28: resources/read answers with each resource\'s own cache hint', async t => {
  const me = await modern('tools.read', 4, 'resources/read', { uri: ME })
  t.equal(me.status, 200)
  t.match(me.json.result, { ttlMs: 0, cacheScope: 'private' })
  t.equal(JSON.parse(me.json.result.contents[0].text).oid, 'aaaaaaaa-0000-0000-0000-000000000001')
  const config = await modern('tools.read', 5, 'resources/read', { uri: CONFIG })
  t.match(config.json.result, { ttlMs: 300_000, cacheScope: 'public' })
  t.equal(JSON.parse(config.json.result.contents[0].text).endpoints.mcp, `${baseUrl}/mcp`)
})

t.test('2026-07-28 and 2025 interleaved: each caller reads its own identity from the pooled servers', async t => {
  const users = Array.from({ length: 6 }, (_, i) => ({ oid: `bbbbbbbb-0000-0000-0000-00000000000${i}`, sub: `u${i}` }))
  const body = (id: number) => ({ jsonrpc: '2.0', id, method: 'resources/read', params: { uri: ME, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } } })
  const answers = await Promise.all([...users, ...users].map(async (u, i) => {
    const auth = { authorization: `Bearer ${mintToken(baseUrl, 'tools.read', u)}` }
    const res = i % 2 === 0
      ? await post(baseUrl, body(i), { ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'resources/read', 'mcp-name': ME })
      : await post(baseUrl, { jsonrpc: '2.0', id: i, method: 'resources/read', params: { uri: ME } }, auth)
    return { u, res }
  }))
  for (const { u, res } of answers) t.equal(JSON.parse(res.json.result.contents[0].text).oid, u.oid)
})

t.test('2026-07-28: prompts/get answers the prompt for this caller', async t => {
  const res = await modern('tools.read', 6, 'prompts/get', { name: 'available-tools' })
  t.equal(res.status, 200)
  t.match(res.json.result.messages[0].content.text, /Tools that need another sign-in \(step-up\) first:\n- graph_me /)
})

for (const [what, method, params, kind, label] of [
  ['resources/read of me', 'resources/read', { uri: ME }, 'resource', ME],
  ['prompts/get of available-tools', 'prompts/get', { name: 'available-tools' }, 'prompt', 'available-tools']
] as const) {
  t.test(`2026-07-28: ${what} without tools.read is HTTP 403 insufficient_scope naming granted + needed, with the id, audited`, async t => {
    const res = await modern('graph.read', `deny-${kind}`, method, params)
    t.equal(res.status, 403)
    const challenge = res.headers.get('www-authenticate') ?? ''
    t.match(challenge, /^Bearer /)
    t.match(challenge, /error="insufficient_scope"/)
    t.match(challenge, /scope="graph\.read tools\.read"/)
    t.match(challenge, `resource_metadata="${baseUrl}/.well-known/oauth-protected-resource/mcp"`)
    t.match(res.json, { jsonrpc: '2.0', id: `deny-${kind}`, error: { code: -32000, data: { required_scopes: ['tools.read'], missing_scopes: ['tools.read'] } } })
    t.ok(auditLines(logs, 'scope.denied').some(l => l[kind] === label), 'scope.denied audited')
  })
}

t.test('unknown resource URI: -32602 with data.uri on both eras (SEP-2164), never a 403', async t => {
  const uri = 'entra-mcp-gateway://someone-else'
  const current = await modern('graph.read', 7, 'resources/read', { uri })
  t.equal(current.status, 200)
  t.match(current.json, { jsonrpc: '2.0', id: 7, error: { code: -32602, data: { uri } } })
  t.notOk('result' in current.json, 'no contents')
  const legacy = await post(baseUrl, { jsonrpc: '2.0', id: 8, method: 'resources/read', params: { uri } }, bearer('graph.read'))
  t.equal(legacy.status, 200)
  t.match(legacy.json, { jsonrpc: '2.0', id: 8, error: { code: -32602, data: { uri } } })
})

t.test('a resource that throws: a generic error for the caller, the detail only in the log', async t => {
  for (const res of [
    await modern('tools.read', 9, 'resources/read', { uri: 'test://broken' }),
    await post(baseUrl, { jsonrpc: '2.0', id: 10, method: 'resources/read', params: { uri: 'test://broken' } }, bearer('tools.read'))
  ]) {
    t.equal(res.status, 200)
    t.match(res.json.error, { code: -32603, message: 'Reading test://broken failed unexpectedly' })
    t.notMatch(res.text, /secret detail/)
  }
  t.ok(logs.some(l => l.includes('secret detail from inside the handler') && l.includes('MCP resource or prompt failed')), 'logged')
})
