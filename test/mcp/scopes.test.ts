import t from 'tap'
import * as z from 'zod'
import { defineTool } from '../../mcp/registry.ts'
import { scopeShortfall } from '../../mcp/scopes.ts'
import { Catalog, defineResource, definePrompt } from '../../mcp/catalog.ts'

const tool = (name: string, scopes: string[]) => defineTool({ name, title: name, description: name, inputSchema: z.object({}), scopes, handler: () => ({}) })
const tools = new Map([['open', tool('open', [])], ['mail', tool('mail', ['Mail.Read'])], ['files', tool('files', ['Files.Read', 'mcp.tools'])], ['send', tool('send', ['Mail.Send', 'Mail.Read'])]])
const identity = { kind: 'self' as const, sub: 's', scopes: ['mcp.tools'], roles: [], expiresAt: 0 }
const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })

t.test('scopeShortfall names a call whose tool needs a scope the caller lacks; unknown tools are left to the SDK', async t => {
  t.equal(scopeShortfall(identity, call(1, 'open'), n => tools.get(n)), undefined)
  t.equal(scopeShortfall(identity, call(1, 'nope'), n => tools.get(n)), undefined)
  t.match(scopeShortfall(identity, [call(1, 'open'), call(2, 'mail')], n => tools.get(n)), { denied: [{ id: 2, missing: ['Mail.Read'], target: { kind: 'tool', name: 'mail' } }] })
  t.equal(scopeShortfall({ ...identity, roles: ['Mail.Read'] }, call(3, 'mail'), n => tools.get(n)), undefined, 'an app role of the same name counts')
})

t.test('scopeShortfall over a batch: every refused call, and the scopes of every call (SEP-2350: one step-up for the whole batch)', async t => {
  const batch = [call(1, 'files'), call(2, 'mail'), { jsonrpc: '2.0', id: 3, method: 'ping' }, call(4, 'send'), call(5, 'mail'), call(6, 'nope')]
  const shortfall = scopeShortfall(identity, batch, n => tools.get(n))
  t.match(shortfall?.denied, [
    { id: 1, target: { kind: 'tool', name: 'files' }, missing: ['Files.Read'] },
    { id: 2, target: { kind: 'tool', name: 'mail' }, missing: ['Mail.Read'] },
    { id: 4, target: { kind: 'tool', name: 'send' }, missing: ['Mail.Send', 'Mail.Read'] },
    { id: 5, target: { kind: 'tool', name: 'mail' }, missing: ['Mail.Read'] }
  ])
  t.equal(shortfall?.denied.length, 4)
  t.same(shortfall?.needed, ['Files.Read', 'mcp.tools', 'Mail.Read', 'Mail.Send'], 'held scopes of a called tool count too; unknown tools add none')
})

t.test('scopeShortfall checks resources/read and prompts/get too, in request order; unknown URIs and prompts are left to the SDK', async t => {
  const service = { tools: () => [], offeredScopes: [], publicConfig: () => ({}) }
  const resource = defineResource({ name: 'inbox', uri: 'test://inbox', title: 'Inbox', description: 'd', scopes: ['Mail.Read'], cacheHint: { ttlMs: 0, cacheScope: 'private' }, read: () => ({}) })
  const openResource = defineResource({ name: 'open', uri: 'test://open', title: 'Open', description: 'd', scopes: [], cacheHint: { ttlMs: 0, cacheScope: 'public' }, read: () => ({}) })
  const prompt = definePrompt({ name: 'summarise', title: 'S', description: 'd', scopes: ['Files.Read'], get: () => 'x' })
  const catalog = new Catalog(service, [resource, openResource], [prompt])
  const read = (id: number, uri: string) => ({ jsonrpc: '2.0', id, method: 'resources/read', params: { uri } })
  const get = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'prompts/get', params: { name } })
  const batch = [read(1, 'test://open'), get(2, 'summarise'), read(3, 'test://nope'), get(4, 'nope'), call(5, 'mail'), read(6, 'test://inbox')]
  const shortfall = scopeShortfall(identity, batch, n => tools.get(n), catalog)
  t.match(shortfall?.denied, [
    { id: 2, target: { kind: 'prompt', name: 'summarise' }, missing: ['Files.Read'] },
    { id: 5, target: { kind: 'tool', name: 'mail' }, missing: ['Mail.Read'] },
    { id: 6, target: { kind: 'resource', name: 'test://inbox' }, missing: ['Mail.Read'] }
  ])
  t.equal(shortfall?.denied.length, 3)
  t.same(shortfall?.needed, ['Files.Read', 'Mail.Read'])
  t.equal(scopeShortfall(identity, read(7, 'test://open'), n => tools.get(n), catalog), undefined, 'a resource needing no scope is never refused')
  t.equal(scopeShortfall(identity, read(8, 'test://inbox'), n => tools.get(n)), undefined, 'without a catalog nothing but tools is checked')
})
