import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { FastifyReply, FastifyRequest } from 'fastify'

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
  helmet(options)({ method: 'GET', headers: {} } as any, res as any, (err?: unknown) => { failure = err })
  if (failure !== undefined) throw failure
  return headers
}

// Routes that browser-based MCP clients call with fetch (discovery, registration, tokens, MCP itself).
const CORS_PATHS = [/^\/\.well-known\//, /^\/register$/, /^\/token$/, /^\/device_authorization$/, /^\/revoke$/, /^\/mcp$/]
const corsPath = (path: string) => CORS_PATHS.some(p => p.test(path))

// What those paths allow: any origin (reflected; tokens, not cookies, carry the authority), these
// methods and request headers, and the MCP / OAuth headers a browser client must read.
export const CORS = {
  methods: 'GET, POST, DELETE, OPTIONS',
  // mcp-method / mcp-name: request headers that newer MCP revisions of Streamable HTTP add; traceparent,
  // tracestate, baggage: W3C trace context that instrumented clients send.
  allowedHeaders: 'authorization, content-type, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id, x-request-id, traceparent, tracestate, baggage',
  exposedHeaders: 'www-authenticate, mcp-session-id, mcp-protocol-version, x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset',
  maxAge: '600'
}

/** Adds `Origin` to the Vary header (every answer depends on it: CORS is decided per path and origin). */
function varyOrigin (reply: FastifyReply) {
  const vary = reply.getHeader('vary')
  if (vary === undefined) {
    reply.header('vary', 'Origin')
    return
  }
  const value = String(vary)
  if (value === '*' || value.toLowerCase().split(/\s*,\s*/).includes('origin')) return
  reply.header('vary', `${value}, Origin`)
}

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

  // CORS for the paths above (what @fastify/cors did with a per-request delegator, with every
  // value computed once): decided once per route pattern; requests matching no route (404s,
  // preflights reaching the OPTIONS catch-all below) are decided by their path.
  const byRoute = new Map<string, boolean>()
  function corsAllowed (request: FastifyRequest): boolean {
    const route = request.routeOptions.url
    if (route === undefined || route.includes('*') || route.includes(':')) return corsPath((request.url ?? '').split('?')[0])
    let allowed = byRoute.get(route)
    if (allowed === undefined) {
      allowed = corsPath(route)
      byRoute.set(route, allowed)
    }
    return allowed
  }

  fastify.addHook('onRequest', function corsOnRequest (request, reply, done) {
    varyOrigin(reply)
    if (!corsAllowed(request)) return done()
    const origin = request.headers.origin
    if (origin !== undefined) reply.header('access-control-allow-origin', origin)
    reply.header('access-control-expose-headers', CORS.exposedHeaders)
    if (request.method !== 'OPTIONS') return done()
    // Preflight, answered here, before any authentication.
    if (origin === undefined || request.headers['access-control-request-method'] === undefined) {
      reply.code(400).type('text/plain').send('Invalid Preflight Request')
      return
    }
    reply.header('access-control-allow-methods', CORS.methods)
    reply.header('access-control-allow-headers', CORS.allowedHeaders)
    reply.header('access-control-max-age', CORS.maxAge)
    reply.code(204).header('content-length', '0').send()
  })

  // Lets Fastify route OPTIONS requests at all: a preflight to a CORS path is answered by the hook
  // above; any other OPTIONS request is a 404.
  fastify.options('*', function corsPreflight (_request, reply) {
    reply.callNotFound()
  })
}, { name: 'security-headers', dependencies: ['config'] })
