// In-process cost of the 2025-era leg for one tools/call (serveMcpRequest on a pooled server over the
// in-process transport), without HTTP or authentication: CPU µs per call, five rounds. The tool's
// work is replaced by a fixed result, so the figure is the SDK's dispatch and our transport.
// Run: node --import tsx bench/legacy-inprocess.ts [checkout]
// With the path of another checkout of this project (its node_modules beside it), measures that
// checkout's leg instead, so two versions can be compared on one machine: e.g. a23df28, the last
// commit on SDK v1 (issue #14), alternated with this one.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'))
const { ServerPool, serveMcpRequest } = await import(join(root, 'mcp/server.ts'))
const { ToolRegistry, loadTools } = await import(join(root, 'mcp/registry.ts'))

const registry = new ToolRegistry()
for (const tool of await loadTools()) registry.add(tool)
const pool = new ServerPool(registry, { name: 'bench', version: '1' })
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const body = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }
// Every field whoami's output schema names, so versions whose schema required them all accept it too.
const output = { name: 'n', username: 'u', email: 'e', oid: 'o', tid: 't', client_id: 'c', subject: 's', scopes: ['tools.read'], roles: [], token_kind: 'self', expires_at: new Date(0).toISOString(), expires_in_seconds: 60 }
const scope = {
  callTool: async () => ({ content: [{ type: 'text', text: JSON.stringify(output) }], structuredContent: output }),
  scopeChallenge: () => undefined
}

async function run (n: number): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    // A new body each call, as each HTTP request brings one.
    const answer = await serveMcpRequest(pool, scope, headers, structuredClone(body), { deadlineMs: 35_000 })
    if (answer.status !== 200 || answer.body?.includes('"structuredContent"') !== true || answer.body.includes('"isError":true')) {
      throw new Error(`unexpected ${answer.status} ${String(answer.body)}`)
    }
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

await run(5000)
const rounds: number[] = []
for (let i = 0; i < 5; i++) rounds.push(await run(10_000))
process.stdout.write(`${root}: 2025-era tools/call in process, CPU µs per call, 5 rounds of 10 000: ${rounds.map(r => r.toFixed(1)).join(' ')}\n`)
