// The direct 2026-07-28 path (mcp/modern-direct.ts) answers exactly as createMcpHandler does: the
// same requests go to two apps, one with the direct path and one sending every 2026-07-28 request
// through the SDK's handler, and their answers (status, headers that matter, JSON body) must be
// equal. Any divergence fails here.
import t, { type Test } from 'tap'
import * as z from 'zod'
import { inputRequired } from '@modelcontextprotocol/server'
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.ts'
import { SIGNING_KEY_PEM, auditLines, mintToken } from '../support/mcp.ts'
import { defineTool, ToolError } from '../../mcp/registry.ts'

const MODERN = '2026-07-28'
const BASE = 'http://localhost:8000'

const echo = defineTool({
  name: 'echo',
  title: 'Echo',
  description: 'Returns its text (test tool).',
  inputSchema: z.object({ text: z.string().max(20) }),
  outputSchema: z.object({ text: z.string() }),
  scopes: ['tools.read'],
  handler: ({ text }) => ({ text })
})
const refuses = defineTool({
  name: 'refuses',
  title: 'Refuses',
  description: 'Always fails with a message for the caller (test tool).',
  inputSchema: z.object({}),
  scopes: ['tools.read'],
  handler: () => { throw new ToolError('No, not today.') }
})
const wrongOutput = defineTool({
  name: 'wrong_output',
  title: 'Wrong output',
  description: 'Returns what its output schema refuses (test tool).',
  inputSchema: z.object({}),
  outputSchema: z.object({ n: z.number() }),
  scopes: ['tools.read'],
  handler: () => ({ n: 'not a number' }) as never
})
const answer = z.object({ ok: z.boolean() })
const asks = defineTool({
  name: 'asks',
  title: 'Asks',
  description: 'Asks a yes/no question, then answers with what it was told (test tool).',
  inputSchema: z.object({}),
  scopes: ['tools.read'],
  async handler (_args, ctx) {
    const state = ctx.input.state<{ round: number }>()
    if (state !== undefined) return { ok: ctx.input.accepted('q', answer)?.ok ?? false, round: state.round }
    return await ctx.input.required({
      inputRequests: { q: inputRequired.elicit({ message: 'Sure?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } }) },
      state: { round: 1 }
    })
  }
})
const tools = [echo, refuses, wrongOutput, asks]

async function app (direct: boolean, logs: string[]): Promise<FastifyInstance> {
  return await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs, app: { mcp: { extraTools: tools, directModernPath: direct } } })
}
const directLogs: string[] = []
const handlerLogs: string[] = []
const withDirect = await app(true, directLogs)
const withHandler = await app(false, handlerLogs)
const reader = mintToken(BASE, 'tools.read')

const envelope = (version = MODERN, caps: object = { elicitation: { form: {} } }) => ({
  'io.modelcontextprotocol/protocolVersion': version,
  'io.modelcontextprotocol/clientCapabilities': caps,
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }
})

interface Sent { body: unknown, headers?: Record<string, string | undefined>, token?: string }

/** A conforming 2026-07-28 request: `_meta` envelope and the standard headers; `headers` overrides (undefined drops one). */
function request (id: unknown, method: string, params: Record<string, unknown> = {}, headers: Record<string, string | undefined> = {}, meta: object = envelope()): Sent {
  const name = typeof params.name === 'string' ? { 'mcp-name': params.name } : {}
  return {
    body: { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } },
    headers: { 'mcp-protocol-version': MODERN, 'mcp-method': method, ...name, ...headers }
  }
}

