// `npx tsx bench/redis-footprint.ts`: the figures docs/architecture.md gives for sizing Redis, measured
// on private servers (never the shared 6379): one Redis and a Redis Cluster (three primaries), started
// here. For each: the Redis commands one /mcp tool call costs (INFO commandstats before and after
// 200 calls, rate limiting on), and the memory a grant holds (MEMORY USAGE of every key a sign-in and
// each refresh leave, by kind). Prints a table; nothing is asserted.
import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { buildListening, freePort } from '../test/helper.ts'
import { startRedisCluster } from '../test/support/redis-cluster.ts'
import { fullFlow, registerClient, tokenRequest } from '../test/support/oauth-flow.ts'
import { callTool, post } from '../test/support/mcp.ts'

const run = promisify(execFile)
const CALLS = 200
const REFRESHES = 5
const CPU_CALLS = 4000

/** Commands executed so far on these servers (sum of INFO commandstats calls), by command. */
async function commandCounts (ports: number[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const port of ports) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'commandstats'])
    for (const [, name, calls] of stdout.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) counts.set(name, (counts.get(name) ?? 0) + Number(calls))
  }
  return counts
}

function delta (before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>()
  for (const [name, n] of after) if (n - (before.get(name) ?? 0) > 0) out.set(name, n - (before.get(name) ?? 0))
  return out
}

/** CPU time (user + system, ms) the redis-server processes listening on `ports` have used (Linux /proc). */
async function redisCpuMs (ports: number[]): Promise<number> {
  let ms = 0
  for (const port of ports) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'server'])
    const pid = /process_id:(\d+)/.exec(stdout)?.[1]
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    ms += (Number(fields[11]) + Number(fields[12])) * 10
  }
  return ms
}

async function measure (label: string, env: Record<string, string>, ports: number[]) {
  const closers: Array<() => unknown> = []
  const t = { teardown: (fn: () => unknown) => { closers.push(fn) } }
  try {
    const { baseUrl } = await buildListening(t, { ...env, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MCP: '100000/60', RATE_LIMIT_MCP_PER_IP: '100000/60', REFRESH_TOKEN_REUSE_GRACE: '0' })
    const client = await registerClient(baseUrl)
    const { tokens } = await fullFlow(baseUrl, client)
    let { access_token: access, refresh_token: refresh } = tokens.body
    await post(baseUrl, callTool(0, 'whoami'), { authorization: `Bearer ${access}` })

    const before = await commandCounts(ports)
    for (let i = 1; i <= CALLS; i++) await post(baseUrl, callTool(i, 'whoami'), { authorization: `Bearer ${access}` })
    const perCall = delta(before, await commandCounts(ports))
    // Redis CPU per call, from more calls (10 in flight) than the command count needs: clock ticks are 10 ms.
    const cpuBefore = await redisCpuMs(ports)
    let next = 0
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < CPU_CALLS) await post(baseUrl, callTool(next++, 'whoami'), { authorization: `Bearer ${access}` })
    }))
    const cpuUs = (await redisCpuMs(ports) - cpuBefore) * 1000 / CPU_CALLS
    perCall.delete('info') // this measure's own
    const total = [...perCall.values()].reduce((a, b) => a + b, 0)
    // commandstats counts the commands a script runs as well as the script itself (EVALSHA)
    process.stdout.write(`\n${label}: Redis commands per /mcp tool call: ${(total / CALLS).toFixed(2)} executed, scripts' own included (${[...perCall].map(([n, c]) => `${n} ${(c / CALLS).toFixed(2)}`).join(', ')})\n`)
    process.stdout.write(`  Redis CPU per /mcp call: ${cpuUs.toFixed(1)} µs, all servers together (one core: about ${(1e6 / cpuUs).toFixed(0)} calls/s)\n`)

    const footprint = async () => {
      const sizes = new Map<string, { keys: number, bytes: number }>()
      for (const port of ports) {
        const redis = new Redis(port, '127.0.0.1')
        redis.on('error', () => {})
        for (const key of await redis.keys(`${env.REDIS_KEY_PREFIX}*`)) {
          const kind = key.slice(env.REDIS_KEY_PREFIX.length).split(':')[0]
          const bytes = Number(await redis.call('memory', 'usage', key, 'samples', '0'))
          const s = sizes.get(kind) ?? { keys: 0, bytes: 0 }
          sizes.set(kind, { keys: s.keys + 1, bytes: s.bytes + bytes })
        }
        redis.disconnect()
      }
      return sizes
    }
    const show = (sizes: Map<string, { keys: number, bytes: number }>) => [...sizes].sort().map(([k, s]) => `${k} ${s.keys}/${s.bytes} B`).join(', ')
    process.stdout.write(`  after one sign-in (keys/bytes by kind): ${show(await footprint())}\n`)
    for (let i = 0; i < REFRESHES; i++) {
      const r = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: refresh, client_id: client.client_id })
      if (r.status !== 200) throw new Error(`refresh ${r.status}`)
      access = r.body.access_token
      refresh = r.body.refresh_token
    }
    process.stdout.write(`  after ${REFRESHES} refreshes more:            ${show(await footprint())}\n`)
  } finally {
    for (const close of closers.reverse()) await close()
  }
}

const port = await freePort()
const single = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
const cluster = await startRedisCluster({ primaries: 3 })
try {
  await new Promise(resolve => setTimeout(resolve, 300))
  await measure('one Redis', { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: 'emg:' }, [port])
  await measure('Redis Cluster, 3 primaries', { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', REDIS_KEY_PREFIX: 'emg:' }, cluster.nodes.map(n => n.port))
} finally {
  single.kill('SIGKILL')
  await cluster.stop()
}
