// Authenticated MCP tools/call of a trivial tool (whoami), in one run, alternating between
//  (a) this service (server.ts) with Redis rate limiting on, 2025-era request (pooled servers),
//  (m) the same service, 2026-07-28 request (`_meta` envelope, Mcp-* headers: the SDK's handler), and
//  (c) the same service on a Redis Cluster of three primaries started for the bench (REDIS_CLUSTER=true), and
//  (b) the MCP SDK v1's own stateless express example with requireBearerAuth (bench/sdk-baseline-server.ts);
//  with BENCH_METRICS=1 also (x): (a) with METRICS_TOKEN set (Prometheus metrics on), and its ratio to (a).
// autocannon, 10 connections; the servers are child processes, so none shares its event loop
// with the load generator. Prints req/s, p50/p99 per round and overall, the ratios a/b and m/b,
// and the service's resident memory (VmRSS now, VmHWM peak) under load.
// Targets (issue 14): ratios >= 4.5 (aim 6), p99 < 5 ms, RSS < 150 MB.
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import autocannon from 'autocannon'
import { freePort, waitFor } from './server-process.ts'
import { parseSigningKeys } from '../config/keys.ts'
import { createTokenSigner } from '../plugins/jwt-verify/signing-keys.ts'
import { startRedisCluster } from '../test/support/redis-cluster.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const REDIS_URL = 'redis://127.0.0.1:6379'
const CONNECTIONS = 10
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
const MODERN_HEADERS = { ...HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'whoami' }
const MODERN_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: {
    name: 'whoami',
    arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} }
  }
})

/** One kind of request: its headers and body. */
interface Shape { headers: Record<string, string>, body: string }
const LEGACY: Shape = { headers: HEADERS, body: BODY }
const MODERN: Shape = { headers: MODERN_HEADERS, body: MODERN_BODY }

/**
 * The service as the image runs it when BENCH_SERVICE=dist (`node dist/server.js`, after `npm run
 * build`), else from source through tsx (whose loader thread adds resident memory of its own).
 * BENCH_NODE_FLAGS adds node flags to the service only (e.g. `--max-semi-space-size=4`).
 */
function serviceCommand (): { script: string, flags: string[] } {
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(flag => flag !== '')
  return process.env.BENCH_SERVICE === 'dist' ? { script: 'dist/server.js', flags } : { script: 'server.ts', flags: [...flags, '--import', 'tsx'] }
}

function start (script: string, env: Record<string, string>, flags = ['--import', 'tsx']): ChildProcess {
  const child = spawn(process.execPath, [...flags, join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  child.on('exit', (code, signal) => {
    if (code !== null && code !== 0) process.stderr.write(`${script} exited with ${code ?? signal}\n`)
  })
  return child
}

interface Round { rps: number, p50: number, p99: number, non2xx: number, errors: number, total: number, cpuUs: number }

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; 0 elsewhere). */
function cpuMs (pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return 0
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, in 10 ms clock ticks
}

/** Resident memory of a process in MB: now (VmRSS) and its peak so far (VmHWM); 0 where /proc is missing. */
function memoryMb (pid: number | undefined): { rss: number, peak: number } {
  if (pid === undefined || !existsSync(`/proc/${pid}/status`)) return { rss: 0, peak: 0 }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

async function load (url: string, token: string, seconds: number, pid?: number, shape: Shape = LEGACY): Promise<Round> {
  const cpuBefore = cpuMs(pid)
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { ...shape.headers, authorization: `Bearer ${token}` },
    body: shape.body
  })
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
    cpuUs: result.requests.total > 0 ? (cpuMs(pid) - cpuBefore) * 1000 / result.requests.total : 0
  }
}

/** One call checked by hand: the server answers the tool, not an error. */
async function check (url: string, token: string, label: string, shape: Shape = LEGACY): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...shape.headers, authorization: `Bearer ${token}` },
    body: shape.body
  })
  const text = await res.text()
  if (res.status !== 200 || !text.includes('"result"') || text.includes('"isError":true')) {
    throw new Error(`${label}: the tool call did not succeed (${res.status}): ${text.slice(0, 300)}`)
  }
}

const fmt = (r: Round) => `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  server CPU ${r.cpuUs.toFixed(0).padStart(5)} µs/request${r.non2xx + r.errors > 0 ? `  (non-2xx ${r.non2xx}, errors ${r.errors})` : ''}`
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]

