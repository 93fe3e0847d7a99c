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
  /** Kills one node (SIGKILL, by the pid its shell holds). */
  kill: (port: number) => void
  /** Resolves when every slot is served again (`cluster_state:ok` on every live node), with the time it took. */
  waitForOk: (timeoutMs?: number) => Promise<number>
  /** Resolves when `key`'s slot is served by another primary than `port` and the cluster is ok, with the time it took. */
  waitForFailover: (key: string, port: number, timeoutMs?: number) => Promise<number>
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
  const killAll = () => { for (const p of alive) p.stdin?.end() }
  process.once('exit', killAll)
  try {
    for (let i = 0; i < primaries * (1 + replicas); i++) {
      const port = await freePort()
      const busPort = await freePort()
      // A shell holds each server and SIGKILLs it when its stdin closes: when this process ends,
      // however it ends (even killed by a test timeout), its servers end too.
      const child = spawn('sh', ['-c', 'redis-server "$@" & r=$!; read _; kill -9 $r; wait $r', 'sh',
        '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-node-timeout', String(nodeTimeoutMs), '--save', '', '--appendonly', 'no', '--dir', dir,
        // Replicas sync at once (Redis waits 5 s by default): a replica that never synced cannot take over.
        '--repl-diskless-sync-delay', '0'
      ], { stdio: ['pipe', 'ignore', 'ignore'] })
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

  /** Every replica has synced with its primary (INFO replication: master_link_status:up). */
  async function waitForReplicas (timeoutMs = 30000): Promise<void> {
    const started = Date.now()
    for (const { port } of nodes) {
      for (;;) {
        const info = await cli('-p', String(port), 'info', 'replication')
        if (/role:master/.test(info) || /master_link_status:up/.test(info)) break
        if (Date.now() - started > timeoutMs) throw new Error(`replica ${port} not in sync after ${timeoutMs} ms`)
        await sleep(100)
      }
    }
  }

  async function primaryFor (key: string): Promise<number> {
    const live = nodes.find(n => alive.has(n.process)) as ClusterNodeProcess
    const slot = Number((await cli('-p', String(live.port), 'cluster', 'keyslot', key)).trim())
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
  }

  await waitForOk()
  await waitForReplicas()
  return {
    url: `redis://127.0.0.1:${nodes[0].port}`,
    nodes,
    primaryFor,
    async waitForFailover (key, port, timeoutMs = 30000) {
      const started = Date.now()
      while (await primaryFor(key).catch(() => port) === port) {
        if (Date.now() - started > timeoutMs) throw new Error(`no failover of ${port} within ${timeoutMs} ms`)
        await sleep(50)
      }
      await waitForOk(Math.max(1, timeoutMs - (Date.now() - started)))
      return Date.now() - started
    },
    kill (port) {
      nodes.find(n => n.port === port)?.process.stdin?.end()
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
