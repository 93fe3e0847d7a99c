import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import { createRequire } from 'node:module'
import type { FastifyRequest } from 'fastify'

// helmet itself, as @fastify/helmet depends on it (resolved from there, so no second copy).
const requireFromFastifyHelmet = createRequire(createRequire(import.meta.url).resolve('@fastify/helmet'))
const helmet = requireFromFastifyHelmet('helmet') as (options: object) => (req: unknown, res: unknown, next: (err?: unknown) => void) => void

// JSON APIs need no scripts or frames; pages that render HTML (the consent page) set their own CSP.
export const HELMET_OPTIONS = {
  hsts: false,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] }
  },
  frameguard: { action: 'deny' },
  crossOriginResourcePolicy: { policy: 'cross-origin' }
}

/**
 * The headers helmet sets with these options, computed once. They depend on nothing in the
 * request, and @fastify/helmet rebuilt the whole helmet middleware (options parsing, the CSP
 * string) on every request.
 */
export function helmetHeaders (options: object = HELMET_OPTIONS): Array<[string, string]> {
  const headers: Array<[string, string]> = []
  const res = {
    setHeader (name: string, value: unknown) { headers.push([name.toLowerCase(), String(value)]) },
    removeHeader () {},
    getHeader () { return undefined }
  }
  let failure: unknown
  helmet(options)({ method: 'GET', headers: {} }, res, (err) => { failure = err })
  if (failure !== undefined) throw failure
  return headers
}

// Routes that browser-based MCP clients call with fetch (discovery, registration, tokens, MCP itself).
const CORS_PATHS = [/^\/\.well-known\//, /^\/register$/, /^\/token$/, /^\/revoke$/, /^\/mcp$/]
const corsPath = (path: string) => CORS_PATHS.some(p => p.test(path))

// The two answers of the CORS delegator, built once (the delegator runs on every request).
const CORS_ON = Object.freeze({
  origin: true,
  methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowedHeaders: ['authorization', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id', 'x-request-id'],
  exposedHeaders: ['www-authenticate', 'mcp-session-id', 'mcp-protocol-version', 'x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
  maxAge: 600
})
const CORS_OFF = Object.freeze({ origin: false })

export default fp(async function securityHeaders (fastify) {
  // Helmet's headers (static) on every answer, set on the raw response as helmet did, so answers
  // written directly (the dev identity provider) carry them too and a route's own header wins.
  const staticHeaders = helmetHeaders()
  fastify.addHook('onRequest', function securityHeadersOnRequest (request, reply, done) {
    const raw = reply.raw
    for (let i = 0; i < staticHeaders.length; i++) raw.setHeader(staticHeaders[i][0], staticHeaders[i][1])
    // HSTS only where the client reached us over TLS (directly, or through a trusted TLS proxy).
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains')
    done()
  })

  // CORS for the paths above, decided once per route (by its URL pattern); requests matching no
  // route (404s, preflights answered by the OPTIONS catch-all) are decided by their path.
  const byRoute = new Map<string, boolean>()
  function corsAllowed (request: FastifyRequest): boolean {
    const route = request.routeOptions.url
    if (route === undefined || route === '*' || route.includes('*') || route.includes(':')) return corsPath((request.url ?? '').split('?')[0])
    let allowed = byRoute.get(route)
    if (allowed === undefined) {
      allowed = corsPath(route)
      byRoute.set(route, allowed)
    }
    return allowed
  }
  await fastify.register(cors, {
    hook: 'onRequest',
    delegator: (request, callback) => { callback(null, corsAllowed(request as FastifyRequest) ? CORS_ON : CORS_OFF) }
  })
}, { name: 'security-headers', dependencies: ['config'] })
