import t from 'tap'
import { InsufficientScopeError } from '@modelcontextprotocol/client'
import * as z from 'zod'
import { buildListening, freePort } from '../helper.ts'
import { startFakeGraph } from '../support/fake-graph.ts'
import { defineTool, ToolError } from '../../mcp/registry.ts'
import { SCOPES_META_KEY } from '../../mcp/server.ts'
import { UpstreamTokenError, type UpstreamTokensApi } from '../../plugins/oauth-proxy.ts'
import { SIGNING_KEY_PEM, TENANT, auditLines, connectClient, limitedTool, mintToken, payloadOf } from '../support/mcp.ts'

const GRAPH_TOKEN = 'graph-token-for-ada'
const NO_CONSENT_TOKEN = 'graph-token-without-user-read'

const graph = await startFakeGraph({
  users: { [GRAPH_TOKEN]: { id: 'aaaaaaaa-0000-0000-0000-000000000001', displayName: 'Ada Lovelace', userPrincipalName: 'ada@contoso.example', mail: 'ada@contoso.example', jobTitle: 'Analyst', businessPhones: ['+1 555 0100'] } },
  noConsent: [NO_CONSENT_TOKEN]
})
t.teardown(() => graph.close())

// Stands in for the oauth proxy's upstream token service: grant id -> Entra token for Graph.
// (The real one, through the whole OAuth flow, is exercised in test/e2e/graph-me.test.ts.)
const upstreamCalls: string[] = []
const upstreamTokens: UpstreamTokensApi = {
  async claimsChallenged () { throw new Error('no claims challenge in this test') },
  async forGrant (sid) {
    upstreamCalls.push(`grant:${sid}`)
    if (sid === 'grant-ada') return { accessToken: GRAPH_TOKEN, scopes: ['User.Read'] }
    if (sid === 'grant-no-consent') return { accessToken: NO_CONSENT_TOKEN, scopes: [] }
    if (sid === 'grant-consent-required') throw new UpstreamTokenError('graph_consent_required', 'No consent. Entra said: AADSTS65001: The user or administrator has not consented')
    if (sid === 'grant-offline') throw new UpstreamTokenError('no_refresh_token', 'no refresh token')
    throw new UpstreamTokenError('grant_not_found', 'grant not found')
  },
  async onBehalfOf () {
    upstreamCalls.push('obo')
    return { accessToken: GRAPH_TOKEN, scopes: ['User.Read'], expiresIn: 3600 }
  }
}

const throwing = defineTool({
  name: 'explode',
  title: 'Explode',
  description: 'Always throws (test tool).',
  inputSchema: z.object({ kind: z.enum(['bug', 'tool']).default('bug') }),
  scopes: ['tools.read'],
  handler ({ kind }) {
    if (kind === 'tool') throw new ToolError('The widget is out of stock.')
    throw new Error('internal detail: connect ECONNREFUSED 10.1.2.3:5432')
  }
})

const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, GRAPH_BASE_URL: graph.url, LOG_LEVEL: 'info' }, {
  logs,
  app: { mcp: { extraTools: [throwing, limitedTool], upstreamTokens } }
})

t.test('tools/list lists every tool with its required scopes in _meta, whatever the caller holds', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const { tools } = await client.listTools()
  const byName = Object.fromEntries(tools.map(tool => [tool.name, tool]))
  t.same(Object.keys(byName).sort(), ['explode', 'graph_me', 'limited', 'revoke_my_sign_in', 'validate_token', 'whoami'])
  t.same(byName.revoke_my_sign_in._meta?.[SCOPES_META_KEY], ['tools.write'])
  t.match(byName.revoke_my_sign_in.annotations, { readOnlyHint: false, destructiveHint: true })
  t.same(byName.whoami._meta?.[SCOPES_META_KEY], ['tools.read'])
  t.same(byName.validate_token._meta?.[SCOPES_META_KEY], ['tools.read'])
  t.same(byName.graph_me._meta?.[SCOPES_META_KEY], ['graph.read'], 'graph_me is listed although this caller lacks graph.read')
  t.equal(byName.whoami.inputSchema.type, 'object')
  t.equal(byName.whoami.outputSchema?.type, 'object')
  t.ok(byName.whoami.title)
  t.ok(byName.graph_me.annotations?.readOnlyHint)
})

t.test('whoami returns the caller identity as structured content', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read graph.read', { client_id: 'vscode' }))
  const result = await client.callTool({ name: 'whoami', arguments: {} })
  t.notOk(result.isError)
  const me = result.structuredContent as Record<string, any>
  t.equal(me.name, 'Ada Lovelace')
  t.equal(me.username, 'ada@contoso.example')
  t.equal(me.oid, 'aaaaaaaa-0000-0000-0000-000000000001')
  t.equal(me.tid, TENANT)
  t.same(me.scopes, ['tools.read', 'graph.read'])
  t.same(me.roles, [])
  t.equal(me.client_id, 'vscode')
  t.equal(me.token_kind, 'self')
  t.ok(me.expires_in_seconds > 800 && me.expires_in_seconds <= 900)
  t.same(JSON.parse((result.content as any)[0].text), me, 'the same data as text for clients without structured content')
})

