// The 2026-07-28 leg (mcp/modern.ts) on its own, on both of its paths (the direct one and the SDK's
// handler): the client going away reaches the running tool through the exchange's signal, the
// server it used goes back to the pool, and input-required state passes between the paths.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { inputRequired } from '@modelcontextprotocol/server'
import { callerOfContext, createModernLeg } from '../../mcp/modern.ts'
import { createStateCodec, toolInput } from '../../mcp/input-required.ts'
import type { Identity } from '../../plugins/jwt-verify/identity.ts'
import { ToolRegistry, loadTools } from '../../mcp/registry.ts'
import type { RequestScope } from '../../mcp/server.ts'

const registry = new ToolRegistry()
for (const tool of await loadTools()) registry.add(tool)

const call = (id: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } }
})
const fakeRequest = (socket: EventEmitter) => ({
  method: 'POST',
  url: '/mcp',
  raw: { socket },
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'whoami' }
}) as never
const auth = { token: '', clientId: 'c', scopes: ['tools.read'] }

for (const path of ['direct', 'handler'] as const) {
  t.test(`${path} path: a client that goes away mid-call aborts the running tool, and its server is reused`, async t => {
    const leg = createModernLeg(registry, { name: 'test', version: '1' }, () => {})
    t.teardown(leg.close)
    const serve = path === 'direct' ? leg.serve : leg.serveWithHandler
    const pool = path === 'direct' ? leg.directPool : leg.pool
    const socket = new EventEmitter()
    let seen: AbortSignal | undefined
    const started = new Promise<void>(resolve => {
      const scope: RequestScope = {
        callTool: async (_tool, _args, signal) => {
          seen = signal
          resolve()
          await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
          return { content: [{ type: 'text', text: 'late' }] }
        },
        scopeChallenge: () => undefined
      }
      serve(fakeRequest(socket), call(1), scope, auth).catch(() => {})
    })
    await started
    t.equal(seen?.aborted, false)
    socket.emit('close')
    await new Promise(resolve => setImmediate(resolve))
    t.equal(seen?.aborted, true, 'the tool saw the abort')
    t.equal(socket.listenerCount('close'), 0, 'the close listener is removed')
    t.equal(pool.idle, 1, 'the server went back to the pool')

    const answered: RequestScope = { callTool: async () => ({ content: [{ type: 'text', text: 'ok' }] }), scopeChallenge: () => undefined }
    const answer = await serve(fakeRequest(new EventEmitter()), call(2), answered, auth)
    t.equal(answer.status, 200)
    t.match(answer.body, /"id":2/)
    t.equal(pool.created, 1, 'no second server was built')
  })
}

t.test('tools/call goes to the direct path; what it leaves (a wrong Mcp-Name) the handler refuses, the direct server back in its pool', async t => {
  const leg = createModernLeg(registry, { name: 'test', version: '1' }, () => {})
  t.teardown(leg.close)
  const scope: RequestScope = { callTool: async () => ({ content: [{ type: 'text', text: 'ok' }] }), scopeChallenge: () => undefined }
  for (let id = 1; id <= 3; id++) t.equal((await leg.serve(fakeRequest(new EventEmitter()), call(id), scope, auth)).status, 200)
  t.same([leg.directPool.created, leg.pool.created], [1, 0], 'one direct server served three calls')
  const wrong = fakeRequest(new EventEmitter()) as { headers: Record<string, string> }
  wrong.headers['mcp-name'] = 'other'
  const refused = await leg.serve(wrong as never, call(4), scope, auth)
  t.equal(refused.status, 400)
  t.match(refused.body, /"id":4/)
  t.same([leg.directPool.created, leg.pool.created, leg.directPool.idle], [1, 0, 1], 'refused by the handler before its factory')
})

t.test('input-required state minted on one path is accepted on the other (same binding to caller, method and tool)', async t => {
  const codec = createStateCodec(null, callerOfContext)
  const leg = createModernLeg(registry, { name: 'test', version: '1', requestState: codec }, () => {})
  t.teardown(leg.close)
  let seen: unknown
  const identity = { sub: 'user-1', oid: 'o-1', tid: 't-1', scopes: ['tools.read'], roles: [] } as unknown as Identity
  const scope: RequestScope = {
    caller: { identity, log: undefined as never },
    scopeChallenge: () => undefined,
    callTool: async (tool, _args, _signal, context) => {
      const input = toolInput(tool.name, context, codec)
      const state = input.state<{ round: number }>()
      seen = state
      if (state !== undefined) return { content: [{ type: 'text', text: 'answered' }], isError: true }
      return await input.required({ inputRequests: { q: inputRequired.elicit({ message: 'Sure?', requestedSchema: { type: 'object', properties: {} } }) }, state: { round: 1 } })
    }
  }
  const eliciting = (id: number, extra = {}) => {
    const body = call(id)
    return { ...body, params: { ...body.params, ...extra, _meta: { ...body.params._meta, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } } } }
  }
  const retry = (requestState: string) => eliciting(2, { requestState, inputResponses: { q: { action: 'accept', content: {} } } })
  const paths = { direct: leg.serve, handler: leg.serveWithHandler }
  for (const [first, second] of [['direct', 'handler'], ['handler', 'direct']] as const) {
    const asked = await paths[first](fakeRequest(new EventEmitter()), eliciting(1), scope, auth)
    const state = JSON.parse(String(asked.body)).result.requestState
    t.type(state, 'string', `${first}: state minted`)
    seen = undefined
    const answered = await paths[second](fakeRequest(new EventEmitter()), retry(state), scope, auth)
    t.equal(answered.status, 200)
    t.same(seen, { round: 1 }, `minted on the ${first} path, verified and handed to the tool on the ${second} path`)
  }
})
