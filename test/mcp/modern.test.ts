// MCP 2026-07-28 at /mcp next to the 2025 era: the transport requirements of the revision that
// apply to a stateless tool server, each checked over HTTP against the real app, and with the
// SDK v2 client pinned to each era.
import t from 'tap'
import { InsufficientScopeError } from '@modelcontextprotocol/client'
import { buildListening } from '../helper.ts'
import { SIGNING_KEY_PEM, auditLines, callTool, connectClient, mintToken, post } from '../support/mcp.ts'

const MODERN = '2026-07-28'
const ALLOWED_ORIGIN = 'https://inspector.example'
const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, MCP_ALLOWED_ORIGINS: ALLOWED_ORIGIN, LOG_LEVEL: 'info' }, { logs })
const readToken = mintToken(baseUrl, 'tools.read')
const auth = { authorization: `Bearer ${readToken}` }

const envelope = (version = MODERN) => ({
  'io.modelcontextprotocol/protocolVersion': version,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }
})

/** A 2026-07-28 request as a conforming client sends it: `_meta` envelope, version and method headers. */
function modern (id: number | string, method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const name: Record<string, string> = typeof params.name === 'string' ? { 'mcp-name': params.name } : {}
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope() } }
  return post(baseUrl, body, { ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': method, ...name, ...headers })
}

/** Every `type` keyword in a JSON schema that holds an array (e.g. ["string", "null"]). */
function typeArrays (schema: unknown, path = '$'): string[] {
  if (typeof schema !== 'object' || schema === null) return []
  const found: string[] = []
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'type' && Array.isArray(value)) found.push(`${path}.type = ${JSON.stringify(value)}`)
    found.push(...typeArrays(value, `${path}.${key}`))
  }
  return found
}

t.test('one URL serves both eras: the v2 client pinned to 2026-07-28 and a 2025-11-25 client list and call tools', async t => {
  const current = await connectClient(t, baseUrl, readToken, {}, MODERN)
  t.equal(current.getNegotiatedProtocolVersion(), MODERN)
  t.ok((await current.listTools()).tools.some(tool => tool.name === 'whoami'))
  const called = await current.callTool({ name: 'whoami', arguments: {} })
  t.match(called.structuredContent, { subject: 'user-1', scopes: ['tools.read'] })

  const legacy = await connectClient(t, baseUrl, readToken)
  t.equal(legacy.getNegotiatedProtocolVersion(), '2025-11-25')
  t.match((await legacy.callTool({ name: 'whoami', arguments: {} })).structuredContent, { subject: 'user-1' })
})

t.test('server/discover names the revision, the real capabilities (tools, resources, prompts; listChanged false) and the server', async t => {
  const res = await modern(1, 'server/discover')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/json/)
  t.same(res.json.result.supportedVersions, [MODERN])
  t.same(res.json.result.capabilities, { tools: { listChanged: false }, resources: { listChanged: false }, prompts: { listChanged: false } })
  t.match(res.json.result._meta['io.modelcontextprotocol/serverInfo'], { name: 'entra-mcp-gateway' })
  t.equal(res.json.id, 1)
})

t.test('list results carry cache hints on 2026-07-28 and not on 2025', async t => {
  const list = await modern(2, 'tools/list')
  t.equal(list.status, 200)
  t.match(list.json.result, { resultType: 'complete', ttlMs: 60_000, cacheScope: 'private' })
  const discover = await modern(3, 'server/discover')
  t.match(discover.json.result, { ttlMs: 60_000, cacheScope: 'public' })
  const old = await post(baseUrl, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, auth)
  t.equal(old.status, 200)
  t.notOk('ttlMs' in old.json.result, 'a 2025 answer keeps its 2025 shape')
})