t.test('validate_token reports issuer, audience, kid, algorithm, times and checks, never the token', async t => {
  const token = mintToken(baseUrl, 'tools.read')
  const client = await connectClient(t, baseUrl, token)
  const result = await client.callTool({ name: 'validate_token', arguments: {} })
  t.notOk(result.isError)
  const report = result.structuredContent as Record<string, any>
  t.equal(report.valid, true)
  t.equal(report.token_kind, 'self')
  t.equal(report.issuer, baseUrl)
  t.same(report.audience, `${baseUrl}/mcp`)
  t.equal(report.algorithm, 'RS256')
  t.match(report.kid, /\S+/)
  const claims = payloadOf(token)
  const iso = (s: number | undefined) => s === undefined ? undefined : new Date(s * 1000).toISOString()
  t.equal(report.issued_at, iso(claims.iat), 'issued_at from iat (absent when the token has none)')
  t.equal(report.not_before, iso(claims.nbf))
  t.equal(report.expires_at, iso(claims.exp))
  t.ok(report.seconds_left > 800 && report.seconds_left <= 900)
  t.same(report.scopes, ['tools.read'])
  const checks = report.checks.map((c: { check: string }) => c.check)
  for (const name of ['signature RS256', 'issuer', 'audience', 'expiry']) t.ok(checks.includes(name), `check ${name} listed`)
  t.ok(report.checks.every((c: { passed: boolean }) => c.passed))
  const text = JSON.stringify(result)
  t.notOk(text.includes(token), 'the token is not echoed')
  t.notOk(text.includes(token.split('.')[2]), 'nor its signature')
})

t.test('graph_me fetches /me from Graph with the grant\'s upstream token', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read', { sid: 'grant-ada' }))
  const before = graph.requests.length
  const result = await client.callTool({ name: 'graph_me', arguments: {} })
  t.notOk(result.isError, JSON.stringify(result.content))
  const me = result.structuredContent as Record<string, any>
  t.equal(me.displayName, 'Ada Lovelace')
  t.equal(me.userPrincipalName, 'ada@contoso.example')
  t.equal(me.jobTitle, 'Analyst')
  t.same(me.businessPhones, ['+1 555 0100'])
  t.notOk('department' in me, 'a field Graph did not send is left out, not null')
  t.ok(upstreamCalls.includes('grant:grant-ada'))
  const seen = graph.requests.slice(before)
  t.equal(seen.length, 1)
  t.match(seen[0].path, /^\/v1\.0\/me\?\$select=/)
  t.equal(seen[0].token, GRAPH_TOKEN, 'Graph got the Entra token, not ours')
})

t.test('step-up: graph_me is refused with 403 without graph.read, then works with a token that has it', async t => {
  const before = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read', { sid: 'grant-ada' }))
  const err = await before.callTool({ name: 'graph_me', arguments: {} }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof InsufficientScopeError)
  t.equal((err as InsufficientScopeError).requiredScope, 'tools.read graph.read')
  const after = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read graph.read', { sid: 'grant-ada' }))
  const result = await after.callTool({ name: 'graph_me', arguments: {} })
  t.notOk(result.isError)
  t.equal((result.structuredContent as any).displayName, 'Ada Lovelace')
})

t.test('graph_me gives a clear tool error when the grant lacks Graph consent', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read', { sid: 'grant-no-consent' }))
  const refused = await client.callTool({ name: 'graph_me', arguments: {} })
  t.equal(refused.isError, true)
  t.match((refused.content as any)[0].text, /consent for Microsoft Graph/)

  const client2 = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read', { sid: 'grant-consent-required' }))
  const noToken = await client2.callTool({ name: 'graph_me', arguments: {} })
  t.equal(noToken.isError, true)
  t.match((noToken.content as any)[0].text, /no consent for Microsoft Graph/)
  t.notMatch((noToken.content as any)[0].text, /AADSTS/, 'upstream internals are not shown')
  t.ok(logs.some(l => l.includes('no Microsoft Graph token') && l.includes('graph_consent_required')), 'the detail is in the log')

  const client3 = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read', { sid: 'grant-offline' }))
  const offline = await client3.callTool({ name: 'graph_me', arguments: {} })
  t.match((offline.content as any)[0].text, /no Entra refresh token/)
  const client4 = await connectClient(t, baseUrl, mintToken(baseUrl, 'graph.read', { sid: 'grant-gone' }))
  const gone = await client4.callTool({ name: 'graph_me', arguments: {} })
  t.match((gone.content as any)[0].text, /no longer exists/)
})