const summary = (rounds: Round[]): Round => ({
  rps: rounds.reduce((s, r) => s + r.total, 0) / (rounds.length * SECONDS),
  p50: median(rounds.map(r => r.p50)),
  p99: median(rounds.map(r => r.p99)),
  non2xx: rounds.reduce((s, r) => s + r.non2xx, 0),
  errors: rounds.reduce((s, r) => s + r.errors, 0),
  total: rounds.reduce((s, r) => s + r.total, 0),
  cpuUs: rounds.reduce((s, r) => s + r.cpuUs * r.total, 0) / Math.max(1, rounds.reduce((s, r) => s + r.total, 0))
})

interface Target { label: string, url: string, token: string, pid: number | undefined, shape: Shape, rounds: Round[] }

/** The rounds, each target in turn per round; then the summary lines and ratios against the last target (the baseline). */
async function measure (targets: Target[], servicePid: number | undefined): Promise<void> {
  for (const target of targets) await load(target.url, target.token, 2, undefined, target.shape)
  let rssMax = 0
  for (let i = 0; i < ROUNDS; i++) {
    for (const target of targets) {
      target.rounds.push(await load(target.url, target.token, SECONDS, target.pid, target.shape))
      if (target.pid === servicePid) rssMax = Math.max(rssMax, memoryMb(servicePid).rss)
      process.stdout.write(`  round ${i + 1} ${target.label}: ${fmt(target.rounds[i])}\n`)
    }
  }
  const baseline = summary(targets[targets.length - 1].rounds)
  for (const target of targets) process.stdout.write(`${target.label}: ${fmt(summary(target.rounds))}\n`)
  for (const target of targets.slice(0, -1)) {
    const s = summary(target.rounds)
    process.stdout.write(`ratio ${target.label.slice(0, 3)}/(b): ${(s.rps / baseline.rps).toFixed(2)}  (target >= 4.5, aim 6; p99 target < 5 ms: ${s.p99 < 5 ? 'met' : 'NOT met'})`)
    // Throughput depends on what else the machine runs; CPU per request much less so.
    process.stdout.write(s.cpuUs > 0 ? `  server CPU per request b/a: ${(baseline.cpuUs / s.cpuUs).toFixed(2)}\n` : '\n')
  }
  const memory = memoryMb(servicePid)
  process.stdout.write(`service memory: RSS under load (max after a round) ${rssMax.toFixed(0)} MB, peak (VmHWM) ${memory.peak.toFixed(0)} MB  (target < 150 MB)\n`)
  if (targets.some(t => { const s = summary(t.rounds); return s.non2xx + s.errors > 0 })) process.stdout.write('WARNING: some requests failed; the figures are not comparable\n')
}

const METRICS_TOKEN = 'bench-metrics-token-0123456789abcdef0123'

/** (x): the service with METRICS_TOKEN set, on its own port. */
async function startMetered (command: { script: string, flags: string[] }, env: (port: number, base: string) => Record<string, string>) {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  return { base, child: start(command.script, { ...env(port, base), METRICS_TOKEN }, command.flags) }
}

