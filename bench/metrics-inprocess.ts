// In-process cost of METRICS_TOKEN on an authenticated /mcp tools/call (whoami) with the Redis store
// and Redis rate limiting: two apps in this process, one with metrics on, served through app.inject
// in alternating batches, so both see the same machine load. CPU µs per call (process.cpuUsage; on a
// shared machine CPU time moves less than wall time), the median of the rounds, and the ratio.
// Run: npx tsx bench/metrics-inprocess.ts (Redis at 127.0.0.1:6379; ROUNDS, N to change the size).
import Fastify, { type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import app, { serverOptions } from '../app.ts'
import { loadConfig } from '../config/index.ts'

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
const ROUNDS = Number(process.env.ROUNDS ?? 7)
const N = Number(process.env.N ?? 2000)

async function service (extra: Record<string, string>): Promise<{ fastify: FastifyInstance, token: string }> {
  const config = loadConfig({
    LOG_LEVEL: 'warn',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `bench:${randomUUID().slice(0, 8)}:`,
    RATE_LIMIT_MCP: '100000000/60',
    RATE_LIMIT_MCP_PER_IP: '100000000/60',
    ...extra
  })
  const options = serverOptions(config)
  // Audit lines (info, one per tool call) and logs to /dev/null, as the bench servers' stdout.
  options.logger = { ...(options.logger as object), stream: createWriteStream('/dev/null') }
  const fastify = Fastify(options)
  let inner: FastifyInstance | undefined
  await fastify.register(async function benched (instance) { await app(instance, { config }); inner = instance })
  await fastify.ready()
  const claims = { sub: 'bench-user', oid: '00000000-0000-0000-0000-0000000000b1', tid: '00000000-0000-0000-0000-0000000000a1', client_id: 'bench', scope: 'tools.read', sid: `bench-${randomUUID()}` }
  return { fastify, token: (inner as FastifyInstance).tokenSigner.issueAccessToken(claims).accessToken }
}

async function batch ({ fastify, token }: { fastify: FastifyInstance, token: string }, n: number): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const res = await fastify.inject({ method: 'POST', url: '/mcp', headers: { ...HEADERS, authorization: `Bearer ${token}` }, payload: BODY })
    if (res.statusCode !== 200 || res.body.includes('"isError":true')) throw new Error(`unexpected ${res.statusCode} ${res.body.slice(0, 200)}`)
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const off = await service({})
const on = await service({ METRICS_TOKEN: 'bench-metrics-token-0123456789abcdef0123' })
await batch(off, N)
await batch(on, N)
const rounds = { off: [] as number[], on: [] as number[] }
for (let i = 0; i < ROUNDS; i++) {
  // Alternate which goes first, so neither always follows the other's garbage.
  const order = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)
  for (const which of order) rounds[which].push(await batch(which === 'off' ? off : on, N))
  process.stdout.write(`round ${i + 1}: off ${rounds.off[i].toFixed(0)} µs/call, on ${rounds.on[i].toFixed(0)} µs/call\n`)
}
const [a, x] = [median(rounds.off), median(rounds.on)]
process.stdout.write(`median CPU per call: metrics off ${a.toFixed(0)} µs, on ${x.toFixed(0)} µs; on/off ${(x / a).toFixed(3)} (+${(x - a).toFixed(1)} µs)\n`)
const scrape = await on.fastify.inject({ url: '/metrics', headers: { authorization: 'Bearer bench-metrics-token-0123456789abcdef0123' } })
process.stdout.write(`/metrics: ${scrape.statusCode}, /mcp 200 observed ${/route="\/mcp",method="POST",status_code="200"\} (\d+)/.exec(scrape.body)?.[1] ?? '?'} times\n`)
await off.fastify.close()
await on.fastify.close()
