import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { CountActiveGrants } from './metrics/grants.ts'

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
 * The grants model's approximate count of active grants (one index count per scrape). Asked for at
 * onReady: the oauth-proxy plugin, which decorates `grants`, registers after this one.
 */
function activeGrantCount (fastify: FastifyInstance): CountActiveGrants | undefined {
  if (!fastify.hasDecorator('grants')) return undefined
  const admin = fastify.grants.admin
  return async () => await admin.countActiveGrants()
}

/**
 * The instrumentation, imported only when metrics are on (prom-client alone is ~12 MB). A module-level
 * function with a type: TypeScript 5.9 left the `.ts` of an `import()` written inside the plugin's
 * function as it was, which the compiled build cannot load (test/server-build.test.ts checks).
 */
const loadInstrument = async (): Promise<typeof import('./metrics/instrument.ts')> => await import('./metrics/instrument.ts')

/**
 * Prometheus metrics (docs/operations.md), only when METRICS_TOKEN is set: otherwise nothing is
 * imported, registered, subscribed or hooked, and `fastify.metrics` is null. When set
 * (metrics/instrument.ts): one prom-client registry per app (metrics/registry.ts), request durations
 * from one onResponse hook, security events from the audit trail (metrics/audit.ts), Redis commands
 * and outgoing HTTP from their libraries' diagnostics channels (metrics/store-commands.ts,
 * metrics/upstream.ts), unsubscribed on close.
 */
export default fp(async function metrics (fastify) {
  const token = fastify.config.metrics.token
  if (token === undefined) {
    fastify.decorate('metrics', null)
    return
  }
  const { instrument } = await loadInstrument()
  fastify.decorate('metrics', instrument(fastify, token, () => activeGrantCount(fastify)))
}, { name: 'metrics', dependencies: ['config', 'store', 'audit-log'] })
