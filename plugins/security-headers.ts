import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'

// Routes that browser-based MCP clients call with fetch (discovery, registration, tokens, MCP itself).
const CORS_PATHS = [/^\/\.well-known\//, /^\/register$/, /^\/token$/, /^\/revoke$/, /^\/mcp$/]

export default fp(async function securityHeaders (fastify) {
  // JSON APIs need no scripts or frames; pages that render HTML (the consent page) set their own CSP.
  await fastify.register(helmet, {
    global: true,
    hsts: false,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] }
    },
    frameguard: { action: 'deny' },
    crossOriginResourcePolicy: { policy: 'cross-origin' }
  })

  // HSTS only where the client reached us over TLS (directly, or through a trusted TLS proxy).
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains')
  })

  await fastify.register(cors, {
    hook: 'onRequest',
    delegator: (request, callback) => {
      const path = (request.url ?? '').split('?')[0]
      if (!CORS_PATHS.some(p => p.test(path))) return callback(null, { origin: false })
      callback(null, {
        origin: true,
        methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        allowedHeaders: ['authorization', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id', 'x-request-id'],
        exposedHeaders: ['www-authenticate', 'mcp-session-id', 'mcp-protocol-version', 'x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
        maxAge: 600
      })
    }
  })
}, { name: 'security-headers', dependencies: ['config'] })
