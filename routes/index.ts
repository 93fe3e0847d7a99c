import type { FastifyPluginAsync } from 'fastify'
import wellKnownResource from './well-known-resource.ts'
import health from './health.ts'
import home from './home.ts'
import metrics from './metrics.ts'

/** The service's own pages: protected resource metadata (RFC 9728), health probes, the landing page, metrics (when set). */
const serviceRoutes: FastifyPluginAsync = async function (fastify) {
  await fastify.register(wellKnownResource)
  await fastify.register(health)
  await fastify.register(home)
  await fastify.register(metrics)
}

export default serviceRoutes
