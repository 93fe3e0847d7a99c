import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { StoreFullError } from './store/contract.ts'

/** An error answered as RFC 6749 JSON: `{ error, error_description }`. */
export class OAuthError extends Error {
  statusCode: number
  error: string
  headers?: Record<string, string>
  constructor (statusCode: number, error: string, description: string, headers?: Record<string, string>) {
    super(description)
    this.name = 'OAuthError'
    this.statusCode = statusCode
    this.error = error
    this.headers = headers
  }
}

// Keyed by error code: Fastify's own, and StoreUnavailableError's (plugins/store/contract.ts).
const byFastifyCode: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'invalid_request', 'The request body is larger than this endpoint accepts'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'invalid_request', 'Unsupported Content-Type for this endpoint'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_request', 'The JSON body is empty'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_request', 'The body is not valid JSON'],
  FST_ERR_STORE_UNAVAILABLE: [503, 'temporarily_unavailable', 'The state store is unavailable; retry shortly']
}

/**
 * One error handler for the whole service: OAuth-style JSON bodies, the right
 * status for bad input, and 5xx bodies that never carry internal messages.
 * A full in-memory store is audited (`store.full`) here, at request time, when audit-log is there.
 * Areas with another error dialect (MCP's JSON-RPC) set their own handler.
 */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(function (err: FastifyError | OAuthError, request, reply) {
    if (err instanceof OAuthError) {
      if (err.headers !== undefined) reply.headers(err.headers)
      return reply.code(err.statusCode).send({ error: err.error, error_description: err.message })
    }
    if (err instanceof StoreFullError) {
      this.audit('store.full', { outcome: 'failure', kind: err.kind }, request)
      return reply.code(503).header('retry-after', '60').send({ error: 'temporarily_unavailable', error_description: err.message })
    }
    const known = byFastifyCode[(err as FastifyError).code]
    if (known !== undefined) {
      if (known[0] >= 500) request.log.warn({ err: { code: err.code, message: err.message } }, 'dependency unavailable')
      return reply.code(known[0]).send({ error: known[1], error_description: known[2] })
    }
    if ((err as FastifyError).validation !== undefined) {
      return reply.code(400).send({ error: 'invalid_request', error_description: err.message })
    }
    const status = (err as FastifyError).statusCode ?? 500
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: 'invalid_request', error_description: err.message })
    }
    request.log.error({ err }, 'unhandled error')
    return reply.code(500).send({ error: 'server_error', error_description: 'The server hit an unexpected condition' })
  })

  fastify.setNotFoundHandler(function (request, reply) {
    return reply.code(404).send({ error: 'not_found', error_description: `No route for ${request.method} ${request.url.split('?')[0]}` })
  })
}, { name: 'errors' })
