import { test } from 'tap'
import { mkdir, readFile, stat, writeFile, chmod, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { TokenCache, configDir, serverKey, withFileLock } from '../../../client/auth/token-cache.ts'
import { CliOAuthProvider } from '../../../client/auth/oauth-provider.ts'
import { needsRefresh, refreshMargin } from '../../../client/auth/sign-in.ts'
import { unionScopes } from '../../../client/auth/scopes.ts'
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
  await cache.update('http://a.example/mcp', () => ({ issuer: 'http://as.example', scope: 'tools.read' }))
  await cache.update('http://b.example/mcp', () => ({ issuer: 'http://as.example', scope: 'graph.read' }))
  t.equal((await stat(cache.file)).mode & 0o777, 0o600)
  t.equal((await stat(cache.dir)).mode & 0o777, 0o700)
  const data = JSON.parse(await readFile(cache.file, 'utf8'))
  t.equal(data.version, 2)
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
    new TokenCache(cache.dir).update(`http://s${i}.example/mcp`, () => ({ issuer: 'http://as.example', scope: String(i) }))))
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

const SERVER = 'http://mcp.example/mcp'
const AS_A = 'https://as-a.example'
const AS_B = 'https://as-b.example'
const tokens = (name: string, issuer?: string) => ({ access_token: `at-${name}`, refresh_token: `rt-${name}`, token_type: 'Bearer', ...(issuer !== undefined ? { issuer } : {}) })

test('credentials are kept per authorization server: one issuer never gets another one\'s registration or tokens', async (t) => {
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: await tempConfigHome(t) }))
  const signedInAtA = new CliOAuthProvider(cache, SERVER, undefined)
  await signedInAtA.saveClientInformation({ client_id: 'client-at-a', issuer: AS_A }, { issuer: AS_A })
  await signedInAtA.saveTokens(tokens('a', AS_A), { issuer: AS_A })

  // The server now sends the CLI to another authorization server (the SDK names it in ctx).
  const command = new CliOAuthProvider(cache, SERVER, await cache.get(SERVER))
  await t.rejects(command.clientInformation({ issuer: AS_B }), { kind: 'session_expired', message: /another authorization server/ }, 'a command does not go on to register at B')
  const later = new CliOAuthProvider(cache, SERVER, await cache.get(SERVER), { signIn: { redirectUri: 'http://127.0.0.1:1/callback', open: () => {} } })
  t.equal(await later.clientInformation({ issuer: AS_B }), undefined, 'no registration for B: A\'s client_id is not shown to B')
  t.equal(await later.tokens({ issuer: AS_B }), undefined, 'no tokens for B: A\'s refresh token is not shown to B')
  t.equal((await later.tokens({ issuer: AS_A }))?.refresh_token, 'rt-a', 'A still gets its own')
  t.equal((await later.tokens({ issuer: `${AS_A}/` }))?.refresh_token, 'rt-a', 'one trailing slash is the same issuer (as the SDK compares)')

  await later.saveClientInformation({ client_id: 'client-at-b', issuer: AS_B }, { issuer: AS_B })
  await later.saveTokens(tokens('b', AS_B), { issuer: AS_B })
  t.equal((await later.tokens())?.access_token, 'at-b', 'without ctx (the bearer for the MCP server): the latest sign-in')
  t.equal((await cache.get(SERVER))?.issuer, AS_B, 'commands now use B')
  t.equal((await cache.get(SERVER, AS_A))?.client?.client_id, 'client-at-a', 'A\'s credentials are kept apart')
  t.equal((await later.clientInformation({ issuer: AS_A }))?.client_id, 'client-at-a')
  t.equal((await later.tokens())?.access_token, 'at-b', 'the bearer stays the latest sign-in\'s after the SDK looked at A')

  // An invalid_grant at B (auth() read B's tokens, B refused the refresh) drops B's tokens only.
  t.equal((await later.tokens({ issuer: AS_B }))?.refresh_token, 'rt-b')
  await later.invalidateCredentials('tokens')
  t.equal(await later.tokens({ issuer: AS_B }), undefined)
  t.equal(await later.tokens(), undefined, 'no bearer left from B')
  t.equal((await later.tokens({ issuer: AS_A }))?.access_token, 'at-a', 'A\'s tokens survive B\'s invalidation')
})

test('credentials that name no authorization server are refused by the cache', async (t) => {
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: await tempConfigHome(t) }))
  await t.rejects(cache.update(SERVER, () => ({ tokens: tokens('x') })), { message: /must name the authorization server/ })
  await cache.update(SERVER, () => ({ discovery: { authorizationServerUrl: AS_A } }))
  t.equal((await cache.get(SERVER))?.tokens, undefined, 'discovery alone is fine')
})

test('a version-1 file migrates: stamped credentials move under their issuer, unstamped ones are dropped', async (t) => {
  const cache = new TokenCache(configDir({ XDG_CONFIG_HOME: await tempConfigHome(t) }))
  await mkdir(cache.dir, { recursive: true })
  const discovery = { authorizationServerUrl: `${AS_A}/` }
  await writeFile(cache.file, JSON.stringify({
    version: 1,
    servers: {
      // SDK 1.x stamped tokens with the authorization server URL (trailing slash); this CLI stamped its registrations.
      [SERVER]: { client: { client_id: 'c-a', issuer: `${AS_A}/` }, tokens: tokens('a', `${AS_A}/`), expiresAt: 123, scope: 'tools.read', discovery },
      'http://old.example/mcp': { client: { client_id: 'c-old' }, tokens: tokens('old'), scope: 'tools.read' },
      'http://mixed.example/mcp': { client: { client_id: 'c-b', issuer: AS_B }, tokens: tokens('unstamped') }
    }
  }), { mode: 0o600 })
  const migrated = await cache.get(SERVER)
  t.equal(migrated?.issuer, `${AS_A}/`)
  t.equal(migrated?.tokens?.refresh_token, 'rt-a')
  t.equal(migrated?.client?.client_id, 'c-a')
  t.equal(migrated?.scope, 'tools.read')
  t.equal(migrated?.expiresAt, 123)
  t.same(migrated?.discovery, discovery)
  t.equal((await cache.get(SERVER, AS_A))?.tokens?.refresh_token, 'rt-a', 'found under the metadata\'s issuer (no trailing slash) too')
  t.equal((await cache.get(SERVER, AS_B))?.tokens, undefined)

  const old = await cache.get('http://old.example/mcp')
  t.equal(old?.tokens, undefined, 'unstamped tokens: no one knows their issuer, so they are not used')
  t.equal(old?.client, undefined)
  const mixed = await cache.get('http://mixed.example/mcp')
  t.equal(mixed?.client?.client_id, 'c-b')
  t.equal(mixed?.tokens, undefined, 'an unstamped token is not adopted by the registration\'s issuer')

  await cache.update(SERVER, e => ({ ...e, scope: 'tools.read graph.read' }))
  const file = JSON.parse(await readFile(cache.file, 'utf8'))
  t.equal(file.version, 2, 'written back as version 2')
  t.same(Object.keys(file.servers[SERVER].authorizationServers), [AS_A])
  t.notOk(JSON.stringify(file).includes('rt-old'), 'the dropped tokens are gone from the file')
})
