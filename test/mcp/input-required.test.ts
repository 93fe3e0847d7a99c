// Input-required results (2026-07-28 multi round-trip requests) through the real /mcp route: the
// shipped revoke_my_sign_in tool asks for a confirmation before it ends the caller's own sign-in,
// with the v2 client answering the question; the 2025 fallback; and the attacker's cases for the
// `requestState` a client carries between rounds (another user, another tool, tampered, expired).
import t, { type Test } from 'tap'
import { Client, StreamableHTTPClientTransport, type ElicitRequest, type ElicitResult } from '@modelcontextprotocol/client'
import { buildListening } from '../helper.ts'
import { SIGNING_KEY_PEM, auditLines, connectClient, mintToken, post } from '../support/mcp.ts'

const MODERN = '2026-07-28'
const TOOL = 'revoke_my_sign_in'
const QUESTION = 'confirm_end_sign_in'
const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs })
const writer = (claims = {}) => mintToken(baseUrl, 'tools.read tools.write', claims)

/** The v2 client pinned to 2026-07-28, declaring elicitation and answering each question with `answer`. */
async function askingClient (t: Test, token: string, answer: (request: ElicitRequest) => ElicitResult) {
  const asked: ElicitRequest[] = []
  const client = new Client({ name: 'mcp-test', version: '1.0.0' }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: MODERN } } })
  client.setRequestHandler('elicitation/create', async request => { asked.push(request); return answer(request) })
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } }, onInsufficientScope: 'throw' })
  await client.connect(transport)
  t.teardown(() => client.close())
  return { client, asked }
}