t.test('an unsupported revision: 400 -32022 with the supported and requested versions, id echoed', async t => {
  const body = { jsonrpc: '2.0', id: 'v', method: 'tools/list', params: { _meta: envelope('2027-01-01') } }
  const res = await post(baseUrl, body, { ...auth, 'mcp-protocol-version': '2027-01-01', 'mcp-method': 'tools/list' })
  t.equal(res.status, 400)
  t.match(res.json, { id: 'v', error: { code: -32022, data: { supported: [MODERN], requested: '2027-01-01' } } })

  const legacyHeader = await post(baseUrl, { jsonrpc: '2.0', id: 'w', method: 'tools/list' }, { ...auth, 'mcp-protocol-version': '1999-01-01' })
  t.equal(legacyHeader.status, 400)
  t.match(legacyHeader.json, { id: 'w', error: { data: { requested: '1999-01-01' } } })
  t.ok(legacyHeader.json.error.data.supported.includes(MODERN) && legacyHeader.json.error.data.supported.includes('2025-11-25'))
})

t.test('standard headers are validated: Mcp-Method and Mcp-Name must match the body (400 -32020, id echoed)', async t => {
  const noMethod = await post(baseUrl, { jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: envelope() } }, { ...auth, 'mcp-protocol-version': MODERN })
  t.equal(noMethod.status, 400)
  t.match(noMethod.json, { id: 5, error: { code: -32020 } })

  const wrongName = await modern(6, 'tools/call', { name: 'whoami', arguments: {} }, { 'mcp-name': 'graph_me' })
  t.equal(wrongName.status, 400)
  t.match(wrongName.json, { id: 6, error: { code: -32020 } })

  const wrongVersion = await modern(7, 'tools/list', {}, { 'mcp-protocol-version': '2025-11-25' })
  t.equal(wrongVersion.status, 400, 'header and _meta disagree')
  t.match(wrongVersion.json, { id: 7, error: { code: -32020 } })

  const caseAndSpace = await post(baseUrl, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'whoami', arguments: {}, _meta: envelope() } },
    { ...auth, 'mcp-protocol-version': MODERN, 'MCP-METHOD': 'tools/call', 'Mcp-Name': ' whoami ' })
  t.equal(caseAndSpace.status, 200, 'header names are case-insensitive, values trimmed')
  t.equal(caseAndSpace.json.id, 8)
})

t.test('methods the revision removed answer 404 -32601 with the id', async t => {
  for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'no/such']) {
    const res = await modern(method, method, method === 'logging/setLevel' ? { level: 'info' } : method.startsWith('resources/') ? { uri: 'x:y' } : {})
    t.equal(res.status, 404, method)
    t.match(res.json, { id: method, error: { code: -32601 } }, method)
  }
})

t.test('a request missing the envelope pieces is 400 -32602; an unknown tool is -32602 with the id', async t => {
  const noCaps = await post(baseUrl, { jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } },
    { ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' })
  t.equal(noCaps.status, 400)
  t.match(noCaps.json, { id: 9, error: { code: -32602 } })

  const unknown = await modern(10, 'tools/call', { name: 'no_such_tool', arguments: {} })
  t.match(unknown.json, { id: 10, error: { code: -32602, message: /no_such_tool/ } })
})

t.test('GET and DELETE are 405 with Allow: POST, after authentication', async t => {
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(`${baseUrl}/mcp`, { method, headers: { ...auth, 'mcp-protocol-version': MODERN } })
    t.equal(res.status, 405)
    t.equal(res.headers.get('allow'), 'POST')
  }
  const anonymous = await fetch(`${baseUrl}/mcp`, { method: 'GET' })
  t.equal(anonymous.status, 401)
})

t.test('batches are 2025-only: one with a 2026-07-28 element is refused, an all-2025 batch is served', async t => {
  const mixed = await post(baseUrl, [
    { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope() } },
    { jsonrpc: '2.0', id: 2, method: 'tools/list' }
  ], auth)
  t.equal(mixed.status, 400)
  t.match(mixed.json, { id: null, error: { code: -32600, message: /batches/ } })

  const old = await post(baseUrl, [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, callTool(2, 'whoami')], auth)
  t.equal(old.status, 200)
  t.same(old.json.map((r: { id: number }) => r.id), [1, 2])
})

t.test('a notification on 2026-07-28 is accepted with 202', async t => {
  const res = await post(baseUrl, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: envelope() } },
    { ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'notifications/cancelled' })
  t.equal(res.status, 202)
})

