import { test } from 'tap'
import { mkdir, readFile, stat, writeFile, chmod, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { TokenCache, configDir, serverKey, withFileLock } from '../../../client/auth/token-cache.ts'
import { needsRefresh, refreshMargin, unionScopes } from '../../../client/auth/session.ts'
import { tempConfigHome } from '../../support/cli.ts'

test('config folder: $XDG_CONFIG_HOME, else ~/.config, else %APPDATA% on Windows', async (t) => {
  t.equal(configDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' }, 'linux'), '/x/cfg/entra-mcp-gateway')
  t.equal(configDir({ HOME: '/home/u' }, 'linux'), '/home/u/.config/entra-mcp-gateway')
  t.equal(configDir({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' }, 'linux'), '/home/u/.config/entra-mcp-gateway', 'a relative XDG_CONFIG_HOME is ignored (XDG spec)')
  t.equal(configDir({ HOME: '/home/u', APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32'), join('C:\\Users\\u\\AppData\\Roaming', 'entra-mcp-gateway'))
})

test('server keys are normalised URLs', async (t) => {
  t.equal(serverKey('HTTP://LocalHost:8000/mcp#x'), 'http://localhost:8000/mcp')
  t.not(serverKey('http://a/mcp'), serverKey('http://b/mcp'))
})

test('the cache file is 0600 in a 0700 folder, keyed by server, and disappears with its last entry', async (t) => {
  const xdg = await tempConfigHome(t)
  // A folder that exists with a loose mode is tightened.
  await mkdir(join(xdg, 'entra-mcp-gateway'), { mode: 0o755 })
  await chmod(join(xdg, 'entra-mcp-gateway'), 0o755)
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: xdg }))
  await cache.update('http://a.example/mcp', () => ({ scope: 'tools.read' }))
  await cache.update('http://b.example/mcp', () => ({ scope: 'graph.read' }))
  t.equal((await stat(cache.file)).mode & 0o777, 0o600)
  t.equal((await stat(cache.dir)).mode & 0o777, 0o700)
  const data = JSON.parse(await readFile(cache.file, 'utf8'))
  t.equal(data.version, 1)
  t.same(Object.keys(data.servers).sort(), ['http://a.example/mcp', 'http://b.example/mcp'])
  t.equal((await cache.get('http://a.example/mcp'))?.scope, 'tools.read')
  await cache.delete('http://a.example/mcp')
  t.equal(await cache.get('http://a.example/mcp'), undefined)
  t.equal((await cache.get('http://b.example/mcp'))?.scope, 'graph.read', 'other servers are kept')
  await cache.delete('http://b.example/mcp')
  await t.rejects(stat(cache.file), { code: 'ENOENT' })
})

test('concurrent updates from many writers lose nothing', async (t) => {
  const xdg = await tempConfigHome(t)
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: xdg }))
  await Promise.all(Array.from({ length: 20 }, (_, i) =>
    new TokenCache(cache.dir).update(`http://s${i}.example/mcp`, () => ({ scope: String(i) }))))
  const data = await cache.read()
  t.equal(Object.keys(data.servers).length, 20)
})

test('a damaged file is reported with its path, not as a crash', async (t) => {
  const xdg = await tempConfigHome(t)
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: xdg }))
  await mkdir(cache.dir, { recursive: true })
  await writeFile(cache.file, '{not json')
  await t.rejects(cache.read(), { message: new RegExp(`${cache.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged`) })
})

test('file lock: exclusive, and a stale lock is taken over', async (t) => {
  const xdg = await tempConfigHome(t)
  const lock = join(xdg, 'x.lock')
  const order: string[] = []
  await Promise.all([
    withFileLock(lock, async () => { order.push('a1'); await new Promise(resolve => setTimeout(resolve, 50)); order.push('a2') }),
    new Promise(resolve => setTimeout(resolve, 5)).then(() => withFileLock(lock, async () => { order.push('b') }))
  ])
  t.same(order, ['a1', 'a2', 'b'], 'the second holder waits for the first')

  await writeFile(lock, '')
  const old = new Date(Date.now() - 120_000)
  await utimes(lock, old, old)
  t.equal(await withFileLock(lock, async () => 'taken', { waitMs: 1000 }), 'taken')

  await writeFile(lock, '')
  await t.rejects(withFileLock(lock, async () => 'never', { waitMs: 100 }), { message: /Another entra-mcp-client process/ })
})

test('refresh timing: a minute before expiry, or a quarter of a short lifetime', async (t) => {
  const now = 1_000_000
  const entry = (expiresIn: number, left: number) => ({ tokens: { access_token: 'a', token_type: 'Bearer', expires_in: expiresIn }, expiresAt: now + left })
  t.equal(refreshMargin(entry(3600, 0)), 60_000)
  t.equal(refreshMargin(entry(30, 0)), 7_500)
  t.notOk(needsRefresh(entry(3600, 120_000), now))
  t.ok(needsRefresh(entry(3600, 59_000), now))
  t.notOk(needsRefresh(entry(30, 29_000), now), 'a fresh 30 s token is used, not refreshed at once')
  t.ok(needsRefresh(entry(30, 5_000), now))
  t.ok(needsRefresh(entry(900, -1), now), 'expired')
  t.notOk(needsRefresh({ tokens: { access_token: 'a', token_type: 'Bearer' } }, now), 'no known expiry: the server decides (401 -> refresh)')
  t.equal(unionScopes('tools.read', 'tools.read graph.read', undefined), 'tools.read graph.read')
})
