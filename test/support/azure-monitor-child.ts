// A child process for test/plugins/tracing-azure-monitor.test.ts, started with NODE_EXTRA_CA_CERTS so
// that the Azure Monitor exporter (https only) trusts the test's ingestion stand-in: builds the service
// with tracing as server.ts does, answers one request, flushes the spans and exits. Not a test file.
import Fastify from 'fastify'
import { loadConfig } from '../../config/index.ts'
import { startTracing } from '../../plugins/tracing/provider.ts'

const config = loadConfig({
  LOG_LEVEL: 'silent',
  HOST: '127.0.0.1',
  APPLICATIONINSIGHTS_CONNECTION_STRING: process.env.APPLICATIONINSIGHTS_CONNECTION_STRING,
  WEBSITE_INSTANCE_ID: process.env.WEBSITE_INSTANCE_ID
})
if (config.tracing === undefined) throw new Error('tracing should be on')
const tracing = await startTracing(config.tracing, config.version)
const { default: app, serverOptions } = await import('../../app.ts')
const fastify = Fastify(serverOptions(config))
await fastify.register(app, { config, tracing })
const res = await fastify.inject('/.well-known/oauth-authorization-server?probe=1')
await fastify.close()
await tracing.flush()
await tracing.shutdown()
process.stdout.write(JSON.stringify({ status: res.statusCode, exporters: tracing.exporters }))
process.exit(0)