t.test('our hooks run first on 2026-07-28: no token is 401, a foreign Origin is 403, before any MCP answer', async t => {
  const body = { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: envelope() } }
  const headers = { 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' }
  const anonymous = await post(baseUrl, body, headers)
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer /)
  const foreign = await post(baseUrl, body, { ...headers, ...auth, origin: 'https://evil.example' })
  t.equal(foreign.status, 403)
  const allowed = await post(baseUrl, body, { ...headers, ...auth, origin: ALLOWED_ORIGIN })
  t.equal(allowed.status, 200)
})

t.test('a missing scope is the same 403 step-up on both eras, audited, with the id', async t => {
  const before = auditLines(logs, 'scope.denied').length
  const expectChallenge = (res: Awaited<ReturnType<typeof post>>, id: number) => {
    t.equal(res.status, 403)
    const challenge = res.headers.get('www-authenticate') ?? ''
    t.match(challenge, /error="insufficient_scope"/)
    t.match(challenge, /scope="tools\.read graph\.read"/)
    t.match(challenge, `resource_metadata="${baseUrl}/.well-known/oauth-protected-resource/mcp"`)
    t.match(res.json, { jsonrpc: '2.0', id, error: { code: -32000, data: { required_scopes: ['graph.read'], missing_scopes: ['graph.read'] } } })
  }
  expectChallenge(await modern(11, 'tools/call', { name: 'graph_me', arguments: {} }), 11)
  expectChallenge(await post(baseUrl, callTool(12, 'graph_me'), auth), 12)
  const denied = auditLines(logs, 'scope.denied').slice(before)
  t.equal(denied.length, 2, 'one audit line per refused request, whatever the era')
  t.match(denied[0], { tool: 'graph_me', missing: ['graph.read'] })

  const badName = await modern(13, 'tools/call', { name: 'graph_me', arguments: {} }, { 'mcp-name': 'whoami' })
  t.equal(badName.status, 400, 'header validation comes before the scope check on 2026-07-28')

  for (const era of [MODERN, 'legacy'] as const) {
    const client = await connectClient(t, baseUrl, readToken, {}, era)
    const err = await client.callTool({ name: 'graph_me', arguments: {} }).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof InsufficientScopeError, `${era}: the v2 client sees insufficient_scope`)
    t.equal((err as InsufficientScopeError).requiredScope, 'tools.read graph.read')
  }
})

t.test('pooled servers keep eras and callers apart when requests alternate', async t => {
  const who = (sub: string) => mintToken(baseUrl, 'tools.read', { sub })
  for (let round = 0; round < 3; round++) {
    const a = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {}, _meta: envelope() } },
      { authorization: `Bearer ${who(`modern-${round}`)}`, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'whoami' })
    t.equal(a.json.result.structuredContent.subject, `modern-${round}`)
    t.equal(a.json.result.resultType, 'complete')
    const b = await post(baseUrl, callTool(2, 'whoami'), { authorization: `Bearer ${who(`legacy-${round}`)}` })
    t.equal(b.json.result.structuredContent.subject, `legacy-${round}`)
    t.notOk('resultType' in b.json.result, 'a 2025 answer after a 2026 one has no 2026 fields')
  }
})

t.test('tool output and input schemas use no type arrays (optional fields instead of null unions)', async t => {
  for (const res of [await modern(20, 'tools/list'), await post(baseUrl, { jsonrpc: '2.0', id: 21, method: 'tools/list' }, auth)]) {
    const tools = res.json.result.tools as Array<{ name: string, inputSchema: unknown, outputSchema?: unknown }>
    t.ok(tools.length >= 3)
    for (const tool of tools) t.same([...typeArrays(tool.inputSchema), ...typeArrays(tool.outputSchema)], [], tool.name)
  }
})

t.test('subscriptions/listen is the SDK\'s stream: acknowledged first, and its server goes back to the pool', async t => {
  const aborted = new AbortController()
  const res = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    signal: aborted.signal,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth, 'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'l', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: envelope() } })
  })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const reader = res.body!.getReader()
  const first = new TextDecoder().decode((await reader.read()).value)
  t.match(first, /notifications\/subscriptions\/acknowledged/)
  aborted.abort()
  await reader.cancel().catch(() => {})
  const after = await modern(30, 'tools/list')
  t.equal(after.status, 200, 'the service answers on after the stream is dropped')
})