/** What a client sees of one answer; the state a client echoes is sealed with a fresh IV, so only its presence is compared. */
async function answerOf (target: FastifyInstance, sent: Sent) {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${sent.token ?? reader}` }
  for (const [name, value] of Object.entries(sent.headers ?? {})) {
    if (value === undefined) delete headers[name]
    else headers[name] = value
  }
  const res = await target.inject({ method: 'POST', url: '/mcp', headers, payload: typeof sent.body === 'string' ? sent.body : JSON.stringify(sent.body) })
  let body: any = res.body
  try { body = JSON.parse(res.body) } catch {}
  const state = body?.result?.requestState
  if (typeof state === 'string') body.result.requestState = '(sealed)'
  return {
    answer: { status: res.statusCode, contentType: res.headers['content-type'], challenge: res.headers['www-authenticate'], allow: res.headers.allow, body },
    state
  }
}

/** Sends `sent` to both apps and requires the same answer; returns it. */
async function same (t: Test, label: string, sent: Sent) {
  const direct = await answerOf(withDirect, sent)
  const handler = await answerOf(withHandler, sent)
  t.same(direct.answer, handler.answer, label)
  return { direct, handler }
}

t.test('successful calls, lists and discovery are answered the same', async t => {
  await same(t, 'tools/call echo', request(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' } }))
  await same(t, 'tools/call whoami (a shipped tool)', request('s-1', 'tools/call', { name: 'whoami', arguments: {} }))
  await same(t, 'id 0', request(0, 'tools/call', { name: 'echo', arguments: { text: 'zero' } }))
  await same(t, 'tools/list', request(2, 'tools/list'))
  await same(t, 'server/discover', request(3, 'server/discover'))
  await same(t, 'no client capabilities declared', request(4, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, {}, envelope(MODERN, {})))
  await same(t, 'Content-Type with a charset', request(5, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'content-type': 'application/json; charset=utf-8' }))
  await same(t, 'Mcp-Name with spaces around it', request(6, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': ' echo\t' }))
  await same(t, 'Mcp-Name in the Base64 sentinel form', request(7, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` }))
})

t.test('tool and argument errors are answered the same', async t => {
  await same(t, 'unknown tool', request(10, 'tools/call', { name: 'no_such_tool', arguments: {} }))
  await same(t, 'argument of the wrong type', request(11, 'tools/call', { name: 'echo', arguments: { text: 5 } }))
  await same(t, 'argument too long', request(12, 'tools/call', { name: 'echo', arguments: { text: 'x'.repeat(50) } }))
  await same(t, 'arguments missing', request(13, 'tools/call', { name: 'echo' }))
  await same(t, 'arguments not an object', request(14, 'tools/call', { name: 'echo', arguments: 'text' }))
  await same(t, 'name not a string', request(15, 'tools/call', { name: 7, arguments: {} }))
  await same(t, 'a ToolError', request(16, 'tools/call', { name: 'refuses', arguments: {} }))
  await same(t, 'output refused by the output schema', request(17, 'tools/call', { name: 'wrong_output', arguments: {} }))
  await same(t, 'tools/list with a bad cursor type', request(18, 'tools/list', { cursor: 5 }))
})

t.test('header and version refusals are answered the same, the id echoed', async t => {
  const call = (headers: Record<string, string | undefined>, meta?: object) => request(20, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, headers, meta)
  await same(t, 'Mcp-Name missing', call({ 'mcp-name': undefined }))
  await same(t, 'Mcp-Name of another tool', call({ 'mcp-name': 'refuses' }))
  await same(t, 'Mcp-Name with a bad Base64 sentinel', call({ 'mcp-name': '=?base64?!!!?=' }))
  await same(t, 'Mcp-Method missing', call({ 'mcp-method': undefined }))
  await same(t, 'Mcp-Method of another method', call({ 'mcp-method': 'tools/list' }))
  await same(t, 'MCP-Protocol-Version missing', call({ 'mcp-protocol-version': undefined }))
  await same(t, 'MCP-Protocol-Version of 2025', call({ 'mcp-protocol-version': '2025-11-25' }))
  await same(t, 'an unsupported revision in _meta and header', call({ 'mcp-protocol-version': '2027-01-01' }, envelope('2027-01-01')))
  await same(t, 'an unsupported revision in _meta only', call({}, envelope('2027-01-01')))
  await same(t, 'the envelope without client capabilities', call({}, { 'io.modelcontextprotocol/protocolVersion': MODERN }))
  await same(t, 'client capabilities not an object', call({}, { ...envelope(), 'io.modelcontextprotocol/clientCapabilities': 'all' }))
  await same(t, 'Content-Type not JSON', { ...call({ 'content-type': 'text/plain' }) })
  await same(t, 'tools/list with Mcp-Method missing', request(21, 'tools/list', {}, { 'mcp-method': undefined }))
  await same(t, 'server/discover with an Mcp-Name', request(22, 'server/discover', {}, { 'mcp-name': 'whatever' }))
})

