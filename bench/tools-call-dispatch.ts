// What the SDK's dispatch costs a 2025-era tools/call, and what a dispatch beside it could save
// (issue #14's next step, docs/mcp.md "Speed"): CPU µs per call in process, alternating
//  sdk:    serveMcpRequest, as the service serves it (Protocol: message guards, request context,
//          the tools/call wrapper's request and result validation, McpServer's handler);
//  steps:  the same McpServer's own tools/call steps called directly (validateToolInput, the
//          tool, validateToolOutput, projectCallToolResult), plus a zod pass over the request and
//          the result with the SDK's spec schemas standing in for its codec's validation.
// Not a path of the service: it reads McpServer's private tool table and proves nothing about
// answers beyond the one checked here (the same bytes for whoami). Run:
//   node --import tsx bench/tools-call-dispatch.ts
import { specTypeSchemas } from '@modelcontextprotocol/server'
import { ServerPool, serveMcpRequest, type RequestScope } from '../mcp/server.ts'
import { ToolRegistry, loadTools } from '../mcp/registry.ts'

const registry = new ToolRegistry()
for (const tool of await loadTools()) registry.add(tool)
const pool = new ServerPool(registry, { name: 'bench', version: '1' })
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }
const output = { subject: 's', scopes: ['tools.read'], roles: [], token_kind: 'self', expires_at: new Date(0).toISOString(), expires_in_seconds: 60 }
const scope: RequestScope = {
  callTool: async () => ({ content: [{ type: 'text', text: JSON.stringify(output) }], structuredContent: output }),
  scopeChallenge: () => undefined
}

async function viaSdk (): Promise<string> {
  return (await serveMcpRequest(pool, scope, headers, structuredClone(body), { deadlineMs: 35_000 })).body ?? ''
}

const slot = pool.acquire()
slot.scope = scope
// McpServer's tool table and steps are not typed as public API.
const server = slot.server as unknown as {
  _registeredTools: Record<string, { executor: (args: unknown, ctx: unknown) => Promise<unknown>, outputSchemaJson?: unknown }>
  validateToolInput: (tool: unknown, args: unknown, name: string) => Promise<unknown>
  validateToolOutput: (tool: unknown, result: unknown, name: string) => Promise<void>
  server: { projectCallToolResult: (result: unknown, schema: unknown) => unknown }
}
const neverAborted = new AbortController().signal
// The spec schemas are Standard Schemas (sync): valid when `validate` reports no issues.
const valid = (schema: { '~standard': { validate: (value: unknown) => unknown } }, value: unknown) =>
  (schema['~standard'].validate(value) as { issues?: unknown }).issues === undefined

async function bySteps (): Promise<string> {
  const request = structuredClone(body)
  if (!valid(specTypeSchemas.CallToolRequest, request)) throw new Error('request refused')
  const name = request.params.name
  const tool = server._registeredTools[name]
  const args = await server.validateToolInput(tool, request.params.arguments, name)
  const result = await tool.executor(args, { mcpReq: { id: request.id, method: request.method, signal: neverAborted } })
  await server.validateToolOutput(tool, result, name)
  const projected = server.server.projectCallToolResult(result, tool.outputSchemaJson)
  if (!valid(specTypeSchemas.CallToolResult, projected)) throw new Error('result refused')
  return JSON.stringify({ result: projected, jsonrpc: '2.0', id: request.id })
}

async function cpuPerCall (call: () => Promise<string>, n: number): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) await call()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

const [a, b] = [await viaSdk(), await bySteps()]
if (a !== b) throw new Error(`different answers:\n${a}\n${b}`)
await cpuPerCall(viaSdk, 5000)
await cpuPerCall(bySteps, 5000)
process.stdout.write('2025-era tools/call whoami in process, CPU µs per call (the same answer, byte for byte)\n')
for (let round = 1; round <= 4; round++) {
  const sdk = await cpuPerCall(viaSdk, 10_000)
  const steps = await cpuPerCall(bySteps, 10_000)
  process.stdout.write(`round ${round}: sdk ${sdk.toFixed(1)} µs, steps ${steps.toFixed(1)} µs (${(steps / sdk).toFixed(2)} of sdk)\n`)
}
