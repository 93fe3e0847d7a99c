// In-process cost of the 2026-07-28 leg (mcp/modern.ts) for one tools/call, without HTTP or auth:
// CPU µs per call (the machine is shared: CPU time moves less than wall time), alternating the
// direct path (createModernLeg().serve, mcp/modern-direct.ts) and the SDK's handler
// (serveWithHandler), and heap after. Run: node --expose-gc --import tsx bench/modern-inprocess.ts
import { createModernLeg } from '../mcp/modern.ts'
import { ToolRegistry, loadTools } from '../mcp/registry.ts'
import type { RequestScope } from '../mcp/server.ts'

const registry = new ToolRegistry()
for (const tool of await loadTools()) registry.add(tool)
const leg = createModernLeg(registry, { name: 'bench', version: '1' }, () => {})
const body = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } }
}
const request = {
  method: 'POST',
  url: '/mcp',
  raw: { socket: undefined },
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'whoami', authorization: 'Bearer x' }
}
// A structured result whoami's output schema accepts, so the SDK takes the success path.
const output = { subject: 'u', scopes: ['tools.read'], roles: [], token_kind: 'self', expires_at: new Date(0).toISOString(), expires_in_seconds: 60 }
const scope: RequestScope = {
  callTool: async () => ({ content: [{ type: 'text', text: JSON.stringify(output) }], structuredContent: output }),
  scopeChallenge: () => undefined
}
async function run (n: number, serve = leg.serve): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const answer = await serve(request as never, body, scope, { token: '', clientId: 'c', scopes: ['tools.read'] })
    if (answer.status !== 200 || typeof answer.body !== 'string' || !answer.body.includes('"structuredContent"') || answer.body.includes('"isError":true')) throw new Error(`unexpected ${answer.status} ${String(answer.body)}`)
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}
await run(5000)
await run(5000, leg.serveWithHandler)
const N = Number(process.env.N ?? 30000)
for (let i = 0; i < 3; i++) {
  process.stdout.write(`direct path: CPU ${(await run(N)).toFixed(1)} µs/call\n`)
  process.stdout.write(`createMcpHandler: CPU ${(await run(N, leg.serveWithHandler)).toFixed(1)} µs/call\n`)
}
// With --expose-gc, the heap that stays after a full collection (what the calls retain).
const gc = (globalThis as { gc?: () => void }).gc
if (gc !== undefined) gc()
process.stdout.write(`heap${gc !== undefined ? ' after gc' : ''} ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, servers created: direct ${leg.directPool.created}, handler ${leg.pool.created}\n`)
await leg.close()
