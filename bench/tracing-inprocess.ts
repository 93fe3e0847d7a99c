// In-process cost of traces for one authenticated /mcp tools/call (whoami) through app.inject, with
// the Redis store and rate limiting as deployed: CPU µs per call with tracing off, or on (`on`: OTLP to
// a local sink in this process, which reads and drops each export). Run alternately, e.g.
//   node --import tsx bench/tracing-inprocess.ts off 4000; node --import tsx bench/tracing-inprocess.ts on 4000
// BENCH_LOG_LEVEL (default warn: the audit lines, as in `npm run bench -- mcp`).
import Fastify from 'fastify'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../config/index.ts'
import { callTool, MCP_HEADERS, mintToken, SIGNING_KEY_PEM } from '../test/support/mcp.ts'

const on = process.argv[2] === 'on'
const calls = Number(process.argv[3] ?? 4000)
const sink = createServer((req, res) => { req.resume(); req.on('end', () => res.end('{}')) })
await new Promise<void>(resolve => sink.listen(0, '127.0.0.1', resolve))
const config = loadConfig({
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
  HOST: '127.0.0.1',
  TOKEN_SIGNING_KEY: SIGNING_KEY_PEM,
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_KEY_PREFIX: `bench:${randomUUID().slice(0, 8)}:`,
  RATE_LIMIT_MCP: '100000000/60',
  RATE_LIMIT_MCP_PER_IP: '100000000/60',
  ...(on ? { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}` } : {})
})
const { default: app, serverOptions } = await import('../app.ts')
// as server.ts does
const tracing = config.tracing !== undefined ? await (await import('../plugins/tracing/provider.ts')).startTracing(config.tracing, config.version) : undefined
const options = serverOptions(config)
if (tracing !== undefined) options.logger = { ...(options.logger as object), mixin: tracing.logMixin }
const fastify = Fastify(options)
await fastify.register(app, { config, tracing })
await fastify.ready()

const token = mintToken(config.baseUrl, 'tools.read')
const call = async () => {
  const res = await fastify.inject({ method: 'POST', url: '/mcp', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, payload: callTool(1, 'whoami') })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
}
for (let i = 0; i < 1500; i++) await call()
const before = process.cpuUsage()
const started = performance.now()
for (let i = 0; i < calls; i++) await call()
await tracing?.flush()
const used = process.cpuUsage(before)
process.stderr.write(`tracing ${on ? 'on ' : 'off'}: ${((used.user + used.system) / calls).toFixed(0)} µs CPU per call, ${((performance.now() - started) * 1000 / calls).toFixed(0)} µs wall\n`)
process.exit(0)