/** Whether a token still gets a 2025 `tools/list` answered (a revoked grant gets 401). */
async function stillWorks (token: string): Promise<number> {
  return (await post(baseUrl, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${token}` })).status
}

/** A raw 2026-07-28 `tools/call` as a client declaring elicitation sends it. */
async function modernCall (token: string, name: string, extra: Record<string, unknown> = {}) {
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }
  }
  const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {}, ...extra, _meta } }
  return await post(baseUrl, body, { authorization: `Bearer ${token}`, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': name })
}

const yes = { [QUESTION]: { action: 'accept', content: { confirm: true } } }

/** The state of a first round for `token`: what a client would echo on its retry. */
async function firstRound (t: Test, token: string): Promise<string> {
  const res = await modernCall(token, TOOL)
  t.equal(res.status, 200)
  t.match(res.json.result, { resultType: 'input_required', inputRequests: { [QUESTION]: { method: 'elicitation/create' } }, requestState: String })
  return res.json.result.requestState
}

t.test('the v2 client is asked, answers yes, and the sign-in ends: the same token is refused afterwards', async t => {
  const token = writer()
  const { client, asked } = await askingClient(t, token, () => ({ action: 'accept', content: { confirm: true } }))
  const result = await client.callTool({ name: TOOL, arguments: {} })
  t.equal(asked.length, 1, 'asked exactly once')
  t.match(asked[0].params, { mode: 'form', message: /End your sign-in/, requestedSchema: { required: ['confirm'] } })
  t.match(result.structuredContent, { revoked: true })
  t.equal(await stillWorks(token), 401, 'every token of the grant stops working')
  t.match(auditLines(logs, 'token.revoked').at(-1), { reason: 'revoked_by_user', token_type: 'grant' })
  t.match(auditLines(logs, 'tool.called').filter(l => l.tool === TOOL).slice(-2), [{ outcome: 'success', input_required: true }, { outcome: 'success' }], 'the question round, then the call that acted')
})

t.test('declining, cancelling or answering no changes nothing', async t => {
  for (const answer of [{ action: 'decline' }, { action: 'cancel' }, { action: 'accept', content: { confirm: false } }] as ElicitResult[]) {
    const token = writer()
    const { client } = await askingClient(t, token, () => answer)
    const result = await client.callTool({ name: TOOL, arguments: {} })
    t.match(result.structuredContent, { revoked: false }, `${answer.action}`)
    t.equal(await stillWorks(token), 200)
  }
})

t.test('a 2025 client cannot be asked: without confirm: true it gets an isError saying so, with it the sign-in ends', async t => {
  const token = writer()
  const legacy = await connectClient(t, baseUrl, token)
  const refused = await legacy.callTool({ name: TOOL, arguments: {} })
  t.equal(refused.isError, true)
  t.match((refused.content as Array<{ text: string }>)[0].text, /confirm: true/)
  t.equal(await stillWorks(token), 200)
  const done = await legacy.callTool({ name: TOOL, arguments: { confirm: true } })
  t.match(done.structuredContent, { revoked: true })
  t.equal(await stillWorks(token), 401)
})

t.test('a 2026-07-28 client without elicitation gets the same confirm: true fallback', async t => {
  const token = writer()
  const client = await connectClient(t, baseUrl, token, {}, MODERN)
  const refused = await client.callTool({ name: TOOL, arguments: {} })
  t.equal(refused.isError, true)
  t.match((refused.content as Array<{ text: string }>)[0].text, /confirm: true/)
  t.equal(await stillWorks(token), 200)
})

t.test('an answer without the state of the question is not a confirmation: the tool asks again', async t => {
  const token = writer()
  const res = await modernCall(token, TOOL, { inputResponses: yes })
  t.match(res.json.result, { resultType: 'input_required' })
  t.equal(await stillWorks(token), 200)
})

t.test('state minted for one user is refused for another (-32602), and nothing of either is revoked', async t => {
  const victim = writer()
  const state = await firstRound(t, victim)
  const attacker = writer({ oid: 'aaaaaaaa-0000-0000-0000-0000000000ff', sub: 'user-2' })
  const res = await modernCall(attacker, TOOL, { inputResponses: yes, requestState: state })
  t.match(res.json, { id: 7, error: { code: -32602, message: 'Invalid or expired requestState' } })
  t.equal(await stillWorks(attacker), 200)
  t.equal(await stillWorks(victim), 200)
  const otherTenant = writer({ tid: '99999999-2222-3333-4444-555555555555' })
  t.match((await modernCall(otherTenant, TOOL, { inputResponses: yes, requestState: state })).json, { error: { code: -32602 } })
})

t.test('state minted for one tool is refused by another (-32602)', async t => {
  const token = writer()
  const state = await firstRound(t, token)
  const res = await modernCall(token, 'whoami', { inputResponses: yes, requestState: state })
  t.match(res.json, { id: 7, error: { code: -32602 } })
})

t.test('tampered or forged state is refused (-32602) and the tool does not run', async t => {
  const token = writer()
  const state = await firstRound(t, token)
  const [prefix, body, mac] = [state.slice(0, 3), state.slice(3, state.lastIndexOf('.')), state.slice(state.lastIndexOf('.') + 1)]
  const decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  const longer = Buffer.from(JSON.stringify({ ...decoded, exp: decoded.exp + 86_400 })).toString('base64url')
  for (const forged of [`${prefix}${longer}.${mac}`, `${state.slice(0, -2)}AA`, 'v1.e30.AAAA', 'not-a-state', '']) {
    const res = await modernCall(token, TOOL, { inputResponses: yes, requestState: forged })
    t.match(res.json, { error: { code: -32602 } }, JSON.stringify(forged.slice(0, 12)))
  }
  t.equal(await stillWorks(token), 200)
})

t.test('state older than 300 s is refused (-32602)', async t => {
  const token = writer()
  const state = await firstRound(t, token)
  const realNow = Date.now
  const minted = realNow()
  // The codec reads the wall clock; the token (15 min) stays valid.
  Date.now = () => minted + 301_000
  t.teardown(() => { Date.now = realNow })
  const res = await modernCall(token, TOOL, { inputResponses: yes, requestState: state })
  Date.now = realNow
  t.match(res.json, { error: { code: -32602 } })
  t.equal(await stillWorks(token), 200)
  const fresh = await modernCall(token, TOOL, { inputResponses: yes, requestState: state })
  t.match(fresh.json.result, { structuredContent: { revoked: true } }, 'the same state within its 300 s is accepted')
})

t.test('a token with no grant here has no sign-in to end: isError, asked nothing', async t => {
  const token = mintToken(baseUrl, 'tools.read tools.write', { sid: undefined })
  const { client, asked } = await askingClient(t, token, () => ({ action: 'accept', content: { confirm: true } }))
  const result = await client.callTool({ name: TOOL, arguments: {} })
  t.equal(result.isError, true)
  t.match((result.content as Array<{ text: string }>)[0].text, /no sign-in here to end/)
  t.equal(asked.length, 0)
})

t.test('a 2025 request carrying a requestState is refused (-32602): state only exists on 2026-07-28', async t => {
  const token = writer()
  const state = await firstRound(t, token)
  const res = await post(baseUrl, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: TOOL, arguments: {}, inputResponses: yes, requestState: state } }, { authorization: `Bearer ${token}` })
  t.match(res.json, { id: 9, error: { code: -32602 } })
  t.equal(await stillWorks(token), 200)
})
