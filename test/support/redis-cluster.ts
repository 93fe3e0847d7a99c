// A real Redis Cluster on this machine for a test file: redis-server processes with
// --cluster-enabled on free ports, each in its own temp folder, joined by `redis-cli --cluster
// create`. Stopped by the pids this module started (never the shared Redis on 6379).
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort } from '../helper.ts'

const run = promisify(execFile)

export interface ClusterNodeProcess {
  port: number
  process: ChildProcess
}

export interface RedisClusterHandle {
  /** One node's URL (redis://127.0.0.1:port): what REDIS_URL names with REDIS_CLUSTER=true. */
  url: string
  nodes: ClusterNodeProcess[]
  /** The port of the primary that now serves `key`'s slot. */
  primaryFor: (key: string) => Promise<number>
  /** Kills one node (SIGKILL, by its pid). */
  kill: (port: number) => void
  /** Resolves when every slot is served again (`cluster_state:ok` on every live node), with the time it took. */
  waitForOk: (timeoutMs?: number) => Promise<number>
  stop: () => Promise<void>
}

async function cli (...args: string[]): Promise<string> {
  return (await run('redis-cli', args, { timeout: 30000 })).stdout
}

/** The cluster state one node reports, or 'unreachable'. */
async function stateOf (port: number): Promise<string> {
  try {
    const info = await cli('-p', String(port), 'cluster', 'info')
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown'
  } catch {
    return 'unreachable'
  }
}

/**
 * `primaries` primaries, each with `replicas` replicas. `nodeTimeoutMs` is cluster-node-timeout:
 * how long a silent primary has before its replica takes over (Redis' default is 15 s).
 */
export async function startRedisCluster (opts: { primaries?: number, replicas?: number, nodeTimeoutMs?: number } = {}): Promise<RedisClusterHandle> {
  const { primaries = 3, replicas = 0, nodeTimeoutMs = 1000 } = opts
  const dir = await mkdtemp(join(tmpdir(), 'emg-redis-cluster-'))
  const nodes: ClusterNodeProcess[] = []
  const alive = new Set<ChildProcess>()
  const killAll = () => { for (const p of alive) p.kill('SIGKILL') }
  process.once('exit', killAll)
  try {
    for (let i = 0; i < primaries * (1 + replicas); i++) {
      const port = await freePort()
      const busPort = await freePort()
      const child = spawn('redis-server', [
        '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-node-timeout', String(nodeTimeoutMs), '--save', '', '--appendonly', 'no', '--dir', dir
      ], { stdio: 'ignore' })
      alive.add(child)
      child.once('exit', () => alive.delete(child))
      nodes.push({ port, process: child })
    }
    for (const { port } of nodes) await waitForPing(port)
    await run('redis-cli', ['--cluster', 'create', ...nodes.map(n => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 60000 })
  } catch (err) {
    killAll()
    await rm(dir, { recursive: true, force: true })
    throw err
  }

  async function waitForOk (timeoutMs = 30000): Promise<number> {
    const started = Date.now()
    for (;;) {
      const live = nodes.filter(n => alive.has(n.process))
      const states = await Promise.all(live.map(n => stateOf(n.port)))
      if (states.every(s => s === 'ok') && await everySlotServed(live[0].port)) return Date.now() - started
      if (Date.now() - started > timeoutMs) throw new Error(`cluster not ok after ${timeoutMs} ms: ${states.join(', ')}`)
      await sleep(100)
    }
  }

  async function everySlotServed (port: number): Promise<boolean> {
    const info = await cli('-p', String(port), 'cluster', 'info')
    return /cluster_slots_ok:16384/.test(info)
  }

  await waitForOk()
  return {
    url: `redis://127.0.0.1:${nodes[0].port}`,
    nodes,
    async primaryFor (key) {
      const slot = Number((await cli('-p', String(nodes.find(n => alive.has(n.process))?.port), 'cluster', 'keyslot', key)).trim())
      const live = nodes.find(n => alive.has(n.process)) as ClusterNodeProcess
      const client = new Redis(live.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 })
      try {
        await client.connect()
        const ranges = await client.call('cluster', 'slots') as Array<[number, number, [string, number]]>
        const range = ranges.find(([from, to]) => slot >= from && slot <= to)
        if (range === undefined) throw new Error(`no node serves slot ${slot}`)
        return Number(range[2][1])
      } finally {
        client.disconnect()
      }
    },
    kill (port) {
      nodes.find(n => n.port === port)?.process.kill('SIGKILL')
    },
    waitForOk,
    async stop () {
      const exits = [...alive].map(p => new Promise(resolve => p.once('exit', resolve)))
      killAll()
      await Promise.all(exits)
      process.off('exit', killAll)
      await rm(dir, { recursive: true, force: true })
    }
  }
}

async function waitForPing (port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await cli('-p', String(port), 'ping')).trim() === 'PONG') return
    } catch {}
    await sleep(50)
  }
  throw new Error(`redis-server on ${port} did not start`)
}
