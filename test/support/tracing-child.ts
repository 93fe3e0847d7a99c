// A child process for test/plugins/tracing-off.test.ts: builds the service as server.ts does, with
// tracing off (no argument) or on (`on`: an OTLP endpoint), answers one request, and prints the
// CommonJS modules it loaded (the ES modules are listed by module-log.mjs). Not a test file.
import Fastify from 'fastify'
import { createRequire } from 'node:module'
import { loadConfig } from '../../config/index.ts'

const on = process.argv[2] === 'on'
const config = loadConfig({ LOG_LEVEL: 'silent', HOST: '127.0.0.1', ...(on ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' } : {}) })
const { default: app, serverOptions } = await import('../../app.ts')
const tracing = config.tracing !== undefined
  ? await (await import('../../plugins/tracing/provider.ts')).startTracing(config.tracing, config.version)
  : undefined
const fastify = Fastify(serverOptions(config))
await fastify.register(app, { config, tracing })
const res = await fastify.inject('/.well-known/oauth-authorization-server')
await fastify.close()
process.stdout.write(JSON.stringify({ status: res.statusCode, cjs: Object.keys(createRequire(import.meta.url).cache) }))
process.exit(0)
