// The metrics of one app instance, in a registry of its own (tests build many apps in one process;
// prom-client's global registry would mix them). Names and labels are listed in docs/operations.md.
import { hostname } from 'node:os'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export const PREFIX = 'emg_'

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export function createMetrics () {
  const registry = new Registry()
  // One series set per instance: behind App Service a scrape reaches any instance.
  registry.setDefaultLabels({ host: hostname() })
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: `${PREFIX}${name}`, help, labelNames, registers })
  return {
    registry,
    httpDuration: new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time to answer a request, by route pattern (unmatched: no route), method and status code',
      labelNames: ['route', 'method', 'status_code'] as const,
      buckets: HTTP_BUCKETS,
      registers
    }),
    auditEvents: counter('audit_events_total', 'Audit events written, by event name and outcome', ['event', 'outcome'] as const),
    signIns: counter('sign_ins_total', 'Sign-ins ending at /auth/callback: outcome success, failure or denied; reason of a failure; flow browser or device', ['outcome', 'reason', 'flow'] as const),
    tokenRejections: counter('token_rejections_total', 'Bearer tokens refused, by reason (expired, revoked, malformed, ...)', ['reason'] as const),
    scopeDenials: counter('scope_denials_total', 'Requests refused for a missing scope, by target (tool:<name>, prompt:<name>, resource, route)', ['target'] as const),
    rateLimitHits: counter('rate_limit_exceeded_total', 'Rate-limit counters found over their limit (once per counter and window on each instance), by family and key kind', ['family', 'key_kind'] as const),
    storeDuration: new Histogram({
      name: `${PREFIX}store_command_duration_seconds`,
      help: 'Redis commands (ioredis), from write to reply, by command; none with the memory store',
      labelNames: ['command'] as const,
      buckets: STORE_BUCKETS,
      registers
    }),
    storeErrors: counter('store_command_errors_total', 'Redis commands that failed (error reply, timeout, connection lost), by command', ['command'] as const),
    upstreamDuration: new Histogram({
      name: `${PREFIX}upstream_request_duration_seconds`,
      help: 'Outgoing HTTP requests until their response headers, by upstream (entra, graph, other) and status class (2xx .. 5xx, error)',
      labelNames: ['upstream', 'status'] as const,
      buckets: UPSTREAM_BUCKETS,
      registers
    }),
    upstreamErrors: counter('upstream_request_errors_total', 'Outgoing HTTP requests that failed without an answer (network error, timeout, abort), by upstream', ['upstream'] as const),
    jwksRefreshes: counter('jwks_refreshes_total', 'Fetches of an Entra tenant\'s signing keys (JWKS), by outcome (ok, error)', ['outcome'] as const)
  }
}

export type Metrics = ReturnType<typeof createMetrics>
