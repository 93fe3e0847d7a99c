import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

const Refusal = Type.Object({ error: Type.String(), error_description: Type.String() })

/**
 * GET /metrics: the Prometheus exposition, for a scraper holding METRICS_TOKEN as its bearer token.
 * Without the setting there is no route (404). Every request counts against RATE_LIMIT_METRICS per
 * client IP before the token is compared, so a guesser is cut off at that rate, on every instance.
 * A missing and a wrong token get the same 401, which says nothing of why.
 */
const metricsRoute: FastifyPluginAsyncTypebox = async function (fastify) {
  const metrics = fastify.metrics
  if (metrics === null) return
  fastify.get('/metrics', {
    // Scrapes every few seconds must not flood the log.
    logLevel: 'warn',
    config: { rateLimitFamily: 'metrics' },
    schema: { response: { 200: Type.String(), 401: Refusal } }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    if (!metrics.authorized(request.headers.authorization)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"')
        .send({ error: 'unauthorized', error_description: 'This endpoint needs the metrics bearer token' })
    }
    const { contentType, body } = await metrics.exposition()
    return reply.type(contentType).send(body)
  })
}

export default metricsRoute
