import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { Config } from './config/index.ts'
import configPlugin from './config/plugin.ts'
import { logFormatters } from './logging.ts'
import errors from './plugins/errors.ts'
import readiness from './plugins/readiness.ts'
import store, { type StoreOptions } from './plugins/store.ts'
import securityHeaders from './plugins/security-headers.ts'
import auditLog from './plugins/audit-log.ts'
import metrics from './plugins/metrics.ts'
import auditFeed, { type AuditFeedOptions } from './plugins/audit-feed.ts'
import { createThrottle } from './plugins/shared/throttle.ts'
import rateLimit from './plugins/rate-limit.ts'
import signingKeys from './plugins/jwt-verify/signing-keys.ts'
import jwtVerify from './plugins/jwt-verify.ts'
import oauthProxy from './plugins/oauth-proxy.ts'
import type { ClientRegistryOptions } from './plugins/oauth-proxy/clients/registry.ts'
import oauthRoutes from './routes/oauth/index.ts'
import mcp, { type McpPluginOptions } from './mcp/transport.ts'
import serviceRoutes from './routes/index.ts'
import type { Tracing } from './plugins/tracing/provider.ts'
import admin from './plugins/admin.ts'
import adminRoutes, { type AdminRoutesOptions } from './routes/admin/index.ts'

export interface AppOptions {
  config: Config
  /** Test seams for client ID metadata document and client JWKS fetches (resolver, address policy, CA, timeout). */
  clientRegistry?: ClientRegistryOptions
  /** Test seam: the grants model's millisecond clock (refresh-token reuse grace), instead of Date.now. */
  grantsClock?: () => number
  /** Test seam: tools served instead of / besides the files in mcp/tools. */
  mcp?: McpPluginOptions
  /** Test seam: the credential and clock of Microsoft Entra authentication to Redis (REDIS_AUTH=entra). */
  store?: StoreOptions
  /** Tracing started by server.ts (or a test) when the configuration has an exporter; undefined: off. */
  tracing?: Tracing
  /** Test seam: the admin sessions' clock (epoch seconds), instead of Date.now. */
  adminClock?: () => number
  /** Test seams of the admin area's routes (dashboard stream bounds, guards). */
  adminRoutes?: AdminRoutesOptions
  /** Test seam: the admin feed's bounds and chart clock. */
  auditFeed?: AuditFeedOptions
}

// Query parameters that carry secrets in OAuth redirects; their values never reach a log line.
const SECRET_PARAMS = /([?&](?:code|state|code_verifier|refresh_token|access_token|id_token|client_secret|client_assertion|token|user_code|device_code)=)[^&#]*/gi
const REQUEST_ID = /^[\w.:-]{1,128}$/

// Secrets redacted wherever they appear at the top of a log object or one level down.
const SECRET_FIELDS = ['authorization', 'cookie', 'code_verifier', 'refresh_token', 'client_secret', 'client_assertion', 'access_token', 'id_token', 'password', 'device_code', 'user_code']
// `code`, `state` and `token` are also ordinary words (err.code, rate rule names): redacted at the top
// and where requests carry them, not in every nested object.
const REQUEST_FIELDS = ['code', 'state', 'token']
const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap(name => [name, `*.${name}`]),
  ...REQUEST_FIELDS.flatMap(name => [name, ...['body', 'query', 'params', 'req.body', 'req.query', 'request.body', 'request.query'].map(at => `${at}.${name}`)]),
  'req.headers.authorization', 'req.headers.cookie', '*.headers.authorization', '*.headers.cookie',
  'res.headers["set-cookie"]', '*.headers["set-cookie"]'
]

/** Fastify's own options for this service: logging with redaction, request ids, proxy trust, limits, TLS. */
export function serverOptions (config: Config, extra: Partial<FastifyServerOptions> = {}): FastifyServerOptions & { http?: object, https?: object } {
  // Slow clients: Node's HTTP server cuts unfinished headers and requests (408). Fastify hands these
  // to http(s).createServer; Node checks them every connectionsCheckingInterval (30 s by default),
  // so once a second to cut on time.
  const slowClientLimits = {
    headersTimeout: config.http.headersTimeout * 1000,
    requestTimeout: config.http.requestTimeout * 1000,
    connectionsCheckingInterval: 1000
  }
  return {
    logger: {
      level: config.logLevel,
      formatters: logFormatters,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      serializers: {
        req: (req) => ({
          method: req.method,
          url: req.url.replace(SECRET_PARAMS, '$1[Redacted]'),
          remoteAddress: req.ip,
          userAgent: req.headers['user-agent']
        })
      }
    },
    // Accept a caller's request id when it looks like one, so traces join up across services.
    genReqId: (req) => {
      const incoming = req.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    },
    requestIdHeader: false,
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    bodyLimit: config.bodyLimit,
    // Fastify sets these on the server itself after creating it (its requestTimeout default, 0, means none).
    requestTimeout: slowClientLimits.requestTimeout,
    keepAliveTimeout: config.http.keepAliveTimeout * 1000,
    http: slowClientLimits,
    forceCloseConnections: false,
    return503OnClosing: true,
    ...(config.tls !== undefined ? { https: { cert: config.tls.cert, key: config.tls.key, minVersion: 'TLSv1.3', ...slowClientLimits } } : {}),
    ...extra
  }
}

/**
 * The whole service, one registration per concern, in the order each needs the ones before it
 * (docs/architecture.md): config -> [tracing] -> errors -> readiness -> store -> security headers -> audit ->
 * audit feed -> metrics -> rate limit -> signing keys -> jwt -> [dev IdP] -> oauth proxy -> admin sessions ->
 * its routes -> mcp -> service routes -> admin area.
 */
export default async function app (fastify: FastifyInstance, opts: AppOptions) {
  // Not a Fastify option: past this many open connections Node closes each new one at once.
  fastify.server.maxConnections = opts.config.http.maxConnections
  const dropWarning = createThrottle(60000)
  fastify.server.on('drop', () => {
    if (dropWarning()) fastify.log.warn({ max_connections: opts.config.http.maxConnections }, 'connection refused: HTTP_MAX_CONNECTIONS reached (said once a minute)')
  })

  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  await fastify.register(configPlugin, { config: opts.config })
  // Right after config, so its request span starts before any other hook runs. Imported only when
  // tracing is on: with it off, no OpenTelemetry module is loaded and no hook is added.
  if (opts.tracing !== undefined) await fastify.register((await import('./plugins/tracing.ts')).default, { tracing: opts.tracing })
  await fastify.register(errors)
  await fastify.register(readiness)
  await fastify.register(store, opts.store ?? {})
  await fastify.register(securityHeaders)
  await fastify.register(auditLog)
  await fastify.register(auditFeed, opts.auditFeed ?? {})
  await fastify.register(metrics)
  await fastify.register(rateLimit)
  await fastify.register(signingKeys)
  await fastify.register(jwtVerify)
  // Imported only when enabled: oidc-provider and its dependencies are ~30 MB of resident memory.
  if (opts.config.devIdentityProvider) await fastify.register((await import('./dev-idp/plugin.ts')).default)
  await fastify.register(oauthProxy, { ...opts.clientRegistry, grantsClock: opts.grantsClock })
  await fastify.register(admin, { now: opts.adminClock })
  await fastify.register(oauthRoutes)
  await fastify.register(mcp, opts.mcp ?? {})
  await fastify.register(serviceRoutes)
  await fastify.register(adminRoutes, opts.adminRoutes ?? {})
}
