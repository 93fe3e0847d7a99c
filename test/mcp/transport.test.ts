import t from 'tap'
import { Client, InsufficientScopeError, SdkHttpError, StreamableHTTPClientTransport, extractWWWAuthenticateParams } from '@modelcontextprotocol/client'
import { buildListening } from '../helper.ts'
import { SIGNING_KEY_PEM, auditLines, callTool, connectClient, injectMcp, mintToken, post } from '../support/mcp.ts'

const ALLOWED_ORIGIN = 'https://inspector.example'
const logs: string[] = []
const { baseUrl } = await buildListening(t, {
  TOKEN_SIGNING_KEY: SIGNING_KEY_PEM,
  MCP_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
  LOG_LEVEL: 'info'
}, { logs })
const readToken = mintToken(baseUrl, 'tools.read')
const auth = { authorization: `Bearer ${readToken}` }

async function healthy () {
  const res = await fetch(`${baseUrl}/health`)
  const ping = await post(baseUrl, { jsonrpc: '2.0', id: 'after', method: 'ping' }, auth)
  return { health: res.status, ping: ping.json }
}

t.test('without a token: 401 with a challenge pointing at the resource metadata', async t => {
  const client = new Client({ name: 'anonymous', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`))
  const err = await client.connect(transport).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof SdkHttpError, 'the SDK client fails to connect')
  t.equal((err as SdkHttpError).status, 401)

  const res = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' })
  t.equal(res.status, 401)
  const challenge = res.headers.get('www-authenticate') ?? ''
  t.match(challenge, /^Bearer /)
  t.match(challenge, `resource_metadata="${baseUrl}/.well-known/oauth-protected-resource/mcp"`)

  const bad = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { authorization: 'Bearer not.a.jwt' })
  t.equal(bad.status, 401)
  t.match(bad.headers.get('www-authenticate'), /error="invalid_token"/)
})

t.test('tools/call without the tool\'s scope: HTTP 403 insufficient_scope with granted + needed, then success with a stepped-up token', async t => {
  const client = await connectClient(t, baseUrl, readToken)
  const err = await client.callTool({ name: 'graph_me', arguments: {} }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof InsufficientScopeError, 'the SDK client sees the step-up challenge')
  t.equal((err as InsufficientScopeError).requiredScope, 'tools.read graph.read')

  const res = await post(baseUrl, callTool(7, 'graph_me'), auth)
  t.equal(res.status, 403)
  const challenge = res.headers.get('www-authenticate') ?? ''
  t.match(challenge, /error="insufficient_scope"/)
  t.match(challenge, /scope="tools\.read graph\.read"/)
  t.match(challenge, `resource_metadata="${baseUrl}/.well-known/oauth-protected-resource/mcp"`)
  // What the SDK's own step-up logic reads from that header.
  const parsed = extractWWWAuthenticateParams(new Response(null, { status: 403, headers: { 'www-authenticate': challenge } }))
  t.equal(parsed.error, 'insufficient_scope')
  t.equal(parsed.scope, 'tools.read graph.read')
  t.equal(parsed.resourceMetadataUrl?.href, `${baseUrl}/.well-known/oauth-protected-resource/mcp`)
  t.match(res.json, { jsonrpc: '2.0', id: 7, error: { code: -32000, data: { required_scopes: ['graph.read'], missing_scopes: ['graph.read'] } } })

  const denied = auditLines(logs, 'scope.denied').filter(l => l.tool === 'graph_me')
  t.ok(denied.length >= 1, 'scope.denied audited')
  t.match(denied[0], { outcome: 'denied', missing: ['graph.read'], client_id: 'test-client' })

  // A batch hiding the call is refused the same way.
  const batch = await post(baseUrl, [{ jsonrpc: '2.0', id: 1, method: 'ping' }, callTool(2, 'graph_me')], auth)
  t.equal(batch.status, 403)

  // Stepped up: a token with the scope reaches the tool (which then needs a grant to reach Graph).
  const stepped = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read graph.read'))
  const result = await stepped.callTool({ name: 'graph_me', arguments: {} })
  t.equal(result.isError, true, 'past the scope check: no upstream token service in this app yet, or no Graph consent')
  t.notMatch((result.content as any)[0].text, /scope/)
  const whoami = await stepped.callTool({ name: 'whoami', arguments: {} })
  t.same((whoami.structuredContent as any).scopes, ['tools.read', 'graph.read'])
})

t.test('a batch with several tools lacking scopes gets one challenge naming granted + every scope the batch needs (SEP-2350); each refused tool audited', async t => {
  const { build } = await import('../helper.ts')
  const { defineTool } = await import('../../mcp/registry.ts')
  const z = await import('zod')
  let ran = 0
  const writer = defineTool({ name: 'writer', title: 'Writer', description: 'Needs tools.write (test tool).', inputSchema: z.object({}), scopes: ['tools.write'], handler: () => { ran++; return {} } })
  const batchLogs: string[] = []
  const app = await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs: batchLogs, app: { mcp: { extraTools: [writer] } } })
  const token = mintToken('http://localhost:8000', 'tools.read')
  const res = await injectMcp(app, token, [callTool(1, 'whoami'), callTool(2, 'graph_me'), { jsonrpc: '2.0', id: 3, method: 'ping' }, callTool(4, 'writer'), callTool(5, 'graph_me')])
  t.equal(res.statusCode, 403)
  const challenge = String(res.headers['www-authenticate'])
  t.match(challenge, /error="insufficient_scope"/)
  t.match(challenge, /scope="tools\.read graph\.read tools\.write"/, 'granted, then what graph_me and writer need: one sign-in covers the batch')
  const parsed = extractWWWAuthenticateParams(new Response(null, { status: 403, headers: { 'www-authenticate': challenge } }))
  t.equal(parsed.scope, 'tools.read graph.read tools.write')
  t.match(res.json(), { jsonrpc: '2.0', id: 2, error: { code: -32000, message: /graph_me, writer need the scopes graph\.read tools\.write/, data: { required_scopes: ['graph.read', 'tools.write'], missing_scopes: ['graph.read', 'tools.write'] } } })
  t.equal(ran, 0, 'nothing in the batch ran')
  const denied = auditLines(batchLogs, 'scope.denied')
  t.same(denied.map(l => [l.tool, l.missing]), [['graph_me', ['graph.read']], ['writer', ['tools.write']]], 'one scope.denied per refused tool')

  // With the scopes of the challenge, the same batch runs.
  const stepped = await injectMcp(app, mintToken('http://localhost:8000', parsed.scope as string), [callTool(1, 'whoami'), callTool(4, 'writer')])
  t.equal(stepped.statusCode, 200)
  t.equal(ran, 1)
})

t.test('an app role of the same name satisfies a tool scope', async t => {
  // Self-issued tokens carry scopes only; the rule itself is shared with jwt-verify's requireScopes.
  const { missingScopes } = await import('../../plugins/jwt-verify/rules.ts')
  t.same(missingScopes({ scopes: [], roles: ['tools.read'] }, ['tools.read']), [])
  t.same(missingScopes({ scopes: ['tools.read'], roles: [] }, ['graph.read']), ['graph.read'])
})

t.test('JSON-RPC junk gets the right JSON-RPC error and the process stays healthy', async t => {
  const notJson = await post(baseUrl, '{"jsonrpc": "2.0", "id": 1, "method": ', auth)
  t.equal(notJson.status, 400)
  t.match(notJson.json, { jsonrpc: '2.0', id: null, error: { code: -32700 } })

  const wrongVersion = await post(baseUrl, { jsonrpc: '1.0', id: 3, method: 'ping' }, auth)
  t.equal(wrongVersion.status, 400)
  t.match(wrongVersion.json, { jsonrpc: '2.0', id: 3, error: { code: -32600, message: /jsonrpc must be "2.0"/ } })

  const noMethod = await post(baseUrl, { jsonrpc: '2.0', id: 4 }, auth)
  t.match(noMethod.json, { id: 4, error: { code: -32600 } })

  const scalar = await post(baseUrl, '42', auth)
  t.match(scalar.json, { id: null, error: { code: -32600 } })

  const empty = await post(baseUrl, '[]', auth)
  t.match(empty.json, { error: { code: -32600, message: /empty batch/ } })

  const hugeBatch = await post(baseUrl, Array.from({ length: 10_000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), auth)
  t.equal(hugeBatch.status, 400)
  t.match(hugeBatch.json, { jsonrpc: '2.0', id: null, error: { code: -32600, message: /at most 100/ } })

  const unknown = await post(baseUrl, { jsonrpc: '2.0', id: 5, method: 'no/such/method', params: {} }, auth)
  t.equal(unknown.status, 200)
  t.match(unknown.json, { jsonrpc: '2.0', id: 5, error: { code: -32601 } })

  const unknownTool = await post(baseUrl, callTool(6, 'no_such_tool'), auth)
  t.equal(unknownTool.status, 200)
  t.match(unknownTool.json, { id: 6, error: { code: -32602, message: /Tool no_such_tool not found/ } }, 'SDK v2: an unknown tool is a JSON-RPC error, not an isError result')

  const hugeParams = await post(baseUrl, callTool(8, 'whoami', { blob: 'x'.repeat(2 * 1024 * 1024) }), auth)
  t.equal(hugeParams.status, 413)
  t.match(hugeParams.json, { jsonrpc: '2.0', id: null, error: { code: -32600, message: /larger than/ } })

  const manyElements = await post(baseUrl, callTool(9, 'whoami', { list: Array.from({ length: 12_000 }, () => 0) }), auth)
  t.equal(manyElements.status, 200)
  t.match(manyElements.json, { id: 9, result: { isError: true, content: [{ text: /more than the maximum of 10000 elements/ }] } }, 'argument element count is bounded too')

  const poisoned = await post(baseUrl, '{"jsonrpc":"2.0","id":12,"method":"ping","params":{"__proto__":{"admin":true}}}', auth)
  t.equal(poisoned.status, 400)
  t.match(poisoned.json, { jsonrpc: '2.0', error: { code: -32700 } }, 'prototype poisoning is refused by the parser')

  const badParams = await post(baseUrl, { jsonrpc: '2.0', id: 10, method: 'tools/call', params: 'whoami' }, auth)
  t.match(badParams.json, { id: 10, error: { code: -32600 } })

  const wrongType = await post(baseUrl, { jsonrpc: '2.0', id: 11, method: 'ping' }, { ...auth, 'content-type': 'text/plain' })
  t.equal(wrongType.status, 415)
  t.match(wrongType.json, { jsonrpc: '2.0', error: { code: -32000 } })

  const notification = await post(baseUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, auth)
  t.equal(notification.status, 202, 'notifications are accepted without a body')

  t.same(await healthy(), { health: 200, ping: { jsonrpc: '2.0', id: 'after', result: {} } }, 'the process is healthy and still answers MCP')
})

t.test('MCP-Protocol-Version and Accept are validated by the SDK transport', async t => {
  const bad = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...auth, 'mcp-protocol-version': '1999-01-01' })
  t.equal(bad.status, 400)
  t.match(bad.json, { error: { code: -32000, message: /Unsupported protocol version/ } })

  const accept = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...auth, accept: 'text/html' })
  t.equal(accept.status, 406)
})

t.test('a request from a browser Origin not on the allowlist is refused before anything else', async t => {
  const evil = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...auth, origin: 'https://evil.example' })
  t.equal(evil.status, 403)
  t.match(evil.json, { jsonrpc: '2.0', error: { code: -32000, message: /Origin not allowed/ } })

  const evilNoToken = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { origin: 'http://127.0.0.1.evil.example' })
  t.equal(evilNoToken.status, 403, 'refused before the bearer check')

  const nullOrigin = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...auth, origin: 'null' })
  t.equal(nullOrigin.status, 403)

  const listed = await connectClient(t, baseUrl, readToken, { origin: ALLOWED_ORIGIN })
  t.same(await listed.ping(), {}, 'an allowlisted origin is served')
  const own = await post(baseUrl, { jsonrpc: '2.0', id: 2, method: 'ping' }, { ...auth, origin: baseUrl })
  t.equal(own.status, 200, 'the service\'s own origin is served')
})

t.test('GET and DELETE answer 405 with Allow: POST (stateless)', async t => {
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(`${baseUrl}/mcp`, { method, headers: { ...auth, accept: 'text/event-stream' } })
    t.equal(res.status, 405, method)
    t.equal(res.headers.get('allow'), 'POST')
    t.match(await res.json(), { jsonrpc: '2.0', error: { code: -32000 } })
  }
})

t.test('responses carry the service headers and no session id', async t => {
  const res = await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }, { ...auth, 'x-request-id': 'req-abc-123' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/json')
  t.equal(res.headers.get('x-request-id'), 'req-abc-123')
  t.equal(res.headers.get('mcp-session-id'), null)
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  t.ok(res.headers.get('ratelimit-limit'), 'rate-limit headers')
  t.match(res.json, { id: 1, result: { serverInfo: { name: 'entra-mcp-gateway' }, capabilities: { tools: {} } } })
})

t.test('many concurrent calls from different callers each get their own identity', async t => {
  const tokens = Array.from({ length: 30 }, (_, i) => mintToken(baseUrl, 'tools.read', { oid: `aaaaaaaa-0000-0000-0000-${String(i).padStart(12, '0')}` }))
  const results = await Promise.all(tokens.map((token, i) => post(baseUrl, callTool(i, 'whoami'), { authorization: `Bearer ${token}` })))
  results.forEach((res, i) => {
    t.equal(res.json.id, i)
    t.equal(res.json.result.structuredContent.oid, `aaaaaaaa-0000-0000-0000-${String(i).padStart(12, '0')}`)
  })
})

t.test('a tool still running at the timeout is answered with isError and its signal aborted', async t => {
  const { build } = await import('../helper.ts')
  const { defineTool } = await import('../../mcp/registry.ts')
  const z = await import('zod')
  let aborted = false
  const slow = defineTool({
    name: 'slow',
    title: 'Slow',
    description: 'Never finishes on its own (test tool).',
    inputSchema: z.object({}),
    scopes: ['tools.read'],
    handler: (_args, { signal }) => new Promise(resolve => signal.addEventListener('abort', () => { aborted = true; resolve({}) }))
  })
  // Reads its signal only once the call has timed out: it must be aborted already.
  let lateSignal: AbortSignal | undefined
  let ended: () => void = () => {}
  const late = defineTool({
    name: 'late',
    title: 'Late',
    description: 'Looks at its signal after the timeout (test tool).',
    inputSchema: z.object({}),
    scopes: ['tools.read'],
    handler: async (_args, ctx) => {
      await new Promise<void>(resolve => { ended = resolve })
      lateSignal = ctx.signal
      return {}
    }
  })
  const app = await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }, { app: { mcp: { extraTools: [slow, late], toolTimeoutMs: 200 } } })
  const token = mintToken('http://localhost:8000', 'tools.read')
  const started = Date.now()
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  const res = await injectMcp(app, token, callTool(1, 'slow'), headers)
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: 1, result: { isError: true, content: [{ text: 'The tool slow did not finish within 0.2 s.' }] } })
  t.ok(aborted, 'the handler saw its signal abort')
  t.ok(Date.now() - started < 5000)

  const lateRes = await injectMcp(app, token, callTool(2, 'late'), headers)
  t.match(lateRes.json(), { id: 2, result: { isError: true, content: [{ text: 'The tool late did not finish within 0.2 s.' }] } })
  ended()
  await new Promise(resolve => setImmediate(resolve))
  t.equal(lateSignal?.aborted, true, 'a signal first read after the timeout is already aborted')
})
