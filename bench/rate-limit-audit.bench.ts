// The cost of rate limiting (memory and Redis counters) and of audit logging on /mcp
// (authenticated tools/call whoami), each as a ratio against the same service without it.
// Five copies of server.ts run as child processes (so none shares its event loop with the load
// generator), their stdout (the pino log) going to /dev/null:
//   base       memory store, RATE_LIMIT_ENABLED=false, LOG_LEVEL=silent (no audit line)
//   memory-rl  memory store, rate limit on (in-process counters)
//   redis      Redis store, rate limit off (the baseline for Redis: token revocation reads Redis too)
//   redis-rl   Redis store, rate limit on (two counters per request: user and IP ceiling)
//   audit      memory store, rate limit off, LOG_LEVEL=warn: only the audit lines (tool.called)
// autocannon, 10 connections, rounds alternating between the five; limits are far above the load,
// so every request is counted and none is refused. Before that, the cost of one check and of one
// audit line is timed in process (steadier than req/s when the machine is busy).
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import autocannon from 'autocannon'
import { freePort, waitFor } from './server-process.ts'
import { parseSigningKeys } from '../config/keys.ts'
import { createTokenSigner } from '../plugins/jwt-verify/signing-keys.ts'
import Fastify, { type FastifyInstance } from 'fastify'
import pino from 'pino'
import app, { serverOptions } from '../app.ts'
import { loadConfig } from '../config/index.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const REDIS_URL = 'redis://127.0.0.1:6379'
const CONNECTIONS = 10
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const HIGH = '100000000/60'

interface Variant { name: string, label: string, env: Record<string, string> }

const VARIANTS: Variant[] = [
  { name: 'base', label: 'no rate limit, no audit (memory store)', env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'silent' } },
  { name: 'memory-rl', label: 'memory rate limit', env: { RATE_LIMIT_ENABLED: 'true', LOG_LEVEL: 'silent' } },
  { name: 'redis', label: 'Redis store, no rate limit', env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'silent', REDIS_URL } },
  { name: 'redis-rl', label: 'Redis store + Redis rate limit', env: { RATE_LIMIT_ENABLED: 'true', LOG_LEVEL: 'silent', REDIS_URL } },
  { name: 'audit', label: 'audit lines on (to /dev/null)', env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn' } }
]

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } })

async function load (url: string, token: string, seconds: number) {
  const result = await autocannon({ url, method: 'POST', connections: CONNECTIONS, duration: seconds, headers: { ...HEADERS, authorization: `Bearer ${token}` }, body: BODY })
  return { total: result.requests.total, p99: result.latency.p99, failed: result.non2xx + result.errors + result.timeouts }
}

/** The app in this process with its log to /dev/null; returns app.ts's own context (its decorators). */
async function inProcess (env: Record<string, string>): Promise<{ root: FastifyInstance, inner: FastifyInstance }> {
  const config = loadConfig({ HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env })
  const options = serverOptions(config)
  options.logger = { ...(options.logger as object), stream: pino.destination({ dest: '/dev/null', sync: false }) }
  const root = Fastify(options)
  let inner: FastifyInstance | undefined
  await root.register(async function benchedApp (instance) {
    await app(instance, { config })
    inner = instance
  })
  await root.ready()
  return { root, inner: inner as unknown as FastifyInstance }
}

async function perOp (label: string, iterations: number, fn: (i: number) => unknown, inFlight = 1): Promise<void> {
  for (let i = 0; i < Math.min(2000, iterations); i++) await fn(i) // warm up
  const started = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < iterations) await fn(next++)
  }))
  const us = Number(process.hrtime.bigint() - started) / 1000 / iterations
  process.stdout.write(`  ${label.padEnd(58)} ${us.toFixed(2).padStart(8)} µs/op  (${iterations} ops${inFlight > 1 ? `, ${inFlight} in flight` : ''})\n`)
}

/** The cost of one check and of one audit line, in this process: steadier than req/s on a busy machine. */
async function perOperation (): Promise<void> {
  process.stdout.write('per operation, in process (log to /dev/null)\n')
  const rule = { max: 1_000_000_000, windowSeconds: 60 }
  const memory = await inProcess({ RATE_LIMIT_ENABLED: 'true' })
  const redis = await inProcess({ RATE_LIMIT_ENABLED: 'true', REDIS_URL, REDIS_KEY_PREFIX: `bench:${randomUUID().slice(0, 8)}:`, AUDIT_REDIS_STREAM: `bench:audit:${randomUUID()}` })
  try {
    await perOp('consumeRateLimit, memory counters (1000 users)', 200000, i => memory.inner.consumeRateLimit('tool:bench', `u${i % 1000}`, rule))
    await perOp('consumeRateLimit, Redis counters, one at a time (round trip)', 5000, i => redis.inner.consumeRateLimit('tool:bench', `u${i % 1000}`, rule))
    await perOp('consumeRateLimit, Redis counters, 10 in flight', 20000, i => redis.inner.consumeRateLimit('tool:bench', `u${i % 1000}`, rule), 10)
    await perOp('audit line (pino, /dev/null)', 200000, i => { memory.inner.audit('tool.called', { tool: 'bench', outcome: 'success', duration_ms: i }) })
    await perOp('audit line + Redis stream XADD (fire and forget)', 50000, i => { redis.inner.audit('tool.called', { tool: 'bench', outcome: 'success', duration_ms: i }) })
    await redis.inner.redis?.del(redis.inner.config.audit.redisStream as string)
  } finally {
    await memory.root.close()
    await redis.root.close()
  }
}

