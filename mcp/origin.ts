import type { FastifyReply, FastifyRequest } from 'fastify'
import { jsonRpcError, SERVER_ERROR } from './jsonrpc.ts'

/**
 * DNS-rebinding protection, an onRequest hook for /mcp: a browser's Origin must be allowlisted
 * (`allowed`: ALLOWED_ORIGINS and the service's own origin); non-browser clients send none.
 */
export function createOriginCheck (allowed: ReadonlySet<string>) {
  return async function checkOrigin (request: FastifyRequest, reply: FastifyReply) {
    const origin = request.headers.origin
    if (origin === undefined || allowed.has(origin)) return
    request.log.info({ origin }, 'mcp request from an origin not allowed')
    return await reply.code(403).send(jsonRpcError(SERVER_ERROR, 'Forbidden: Origin not allowed'))
  }
}