t.test('graph_me gives a clear tool error when Microsoft Graph cannot be reached', async t => {
  // Nothing listens on this port: fetch fails before any answer.
  const closedPort = await freePort()
  const unreachableLogs: string[] = []
  const unreachable = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, GRAPH_BASE_URL: `http://127.0.0.1:${closedPort}/v1.0`, LOG_LEVEL: 'info' }, {
    logs: unreachableLogs,
    app: { mcp: { upstreamTokens } }
  })
  const client = await connectClient(t, unreachable.baseUrl, mintToken(unreachable.baseUrl, 'graph.read', { sid: 'grant-ada' }))
  const result = await client.callTool({ name: 'graph_me', arguments: {} })
  t.equal(result.isError, true)
  const text = (result.content as any)[0].text as string
  t.match(text, /^Microsoft Graph could not be reached \(network error\); try again later/)
  t.notMatch(text, /failed unexpectedly/)
  t.notMatch(text, /ECONNREFUSED|127\.0\.0\.1/, 'network internals are not shown')
  const warned = unreachableLogs.map(l => JSON.parse(l)).find(l => l.msg === 'Microsoft Graph could not be reached')
  t.ok(warned, 'the cause is logged')
  t.equal(warned.level, 'warn', 'at warn')
  t.equal(warned.reason, 'network error')
  t.notOk(unreachableLogs.some(l => l.includes(GRAPH_TOKEN)), 'the Graph token is not logged')
  const audit = auditLines(unreachableLogs, 'tool.called').find(l => l.tool === 'graph_me')
  t.equal(audit?.outcome, 'failure')
  t.equal(audit?.reason, 'tool_error')
})

t.test('a tool that throws gives an isError result, not a 500, and hides internals', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const bug = await client.callTool({ name: 'explode', arguments: {} })
  t.equal(bug.isError, true)
  const text = (bug.content as any)[0].text as string
  t.match(text, /explode failed unexpectedly \(request id /)
  t.notMatch(text, /ECONNREFUSED|10\.1\.2\.3/)
  t.ok(logs.some(l => l.includes('tool failed') && l.includes('ECONNREFUSED')), 'the detail is in the log')

  const toolError = await client.callTool({ name: 'explode', arguments: { kind: 'tool' } })
  t.equal(toolError.isError, true)
  t.equal((toolError.content as any)[0].text, 'The widget is out of stock.')

  const after = await client.callTool({ name: 'whoami', arguments: {} })
  t.notOk(after.isError, 'the server keeps serving')
})

t.test('invalid arguments are a tool error from the SDK, the handler never runs', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const result = await client.callTool({ name: 'explode', arguments: { kind: 'nope' } })
  t.equal(result.isError, true)
  t.match((result.content as any)[0].text, /Invalid arguments for tool explode/)
})

t.test('tool.called is audited with tool, outcome and duration', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read', { oid: 'aaaaaaaa-0000-0000-0000-0000000000a1' }))
  await client.callTool({ name: 'whoami', arguments: {} })
  await client.callTool({ name: 'explode', arguments: {} })
  const mine = auditLines(logs, 'tool.called').filter(l => l.oid === 'aaaaaaaa-0000-0000-0000-0000000000a1')
  t.equal(mine.length, 2)
  t.match(mine[0], { tool: 'whoami', outcome: 'success', tid: TENANT, client_id: 'test-client' })
  t.match(mine[1], { tool: 'explode', outcome: 'failure', reason: 'exception' })
  t.ok(mine.every(l => typeof l.duration_ms === 'number' && l.duration_ms >= 0))
  t.ok(mine.every(l => typeof l.request_id === 'string'))
})

t.test('a per-tool rate limit refuses calls over it with a tool error, per caller', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read', { oid: 'aaaaaaaa-0000-0000-0000-0000000000b1' }))
  t.notOk((await client.callTool({ name: 'limited', arguments: {} })).isError)
  t.notOk((await client.callTool({ name: 'limited', arguments: {} })).isError)
  const third = await client.callTool({ name: 'limited', arguments: {} })
  t.equal(third.isError, true)
  t.match((third.content as any)[0].text, /Rate limit for limited reached \(2 calls per 60 s\)\. Retry in \d+ s\./)
  t.notOk((await client.callTool({ name: 'whoami', arguments: {} })).isError, 'other tools are not affected')

  const other = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read', { oid: 'aaaaaaaa-0000-0000-0000-0000000000b2' }))
  t.notOk((await other.callTool({ name: 'limited', arguments: {} })).isError, 'another user has a budget of their own')
  const denied = auditLines(logs, 'tool.called').filter(l => l.tool === 'limited' && l.outcome === 'denied')
  t.equal(denied.length, 1)
  t.equal(denied[0].reason, 'rate_limited')
})
