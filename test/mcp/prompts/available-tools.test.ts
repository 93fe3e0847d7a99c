import t from 'tap'
import * as z from 'zod'
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/client'
import { buildListening } from '../../helper.ts'
import { defineTool } from '../../../mcp/registry.ts'
import { SIGNING_KEY_PEM, auditLines, connectClient, mintToken, post } from '../../support/mcp.ts'

const SCOPES_KEY = 'io.github.entra-mcp-gateway/scopes'
// A tool needing a scope MCP_SCOPES does not offer: only an app role can unlock it.
const sender = defineTool({ name: 'mail_send', title: 'Send mail', description: 'Sends mail (test tool).', inputSchema: z.object({}), scopes: ['tools.read', 'Mail.Send'], handler: () => ({}) })
const logs: string[] = []
const { baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, LOG_LEVEL: 'info' }, { logs, app: { mcp: { extraTools: [sender] } } })

async function promptText (scope: string): Promise<string> {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, scope))
  const result = await client.getPrompt({ name: 'available-tools' })
  t.equal(result.messages.length, 1)
  t.equal(result.messages[0].role, 'user')
  const content = result.messages[0].content as { type: string, text: string }
  t.equal(content.type, 'text')
  return content.text
}

/** The lines of one section of the prompt (from its heading to the next blank line). */
function section (text: string, heading: string): string[] {
  const start = text.indexOf(heading)
  if (start < 0) return []
  return text.slice(start).split('\n\n')[0].split('\n').slice(1)
}

t.test('prompts/list shows available-tools, without arguments, with its scopes under _meta', async t => {
  const client = await connectClient(t, baseUrl, mintToken(baseUrl, 'tools.read'))
  const { prompts } = await client.listPrompts()
  t.match(prompts, [{ name: 'available-tools', title: 'Which tools can I use?', _meta: { [SCOPES_KEY]: ['tools.read'] } }])
  t.equal(prompts[0].arguments, undefined)
})

t.test('with tools.read: the read tools now, graph_me and revoke_my_sign_in after a sign-in granting their scopes, mail_send never by signing in', async t => {
  const text = await promptText('tools.read')
  t.match(text, /the signed-in Microsoft Entra ID user ada@contoso\.example/)
  t.match(text, /the current sign-in grants: tools\.read\./)
  t.same(section(text, 'Tools you may call now:').map(l => l.split(' ')[1]), ['validate_token', 'whoami'])
  const stepUp = section(text, 'Tools that need another sign-in (step-up) first:')
  t.same(stepUp.filter(l => l.startsWith('- ')).map(l => l.split(' ')[1]), ['graph_me', 'revoke_my_sign_in'])
  t.match(stepUp[0], /Needs the scope graph\.read\.$/)
  t.match(stepUp[1], /Needs the scope tools\.write\.$/)
  t.match(text, /refused with HTTP 403 insufficient_scope; the MCP client then asks the user to sign in again and consent to tools\.read graph\.read tools\.write\./)
  const never = section(text, 'Tools this user cannot get by signing in:')
  t.equal(never.length, 1)
  t.match(never[0], /^- mail_send \(Send mail\): .* Needs Mail\.Send, which a sign-in here cannot grant/)
})

t.test('with tools.read tools.write graph.read: every tool is callable and no step-up is mentioned', async t => {
  const text = await promptText('tools.read tools.write graph.read')
  t.same(section(text, 'Tools you may call now:').map(l => l.split(' ')[1]), ['graph_me', 'revoke_my_sign_in', 'validate_token', 'whoami'])
  t.notMatch(text, /step-up/)
  t.notMatch(text, /403/)
})

t.test('a token is never part of the prompt', async t => {
  const token = mintToken(baseUrl, 'tools.read')
  const client = await connectClient(t, baseUrl, token)
  const result = await client.getPrompt({ name: 'available-tools' })
  const text = JSON.stringify(result)
  for (const part of token.split('.')) t.notOk(text.includes(part), 'no part of the bearer token')
})

t.test('without tools.read: HTTP 403 insufficient_scope naming granted + needed, audited', async t => {
  const res = await post(baseUrl, { jsonrpc: '2.0', id: 'p1', method: 'prompts/get', params: { name: 'available-tools' } }, { authorization: `Bearer ${mintToken(baseUrl, 'graph.read')}` })
  t.equal(res.status, 403)
  const challenge = res.headers.get('www-authenticate') ?? ''
  const parsed = extractWWWAuthenticateParams(new Response(null, { status: 403, headers: { 'www-authenticate': challenge } }))
  t.equal(parsed.error, 'insufficient_scope')
  t.equal(parsed.scope, 'graph.read tools.read')
  t.match(challenge, /error_description="The prompt available-tools needs the scope tools\.read"/)
  t.match(res.json, { jsonrpc: '2.0', id: 'p1', error: { code: -32000, data: { required_scopes: ['tools.read'], missing_scopes: ['tools.read'] } } })
  t.match(auditLines(logs, 'scope.denied').find(l => l.prompt === 'available-tools'), { outcome: 'denied', missing: ['tools.read'] })
})

t.test('a batch reading a resource and getting a prompt without their scopes: one challenge for both', async t => {
  const res = await post(baseUrl, [
    { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'entra-mcp-gateway://service-config' } },
    { jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name: 'available-tools' } },
    { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri: 'entra-mcp-gateway://me' } },
    { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'graph_me', arguments: {} } }
  ], { authorization: `Bearer ${mintToken(baseUrl, 'tools.write')}` })
  t.equal(res.status, 403)
  t.match(res.headers.get('www-authenticate'), /scope="tools\.write tools\.read graph\.read"/)
  t.match(res.json, { id: 2, error: { message: /The tool graph_me and the resource entra-mcp-gateway:\/\/me and the prompt available-tools need the scopes tools\.read graph\.read/ } })
})

t.test('an unknown prompt is the SDK\'s -32602', async t => {
  const res = await post(baseUrl, { jsonrpc: '2.0', id: 9, method: 'prompts/get', params: { name: 'nope' } }, { authorization: `Bearer ${mintToken(baseUrl, 'tools.read')}` })
  t.equal(res.status, 200)
  t.match(res.json, { jsonrpc: '2.0', id: 9, error: { code: -32602, message: /Prompt nope not found/ } })
})