t.test('JSON-RPC shape refusals are answered the same', async t => {
  await same(t, 'params an array', { body: { jsonrpc: '2.0', id: 30, method: 'tools/list', params: [] }, headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' } })
  await same(t, 'a wrong jsonrpc version', { body: { jsonrpc: '1.0', id: 31, method: 'tools/list', params: { _meta: envelope() } }, headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' } })
  await same(t, 'an id that is an object', { body: { jsonrpc: '2.0', id: {}, method: 'tools/list', params: { _meta: envelope() } }, headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' } })
  await same(t, 'an extra top-level member', { body: { jsonrpc: '2.0', id: 32, method: 'tools/list', params: { _meta: envelope() }, extra: true }, headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' } })
  await same(t, 'a body that is not JSON', { body: '{"jsonrpc":', headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' } })
})

t.test('a missing scope is the same 403 step-up, audited once by each', async t => {
  const before = [auditLines(directLogs, 'scope.denied').length, auditLines(handlerLogs, 'scope.denied').length]
  const { direct } = await same(t, 'graph_me without graph.read', request(40, 'tools/call', { name: 'graph_me', arguments: {} }))
  t.equal(direct.answer.status, 403)
  t.match(direct.answer.challenge, /error="insufficient_scope"/)
  t.equal(auditLines(directLogs, 'scope.denied').length - before[0], 1)
  t.equal(auditLines(handlerLogs, 'scope.denied').length - before[1], 1)
  await same(t, 'a wrong Mcp-Name comes before the scope check', request(41, 'tools/call', { name: 'graph_me', arguments: {} }, { 'mcp-name': 'echo' }))
})

t.test('input-required rounds are answered the same, and each app accepts only its own state', async t => {
  const first = await same(t, 'first round: the question and a sealed state', request(50, 'tools/call', { name: 'asks', arguments: {} }))
  t.match(first.direct.answer.body.result, { resultType: 'input_required', inputRequests: { q: { method: 'elicitation/create' } } })
  const yes = { q: { action: 'accept', content: { ok: true } } }
  const retry = (state: string) => request(51, 'tools/call', { name: 'asks', arguments: {}, inputResponses: yes, requestState: state })
  const direct = await answerOf(withDirect, retry(first.direct.state))
  const handler = await answerOf(withHandler, retry(first.handler.state))
  t.same(direct.answer, handler.answer, 'the retry with the answer')
  t.same(JSON.parse(direct.answer.body.result.content[0].text), { ok: true, round: 1 }, 'the tool saw the answer and its own state')

  await same(t, 'a tampered state', retry(`${String(first.direct.state).slice(0, -4)}AAAA`))
  const other = mintToken(BASE, 'tools.read', { sub: 'someone-else', oid: 'aaaaaaaa-0000-0000-0000-000000000099' })
  const foreign = await answerOf(withDirect, { ...retry(first.direct.state), token: other })
  const foreignHandler = await answerOf(withHandler, { ...retry(first.handler.state), token: other })
  t.same(foreign.answer, foreignHandler.answer, 'state of another caller')
  t.equal(foreign.answer.body.error?.code, -32602)
})
