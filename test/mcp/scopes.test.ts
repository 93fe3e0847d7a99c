import t from 'tap'
import * as z from 'zod'
import { defineTool } from '../../mcp/registry.ts'
import { scopeShortfall } from '../../mcp/scopes.ts'

const tool = (name: string, scopes: string[]) => defineTool({ name, title: name, description: name, inputSchema: z.object({}), scopes, handler: () => ({}) })
const tools = new Map([['open', tool('open', [])], ['mail', tool('mail', ['Mail.Read'])]])
const identity = { kind: 'self' as const, sub: 's', scopes: ['mcp.tools'], roles: [], expiresAt: 0 }
const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })

t.test('scopeShortfall names the first call whose tool needs a scope the caller lacks; unknown tools are left to the SDK', async t => {
  t.equal(scopeShortfall(identity, call(1, 'open'), n => tools.get(n)), undefined)
  t.equal(scopeShortfall(identity, call(1, 'nope'), n => tools.get(n)), undefined)
  t.match(scopeShortfall(identity, [call(1, 'open'), call(2, 'mail')], n => tools.get(n)), { id: 2, missing: ['Mail.Read'], tool: { name: 'mail' } })
  t.equal(scopeShortfall({ ...identity, roles: ['Mail.Read'] }, call(3, 'mail'), n => tools.get(n)), undefined, 'an app role of the same name counts')
})