/** The metrics-on / metrics-off ratios, and a scrape showing the requests were counted. */
async function reportMetered (on: Round, off: Round, metered: { base: string }): Promise<void> {
  process.stdout.write(`metrics on (x) / off (a): req/s ${(on.rps / off.rps).toFixed(2)}, server CPU per request ${off.cpuUs > 0 ? (on.cpuUs / off.cpuUs).toFixed(2) : '?'}\n`)
  const scrape = await fetch(`${metered.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  const text = await scrape.text()
  const count = /^emg_http_request_duration_seconds_count\{[^}]*route="\/mcp",method="POST",status_code="200"\} (\d+)/m.exec(text)?.[1]
  process.stdout.write(`(x) /metrics: HTTP ${scrape.status}, ${text.length} bytes, /mcp 200 observed ${count ?? '?'} times\n`)
}

export default async function mcpBench (): Promise<void> {
  const privatePem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const [key] = parseSigningKeys(privatePem)
  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()]
  const baseA = `http://127.0.0.1:${portA}`
  const baseB = `http://127.0.0.1:${portB}`
  const baseC = `http://127.0.0.1:${portC}`
  const claims = { sub: 'bench-user', oid: '00000000-0000-0000-0000-0000000000b1', tid: '00000000-0000-0000-0000-0000000000a1', name: 'Bench', client_id: 'bench', scope: 'tools.read', sid: `bench-${randomUUID()}` }
  const tokenB = createTokenSigner([key], { issuer: baseB, audience: `${baseB}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken(claims).accessToken

  const command = serviceCommand()
  const serviceEnv = (port: number, base: string, redis: Record<string, string>) => ({
    PORT: String(port),
    HOST: '127.0.0.1',
    MCP_BASE_URL: base,
    TOKEN_SIGNING_KEY: privatePem,
    ...redis,
    REDIS_KEY_PREFIX: `bench:${randomUUID().slice(0, 8)}:`,
    RATE_LIMIT_ENABLED: 'true',
    // Limits far above what the bench sends, so every request is counted in Redis and none refused.
    RATE_LIMIT_MCP: '100000000/60',
    RATE_LIMIT_MCP_PER_IP: '100000000/60',
    // warn: no request log lines, as the baseline logs nothing (audit lines are written regardless);
    // BENCH_LOG_LEVEL=info measures the service with its default request logging.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn'
  })
  const cluster = await startRedisCluster({ primaries: 3 })
  // One at a time: on a loaded machine (load 15+ on 2 cores) four or five tsx processes starting at
  // once took longer than Fastify's plugin timeout (10 s) to load the app.
  const up = async (url: string, child: ChildProcess) => { await waitFor(url, child, 180_000); return child }
  const children: ChildProcess[] = []
  const started = async (base: string, child: ChildProcess) => { children.push(child); return await up(`${base}/health`, child) }
  let metered: { base: string, child: ChildProcess } | undefined
  try {
    const service = await started(baseA, start(command.script, serviceEnv(portA, baseA, { REDIS_URL }), command.flags))
    const onCluster = await started(baseC, start(command.script, serviceEnv(portC, baseC, { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true' }), command.flags))
    const baseline = await started(baseB, start('bench/sdk-baseline-server.ts', { BASELINE_PORT: String(portB), BASELINE_PUBLIC_KEY: key.publicPem, BASELINE_ISSUER: baseB }))
    if (process.env.BENCH_METRICS === '1') {
      metered = await startMetered(command, (port, base) => serviceEnv(port, base, { REDIS_URL }))
      await started(metered.base, metered.child)
    }
    // Minted once the service is up: its new store's epoch refuses tokens issued before it (store_reset).
    const tokenA = createTokenSigner([key], { issuer: baseA, audience: `${baseA}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken(claims).accessToken
    await check(`${baseA}/mcp`, tokenA, '(a) service, 2025')
    await check(`${baseA}/mcp`, tokenA, '(m) service, 2026-07-28', MODERN)
    await check(`${baseB}/mcp`, tokenB, '(b) baseline')
    const tokenC = createTokenSigner([key], { issuer: baseC, audience: `${baseC}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken(claims).accessToken
    await check(`${baseC}/mcp`, tokenC, '(c) service on a cluster')
    process.stdout.write(`service: node ${[...command.flags, command.script].join(' ')}; RSS before load ${memoryMb(service.pid).rss.toFixed(0)} MB\n`)
    process.stdout.write(`authenticated tools/call whoami, ${CONNECTIONS} connections, ${ROUNDS} x ${SECONDS} s each, alternating (after 2 s warm-up each), service LOG_LEVEL=${process.env.BENCH_LOG_LEVEL ?? 'warn'}\n`)
    const tokenX = metered === undefined ? '' : createTokenSigner([key], { issuer: metered.base, audience: `${metered.base}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken(claims).accessToken
    if (metered !== undefined) await check(`${metered.base}/mcp`, tokenX, '(x) service with metrics')
    const targets: Target[] = [
      { label: '(a) service 2025-06-18 + Redis rate limit', url: `${baseA}/mcp`, token: tokenA, pid: service.pid, shape: LEGACY, rounds: [] },
      ...(metered !== undefined ? [{ label: '(x) (a) with METRICS_TOKEN (metrics on) ', url: `${metered.base}/mcp`, token: tokenX, pid: metered.child.pid, shape: LEGACY, rounds: [] }] : []),
      { label: '(m) service 2026-07-28 + Redis rate limit', url: `${baseA}/mcp`, token: tokenA, pid: service.pid, shape: MODERN, rounds: [] },
      { label: '(c) service 2025-06-18 + Redis Cluster   ', url: `${baseC}/mcp`, token: tokenC, pid: onCluster.pid, shape: LEGACY, rounds: [] },
      { label: '(b) SDK v1 express baseline, 2025-06-18  ', url: `${baseB}/mcp`, token: tokenB, pid: baseline.pid, shape: LEGACY, rounds: [] }
    ]
    await measure(targets, service.pid)
    const [one, clustered] = [summary(targets[0].rounds), summary(targets[2].rounds)]
    process.stdout.write(`cluster (c) / one node (a): req/s ${(clustered.rps / one.rps).toFixed(2)}, server CPU per request ${one.cpuUs > 0 ? (clustered.cpuUs / one.cpuUs).toFixed(2) : '?'}\n`)
    if (metered !== undefined) await reportMetered(summary(targets[1].rounds), one, metered)
  } finally {
    for (const child of children) child.kill('SIGTERM')
    await cluster.stop()
  }
}