export default async function rateLimitAuditBench (): Promise<void> {
  await perOperation()
  const privatePem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const [key] = parseSigningKeys(privatePem)
  const servers: Array<Variant & { base: string, token: string, child: ChildProcess, total: number, failed: number, p99: number[], rounds: number[] }> = []
  try {
    for (const variant of VARIANTS) {
      const port = await freePort()
      const base = `http://127.0.0.1:${port}`
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server.ts')], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          HOST: '127.0.0.1',
          MCP_BASE_URL: base,
          TOKEN_SIGNING_KEY: privatePem,
          REDIS_KEY_PREFIX: `bench:${randomUUID().slice(0, 8)}:`,
          RATE_LIMIT_MCP: HIGH,
          RATE_LIMIT_MCP_PER_IP: HIGH,
          ...variant.env
        },
        stdio: ['ignore', 'ignore', 'inherit'] // the log (and so the audit lines) to /dev/null
      })
      await waitFor(`${base}/health`, child) // one at a time: five cold starts at once crowd two cores
      // Minted once the service is up: its new store's epoch refuses tokens issued before it (store_reset).
      const token = createTokenSigner([key], { issuer: base, audience: `${base}/mcp`, ttlSeconds: 3600, source: 'configured' }).issueAccessToken({
        sub: 'bench-user', oid: '00000000-0000-0000-0000-0000000000b1', tid: '00000000-0000-0000-0000-0000000000a1', client_id: 'bench', scope: 'tools.read', sid: `bench-${randomUUID()}`
      }).accessToken
      servers.push({ ...variant, base, token, child, total: 0, failed: 0, p99: [], rounds: [] })
    }
    for (const s of servers) {
      const res = await fetch(`${s.base}/mcp`, { method: 'POST', headers: { ...HEADERS, authorization: `Bearer ${s.token}` }, body: BODY })
      const text = await res.text()
      if (res.status !== 200 || !text.includes('"result"')) throw new Error(`${s.name}: the tool call failed (${res.status}): ${text.slice(0, 200)}`)
      const limited = res.headers.get('ratelimit-limit') !== null
      if (limited !== (s.env.RATE_LIMIT_ENABLED === 'true')) throw new Error(`${s.name}: RateLimit headers ${limited ? 'present' : 'absent'}, not as configured`)
      await load(`${s.base}/mcp`, s.token, 3) // warm up (JIT, connection pools)
    }

    process.stdout.write(`authenticated tools/call whoami on /mcp, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds x ${SECONDS} s per variant\n`)
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of servers) {
        const r = await load(`${s.base}/mcp`, s.token, SECONDS)
        s.total += r.total
        s.failed += r.failed
        s.p99.push(r.p99)
        s.rounds.push(r.total / SECONDS)
        process.stdout.write(`  round ${round + 1}  ${s.label.padEnd(40)} ${(r.total / SECONDS).toFixed(0).padStart(6)} req/s  p99 ${r.p99} ms\n`)
      }
    }
    const rps = Object.fromEntries(servers.map(s => [s.name, s.total / (ROUNDS * SECONDS)]))
    const rounds = Object.fromEntries(servers.map(s => [s.name, s.rounds]))
    process.stdout.write('\nsummary (req/s over all rounds)\n')
    for (const s of servers) process.stdout.write(`  ${s.label.padEnd(40)} ${rps[s.name].toFixed(0).padStart(6)} req/s${s.failed > 0 ? `  (${s.failed} failed)` : ''}\n`)
    // Ratios of runs made seconds apart in the same round, then the median over rounds: less
    // sensitive to a machine whose load changes during the run than a ratio of totals.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const ratio = (a: string, b: string) => {
      const perRound = median(rounds[a].map((x, i) => x / rounds[b][i]))
      return `${perRound.toFixed(3)} (median of per-round ratios; totals ${(rps[a] / rps[b]).toFixed(3)})`
    }
    process.stdout.write(`ratio memory rate limit / none:       ${ratio('memory-rl', 'base')}\n`)
    process.stdout.write(`ratio Redis rate limit / Redis none:  ${ratio('redis-rl', 'redis')}\n`)
    process.stdout.write(`ratio Redis rate limit / memory none: ${ratio('redis-rl', 'base')}\n`)
    process.stdout.write(`ratio audit on / off:                 ${ratio('audit', 'base')}\n`)
    if (servers.some(s => s.failed > 0)) process.stdout.write('WARNING: some requests failed; the figures are not comparable\n')
  } finally {
    for (const s of servers) s.child.kill('SIGTERM')
  }
}
