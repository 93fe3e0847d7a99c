import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Catalog, defineResource, definePrompt, loadPrompts, loadResources, promptProblems, resourceProblems } from '../../mcp/catalog.ts'

const service = { tools: () => [], offeredScopes: ['tools.read'], publicConfig: () => ({}) }
const resource = (over: object = {}) => ({ name: 'thing', uri: 'test://thing', title: 'Thing', description: 'A thing.', scopes: [], cacheHint: { ttlMs: 0, cacheScope: 'private' as const }, read: () => ({}), ...over })
const prompt = (over: object = {}) => ({ name: 'ask', title: 'Ask', description: 'Asks.', scopes: ['tools.read'], get: () => 'text', ...over })

t.test('a well-formed resource and prompt have no problems', async t => {
  t.same(resourceProblems(resource(), 'thing'), [])
  t.same(promptProblems(prompt(), 'ask'), [])
})

t.test('resource definitions: each mistake is named', async t => {
  t.same(resourceProblems(undefined), ['does not default-export a resource definition'])
  t.match(resourceProblems(resource({ name: 'has space' })), [/name must be/])
  t.match(resourceProblems(resource(), 'other'), [/must equal the file name "other"/])
  t.match(resourceProblems(resource({ uri: 'relative/path' })), [/uri must be an absolute URI/])
  t.match(resourceProblems(resource({ uri: 'TEST://thing' })), [/in normal form/], 'a URI the SDK would look up under another text')
  t.match(resourceProblems(resource({ scopes: ['a b'] })), [/scopes must be/], 'a scope with a space would split in the challenge')
  t.match(resourceProblems(resource({ scopes: ['say"hi'] })), [/scopes must be/])
  t.match(resourceProblems(resource({ cacheHint: { ttlMs: -1, cacheScope: 'private' } })), [/cacheHint/])
  t.match(resourceProblems(resource({ cacheHint: { ttlMs: 1.5, cacheScope: 'private' } })), [/cacheHint/])
  t.match(resourceProblems(resource({ cacheHint: { ttlMs: 0, cacheScope: 'shared' } })), [/cacheHint/])
  t.match(resourceProblems(resource({ cacheHint: undefined })), [/cacheHint/])
  t.match(resourceProblems(resource({ read: 'nope' })), [/read must be a function/])
  t.match(resourceProblems(resource({ title: '', description: '' })), [/title is required/, /description is required/])
})

t.test('prompt definitions: each mistake is named', async t => {
  t.same(promptProblems(null), ['does not default-export a prompt definition'])
  t.match(promptProblems(prompt({ get: undefined })), [/get must be a function/])
  t.match(promptProblems(prompt({ scopes: 'tools.read' })), [/scopes must be/])
})

t.test('a catalog refuses a bad definition and a second one at the same URI or name', async t => {
  t.throws(() => new Catalog(service, [defineResource(resource()), defineResource(resource({ name: 'again' }))]), /Resource test:\/\/thing is defined twice/)
  t.throws(() => new Catalog(service, [], [definePrompt(prompt()), definePrompt(prompt())]), /Prompt ask is defined twice/)
  t.throws(() => new Catalog(service, [resource({ uri: 'nope' }) as never]), /Resource thing: uri must be/)
})

t.test('a catalog finds a resource by its URI in any spelling that parses to it, and nothing else', async t => {
  const catalog = new Catalog(service, [defineResource(resource())])
  t.equal(catalog.resource('test://thing')?.name, 'thing')
  t.equal(catalog.resource('TEST://thing')?.name, 'thing')
  t.equal(catalog.resource('test://thing/'), undefined)
  t.equal(catalog.resource('test://thing?x=1'), undefined)
  t.equal(catalog.resource('not a uri'), undefined)
})

t.test('the shipped files load, each named after its file', async t => {
  t.same((await loadResources()).map(r => r.name), ['me', 'service-config'])
  t.same((await loadPrompts()).map(p => p.name), ['available-tools'])
})

t.test('loading a folder: a missing folder is empty, a bad file stops the start naming the file', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-'))
  t.same(await loadResources(pathToFileURL(join(dir, 'absent/'))), [])
  writeFileSync(join(dir, 'wrong.ts'), "export default { name: 'other', title: 'T', description: 'D', scopes: [], get: () => 'x' }\n")
  await t.rejects(loadPrompts(pathToFileURL(`${dir}/`)), /wrong\.ts: name "other" must equal the file name "wrong"/)
})
