import fp from 'fastify-plugin'
import { configWarnings, type Config } from './index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Decorates `fastify.config` with the frozen configuration that server.ts (or a test) loaded. */
export default fp<{ config: Config }>(async function config (fastify, opts) {
  fastify.decorate('config', opts.config)
  for (const warning of configWarnings(opts.config)) fastify.log.warn(warning)
}, { name: 'config' })
