import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { randomUUID } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { build, freePort } from '../helper.ts'
import { RedisTokenAuth } from '../../plugins/store/entra-auth.ts'
import { fakeEntraToken, ManualClock, TestCredential, until } from '../support/redis-entra.ts'

// REDIS_AUTH=entra on a Redis Cluster: every node connection the ioredis Cluster makes signs in with
// the current token and re-authenticates at each refresh. A cluster of three primaries of the test's
// own (ACL users are per node, so the test user is made on each).

const HOUR = 3600000
const MINUTE = 60000
const run = promisify(execFile)

async function startCluster (t: { teardown: (fn: () => unknown) => void }): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'emg-entra-cluster-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  for (const port of ports) {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no'], { cwd: dir, stdio: 'ignore' })
    t.teardown(() => { child.kill('SIGKILL') })
  }
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  for (const port of ports) await until(async () => (await run('redis-cli', ['-p', String(port), 'ping']).catch(() => ({ stdout: '' }))).stdout.trim() === 'PONG', `node ${port} answers`)
  await run('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
  for (const port of ports) await until(async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), `node ${port} sees the cluster ok`, 20000)
  return ports
}

t.test('on a Redis Cluster every node connection signs in with the token and re-authenticates at each refresh; new node connections use the new token', async t => {
  const ports = await startCluster(t)
  const admins = ports.map(port => new Redis({ port, host: '127.0.0.1' }))
  t.teardown(() => { for (const a of admins) a.disconnect() })
  const name = `emg-test-${randomUUID()}`
  const token = () => fakeEntraToken({ oid: name, exp: Math.floor(Date.now() / 1000) + 3600 })
  const setPassword = async (password: string) => {
    for (const a of admins) await a.call('ACL', 'SETUSER', name, 'on', 'resetpass', `>${password}`, '~*', '+@all')
  }
  const connections = async () => (await Promise.all(admins.map(async a => ((await a.call('CLIENT', 'LIST')) as string).split('\n')
    .filter(line => line.includes(` user=${name} `)).map(line => ({ port: a.options.port, cmd: /\bcmd=(\S+)/.exec(line)?.[1] }))))).flat()
  const refused = async () => (await Promise.all(admins.map(async a => ((await a.call('ACL', 'LOG')) as unknown[][]).filter(e => e.includes(name))))).flat()

  const clock = new ManualClock()
  const token1 = token()
  await setPassword(token1)
  const credential = new TestCredential(clock, { token: token1, lifetimeMs: HOUR })
  const errors: object[] = []
  const auth = new RedisTokenAuth({ credential, clock, log: { info: () => {}, warn: () => {}, error: (obj) => { errors.push(obj) } } })
  t.teardown(() => auth.stop())
  await auth.start()
  const cluster = new Cluster([{ host: '127.0.0.1', port: ports[0] }], { lazyConnect: true, redisOptions: { connectTimeout: 2000 } })
  t.teardown(() => { cluster.disconnect() })
  // A token is there already: attaching connects the lazily made cluster, as the store plugin relies on.
  auth.attachCluster(cluster)
  if (cluster.status !== 'ready') await new Promise(resolve => cluster.once('ready', resolve))
  // Keys whose slots are on each of the three primaries, so the cluster opens a connection to each.
  const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(k => `entra:${k}`)
  for (const key of keys) t.equal(await cluster.set(key, '1'), 'OK')
  const ports1 = new Set((await connections()).map(c => c.port))
  t.equal(ports1.size, 3, 'signed in as the identity on all three primaries')

  for (const round of [1, 2]) {
    const next = token()
    await setPassword(next)
    credential.answer = { token: next, lifetimeMs: HOUR }
    await clock.advance(48 * MINUTE)
    await until(async () => (await connections()).every(c => c.cmd === 'auth'), `round ${round}: every node connection sent AUTH`)
    for (const key of keys) t.equal(await cluster.set(key, String(round)), 'OK', `round ${round}: ${key} written with only the new password valid`)
  }

  // Redis drops every connection of the user: the cluster makes new node connections, with the new token.
  for (const a of admins) await a.call('CLIENT', 'KILL', 'USER', name)
  await until(async () => {
    try {
      for (const key of keys) await cluster.get(key)
      return new Set((await connections()).map(c => c.port)).size === 3
    } catch {
      return false
    }
  }, 'the cluster reconnected to every node', 10000)
  for (const key of keys) t.equal(await cluster.get(key), '2')
  t.same(await refused(), [], 'no AUTH refused on any node')
  t.same(errors, [])
})

t.test('the service with REDIS_CLUSTER=true and REDIS_AUTH=entra connects to every primary as the identity once the token is there, and serves requests', async t => {
  const ports = await startCluster(t)
  const admins = ports.map(port => new Redis({ port, host: '127.0.0.1' }))
  t.teardown(() => { for (const a of admins) a.disconnect() })
  const name = `emg-test-${randomUUID()}`
  const token1 = fakeEntraToken({ oid: name, exp: Math.floor(Date.now() / 1000) + 3600 })
  for (const a of admins) await a.call('ACL', 'SETUSER', name, 'on', `>${token1}`, '~*', '+@all')
  const clock = new ManualClock()
  const credential = new TestCredential(clock, { token: token1, lifetimeMs: HOUR })
  const app = await build(t, {
    REDIS_URL: `redis://127.0.0.1:${ports[0]}`, REDIS_CLUSTER: 'true', REDIS_AUTH: 'entra', REDIS_KEY_PREFIX: `emg-test-${randomUUID()}:`
  }, { app: { store: { redisCredential: credential, redisAuthClock: clock } } })
  // As App Service does: traffic once readiness says so (a loaded machine may need more than the store's 2 s start wait).
  await until(async () => (await app.inject('/health/ready')).statusCode === 200, 'the service becomes ready on the cluster', 30000)
  for (let i = 0; i < 6; i++) {
    const res = await app.inject({ method: 'POST', url: '/register', payload: { client_name: `c${i}`, redirect_uris: ['http://127.0.0.1:9/cb'], token_endpoint_auth_method: 'none' } })
    t.equal(res.statusCode, 201, `registration ${i} stored in the cluster`)
  }
  const users = (await Promise.all(admins.map(async a => ((await a.call('CLIENT', 'LIST')) as string).split('\n')
    .filter(line => / cmd=/.test(line) && !line.includes(' user=default ') && line.includes(' user=')).map(line => /\buser=(\S+)/.exec(line)?.[1])))).flat()
  t.ok(users.length > 0, 'the service has connections to the cluster')
  t.same([...new Set(users)], [name], 'and every one is signed in as the identity (none as the default user)')
})
