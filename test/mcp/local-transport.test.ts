// The in-process transport (mcp/local-transport.ts) with pooled servers (mcp/server.ts), without
// HTTP: the answers of the SDK's stateless JSON-response transport, ids never colliding, servers
// connected once and reused, and a request that never finishes not reusing its server.
import t from 'tap'
import * as z from 'zod'
import { defineTool, ToolRegistry } from '../../mcp/registry.ts'
import { ServerPool, serveMcpRequest, toCallToolResult, type RequestScope } from '../../mcp/server.ts'
import { MCP_HEADERS as HEADERS, callTool as call } from '../support/mcp.ts'

const echo = defineTool({
  name: 'echo',
  title: 'Echo',
  description: 'Says who called, after a delay',
  inputSchema: z.object({ delayMs: z.number().optional() }),
  scopes: [],
  async handler () { return {} }
})
let never: () => void = () => {}
const stuck = defineTool({
  name: 'stuck',
  title: 'Stuck',
  description: 'Never answers',
  inputSchema: z.object({}),
  scopes: [],
  handler: async () => await new Promise(resolve => { never = () => resolve({}) })
})

function setup () {
  const registry = new ToolRegistry()
  registry.add(echo)
  registry.add(stuck)
  return new ServerPool(registry, { name: 'test', version: '1' })
}

/** A request scope whose tools answer with `who` (after `delayMs`, when the call asks for it). */
function scopeOf (who: string): RequestScope {
  return {
    async callTool (tool, args) {
      if (tool.name === 'stuck') return toCallToolResult(tool, await tool.handler(args as never, {} as never))
      const delayMs = (args as { delayMs?: number }).delayMs ?? 0
      if (delayMs > 0) await new Promise(resolve => setTimeout(resolve, delayMs))
      return { content: [{ type: 'text', text: who }] }
    }
  }
}

const parse = (body: string | undefined) => JSON.parse(body ?? 'null')

t.test('a batch with the same id twice gets both answers, each under that id, in order', async t => {
  const pool = setup()
  const answer = await serveMcpRequest(pool, scopeOf('a'), HEADERS, [{ jsonrpc: '2.0', id: 7, method: 'ping' }, { jsonrpc: '2.0', id: 7, method: 'tools/list' }], { deadlineMs: 5000 })
  t.equal(answer.status, 200)
  const [ping, list] = parse(answer.body)
  t.same(ping, { jsonrpc: '2.0', id: 7, result: {} })
  t.equal(list.id, 7)
  t.same(list.result.tools.map((tool: { name: string }) => tool.name), ['echo', 'stuck'])
})

t.test('concurrent requests with the same id each get their own answer', async t => {
  const pool = setup()
  const answers = await Promise.all(['a', 'b', 'c'].map((who, i) =>
    serveMcpRequest(pool, scopeOf(who), HEADERS, call(1, 'echo', { delayMs: 30 - i * 10 }), { deadlineMs: 5000 })))
  t.same(answers.map(a => parse(a.body)).map(r => [r.id, r.result.content[0].text]), [[1, 'a'], [1, 'b'], [1, 'c']])
  t.equal(pool.created, 3, 'one server per request in flight')
  await serveMcpRequest(pool, scopeOf('d'), HEADERS, call('x', 'echo'), { deadlineMs: 5000 })
  t.equal(pool.created, 3, 'then reused (connected once)')
})

t.test('transport-level answers, as the SDK transport gives them, with the request id echoed', async t => {
  const pool = setup()
  const serve = (body: unknown, headers: Record<string, string> = HEADERS) => serveMcpRequest(pool, scopeOf('a'), headers, body, { deadlineMs: 5000 })
  const notAcceptable = await serve(call(1, 'echo'), { ...HEADERS, accept: 'application/json' })
  t.equal(notAcceptable.status, 406)
  t.match(parse(notAcceptable.body), { jsonrpc: '2.0', id: 1, error: { code: -32000, message: /Not Acceptable/ } })

  const wrongType = await serve(call(1, 'echo'), { ...HEADERS, 'content-type': 'text/plain' })
  t.equal(wrongType.status, 415)
  t.equal(parse(wrongType.body).id, 1)

  const invalid = await serve({ jsonrpc: '2.0', id: 1, method: 5 })
  t.equal(invalid.status, 400)
  t.match(parse(invalid.body), { id: 1, error: { code: -32700, message: 'Parse error: Invalid JSON-RPC message' } })

  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } } }
  const twoInits = await serve([initialize, { jsonrpc: '2.0', id: 2, method: 'ping' }])
  t.equal(twoInits.status, 400)
  t.match(parse(twoInits.body), { id: null, error: { code: -32600, message: /Only one initialization request/ } }, 'a batch has no single id to echo')

  const badVersion = await serve({ jsonrpc: '2.0', id: 1, method: 'ping' }, { ...HEADERS, 'mcp-protocol-version': '1999-01-01' })
  t.equal(badVersion.status, 400)
  t.match(parse(badVersion.body), {
    id: 1,
    error: { code: -32000, message: /Unsupported protocol version: 1999-01-01/, data: { supported: ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07', '2026-07-28'], requested: '1999-01-01' } }
  })

  const init = await serve(initialize, { ...HEADERS, 'mcp-protocol-version': '1999-01-01' })
  t.equal(init.status, 200, 'the header is not checked on initialize')
  t.match(parse(init.body), { id: 1, result: { protocolVersion: '2025-06-18', serverInfo: { name: 'test' } } })

  const notifications = await serve([{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 99, result: {} }])
  t.same(notifications, { status: 202 }, 'notifications and responses only: 202 without a body')

  const unknown = await serve({ jsonrpc: '2.0', id: 'u', method: 'no/such' })
  t.match(parse(unknown.body), { id: 'u', error: { code: -32601 } })
})

t.test('a request not answered by its deadline fails, and its server is not reused', async t => {
  const pool = setup()
  await t.rejects(serveMcpRequest(pool, scopeOf('a'), HEADERS, call(1, 'stuck'), { deadlineMs: 50 }), /no answer from the MCP server within 50 ms/)
  t.equal(pool.idle, 0, 'not back in the pool')
  never()
  const next = await serveMcpRequest(pool, scopeOf('b'), HEADERS, call(2, 'echo'), { deadlineMs: 5000 })
  t.equal(parse(next.body).result.content[0].text, 'b')
  t.equal(pool.created, 2, 'a new server for the next request')
})
