import fp from 'fastify-plugin'
import helmet from 'helmet'
import cors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Merged by @fastify/cors over its options for this route (its types do not declare it). */
    cors?: FastifyCorsOptions | false
  }
}

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
export const CORS_ROUTES = ['/.well-known/*', '/register', '/token', '/revoke', '/mcp']
export const corsRoute = (url: string) => CORS_ROUTES.some(r => r.endsWith('*') ? url.startsWith(r.slice(0, -1)) : url === r)

// What those routes allow: any origin (reflected; tokens, not cookies, carry the authority), these
// methods and request headers, and the MCP / OAuth headers a browser client must read.
export const CORS = {
  methods: 'GET, POST, DELETE, OPTIONS',
  // mcp-method / mcp-name: request headers that newer MCP revisions of Streamable HTTP add; traceparent,
  // tracestate, baggage: W3C trace context that instrumented clients send.
  allowedHeaders: 'authorization, content-type, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id, x-request-id, traceparent, tracestate, baggage',
  exposedHeaders: 'www-authenticate, mcp-session-id, mcp-protocol-version, x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset',
  maxAge: 600
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

  // CORS is off by default and turned on per route, once, when a route of CORS_ROUTES is added
  // (@fastify/cors merges a route's config.cors over its options). Preflights are routed like any
  // request, so each CORS route gets an OPTIONS route (answered by @fastify/cors's hook), and
  // discovery a catch-all so its 404s stay readable by browsers. Not reproduced: 404s for a method
  // with no route on /register, /token, /revoke or /mcp (PUT /token) lose the CORS headers, since
  // only a per-request delegator could decide requests that match no route.
  fastify.addHook('onRoute', function corsOnRoute (route) {
    if (corsRoute(route.url ?? route.path)) route.config = { ...route.config, cors: { origin: true } }
  })
  await fastify.register(cors, {
    // A function, not `false`, so that every answer says Vary: Origin.
    origin: (_origin, cb) => cb(null, false),
    ...CORS
  })
  const notFound = function corsNotFound (_request: FastifyRequest, reply: FastifyReply) { reply.callNotFound() }
  fastify.all('/.well-known/*', notFound)
  for (const url of CORS_ROUTES.filter(r => !r.endsWith('*'))) fastify.options(url, notFound)
}, { name: 'security-headers', dependencies: ['config'] })
