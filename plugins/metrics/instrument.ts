// Everything the metrics plugin sets up when METRICS_TOKEN is set. Imported only then: prom-client
// alone costs about 12 MB of resident memory and a noticeable part of the start.
import type { FastifyInstance } from 'fastify'
import type { MetricsHandle } from '../metrics.ts'
import { createMetrics } from './registry.ts'
import { createAuditCounter } from './audit.ts'
import { observeStoreCommands } from './store-commands.ts'
import { observeUpstream } from './upstream.ts'
import { registerActiveGrants, type CountActiveGrants } from './grants.ts'
import { createBearerCheck } from './access.ts'

export function instrument (fastify: FastifyInstance, token: string, activeGrantCount: () => CountActiveGrants | undefined): MetricsHandle {
  const { config } = fastify
  const m = createMetrics()

  // reply.elapsedTime: Fastify's own clock of the request, so no onRequest hook is needed.
  fastify.addHook('onResponse', function observeRequest (request, reply, done) {
    m.httpDuration.observe({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    done()
  })

  const unsubscribes = [
    fastify.onAudit(createAuditCounter(m)),
    observeUpstream(m, { entra: config.entra.authorityHost, graph: config.graphBaseUrl }),
    // The memory store runs no commands: nothing to observe.
    ...(fastify.redis !== null ? [observeStoreCommands(m)] : [])
  ]
  // At ready: the grants model is registered after this plugin.
  fastify.addHook('onReady', async () => { registerActiveGrants(m.registry, activeGrantCount()) })
  fastify.addHook('onClose', async () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
    m.registry.clear()
  })

  return {
    exposition: async () => ({ contentType: m.registry.contentType, body: await m.registry.metrics() }),
    authorized: createBearerCheck(token),
    jwksRefreshed: (ok: boolean) => { m.jwksRefreshes.inc({ outcome: ok ? 'ok' : 'error' }) }
  }
}
