import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createMetrics } from './metrics/registry.ts'
import { createAuditCounter } from './metrics/audit.ts'
import { observeStoreCommands } from './metrics/store-commands.ts'
import { observeUpstream } from './metrics/upstream.ts'
import { registerActiveGrants, type CountActiveGrants } from './metrics/grants.ts'
import { createBearerCheck } from './metrics/access.ts'

/** What the metrics plugin offers the route and the other concerns (null when METRICS_TOKEN is unset). */
export interface MetricsHandle {
  /** The registry in Prometheus' text exposition format. */
  exposition: () => Promise<{ contentType: string, body: string }>
  /** Whether an Authorization header is `Bearer <METRICS_TOKEN>` (constant time). */
  authorized: (header: string | string[] | undefined) => boolean
  /** Counts one fetch of an Entra key set (jwt-verify's JWKS cache). */
  jwksRefreshed: (ok: boolean) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: MetricsHandle | null
  }
}

/**
 * The grants model's count of active grants. Until `countActiveGrants()` lands on the grants model
 * (branch `grants`), none: the gauge is not reported. Then: `() => fastify.grants.countActiveGrants()`.
 */
function activeGrantCount (_fastify: FastifyInstance): CountActiveGrants | undefined {
  return undefined
}

/**
 * Prometheus metrics (docs/operations.md), only when METRICS_TOKEN is set: otherwise nothing is
 * registered, subscribed or hooked, and `fastify.metrics` is null. One prom-client registry per
 * app (metrics/registry.ts); request durations from one onResponse hook; security events from the
 * audit trail (metrics/audit.ts); Redis commands and outgoing HTTP from their libraries' diagnostics
 * channels (metrics/store-commands.ts, metrics/upstream.ts), unsubscribed on close.
 */
export default fp(async function metrics (fastify) {
  const { config } = fastify
  const token = config.metrics.token
  if (token === undefined) {
    fastify.decorate('metrics', null)
    return
  }
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
  fastify.addHook('onReady', async () => { registerActiveGrants(m.registry, activeGrantCount(fastify)) })
  fastify.addHook('onClose', async () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
    m.registry.clear()
  })

  fastify.decorate('metrics', {
    exposition: async () => ({ contentType: m.registry.contentType, body: await m.registry.metrics() }),
    authorized: createBearerCheck(token),
    jwksRefreshed: (ok: boolean) => { m.jwksRefreshes.inc({ outcome: ok ? 'ok' : 'error' }) }
  } satisfies MetricsHandle)
}, { name: 'metrics', dependencies: ['config', 'store', 'audit-log'] })
