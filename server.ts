import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { loadConfig, ConfigError, type Config } from './config/index.ts'
import { trustDevCertificate, withDevTls } from './config/tls.ts'
import { logFormatters, prettyStream } from './logging.ts'

// The only file that listens. App Service sends SIGTERM and waits a few seconds:
// stop accepting, let in-flight requests finish, close Redis, exit.
//
// Flags (package.json's `dev` script uses the first two): --check-config checks the configuration and
// exits; --pretty-logs writes readable lines instead of JSON when stdout is a terminal; --tls serves
// https with a self-signed development certificate (as DEV_TLS=true does, config/tls.ts).
const flags = new Set(process.argv.slice(2))

let source: Record<string, string | undefined>
try {
  source = await withDevTls(flags.has('--tls'))
} catch (err) {
  process.stderr.write(`could not make the development TLS certificate: ${(err as Error).message}\n`)
  process.exit(1)
}
let config: Config
try {
  config = loadConfig(source)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  // A person reads the list; a log collector gets one JSON line.
  if (process.stdout.isTTY === true) process.stderr.write(`${err.message}\n`)
  else pino({ base: null, formatters: logFormatters }).fatal(err.message)
  process.exit(1)
}
if (flags.has('--check-config')) process.exit(0)
if (config.tls?.development === true) trustDevCertificate(config.tls.cert)

// Loaded once the configuration is known to be good, so a bad one fails fast.
const { default: app, serverOptions } = await import('./app.ts')
// OpenTelemetry is loaded only when an exporter is configured (memory: none of it otherwise).
const tracing = config.tracing !== undefined
  ? await (await import('./plugins/tracing/provider.ts')).startTracing(config.tracing, config.version)
  : undefined

const options = serverOptions(config)
// Every line written while a span is active carries its trace_id and span_id.
if (tracing !== undefined) options.logger = { ...(options.logger as object), mixin: tracing.logMixin }
if (flags.has('--pretty-logs') && process.stdout.isTTY === true) {
  const stream = await prettyStream()
  if (stream !== null) options.logger = { ...(options.logger as object), stream }
  else process.stderr.write('pino-pretty is not installed, so the logs stay JSON: run `npm install` (it is a development dependency).\n')
}
const fastify = Fastify(options)
await fastify.register(app, { config, tracing })

closeWithGrace({
  delay: 10000,
  logger: { error: (message: unknown) => fastify.log.error({ detail: String(message) }, 'shutdown problem') }
}, async ({ signal, err }) => {
  if (err !== undefined) fastify.log.error({ err }, 'closing after an uncaught error')
  else fastify.log.info({ signal }, 'closing: finishing in-flight requests')
  await fastify.close()
  // after the last request: its spans are in the batch that shutdown exports
  await tracing?.shutdown()
})

try {
  await fastify.listen({ port: config.port, host: config.host })
} catch (err) {
  fastify.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
