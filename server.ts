import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { loadConfig, ConfigError, type Config } from './config/index.ts'

// The only file that listens. App Service sends SIGTERM and waits a few seconds:
// stop accepting, let in-flight requests finish, close Redis, exit.
let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  pino({ base: null }).fatal(err.message)
  process.exit(1)
}

// Loaded once the configuration is known to be good, so a bad one fails fast.
const { default: app, serverOptions } = await import('./app.ts')

const fastify = Fastify(serverOptions(config))
await fastify.register(app, { config })

closeWithGrace({
  delay: 10000,
  logger: { error: (message: unknown) => fastify.log.error({ detail: String(message) }, 'shutdown problem') }
}, async ({ signal, err }) => {
  if (err !== undefined) fastify.log.error({ err }, 'closing after an uncaught error')
  else fastify.log.info({ signal }, 'closing: finishing in-flight requests')
  await fastify.close()
})

try {
  await fastify.listen({ port: config.port, host: config.host })
} catch (err) {
  fastify.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
