import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { StoreFullError } from './store/contract.ts'
import { oauthAnswer } from './errors/answers.ts'

/**
 * One error handler for the whole service: OAuth-style JSON bodies (plugins/errors/answers.ts),
 * the right status for bad input, and 5xx bodies that never carry internal messages.
 * A full in-memory store is audited (`store.full`) here, at request time, when audit-log is there.
 * Areas with another error dialect (MCP's JSON-RPC) set their own handler with `jsonRpcAnswer`.
 * Errors to throw: plugins/errors/oauth.ts.
 */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(function (err: FastifyError, request, reply) {
    if (err instanceof StoreFullError) {
      this.audit('store.full', { outcome: 'failure', kind: err.kind }, request)
      return reply.code(503).header('retry-after', '60').send({ error: 'temporarily_unavailable', error_description: err.message })
    }
    const answer = oauthAnswer(err, request.log)
    if (answer.headers !== undefined) reply.headers(answer.headers)
    return reply.code(answer.status).send(answer.body)
  })

  fastify.setNotFoundHandler(function (request, reply) {
    return reply.code(404).send({ error: 'not_found', error_description: `No route for ${request.method} ${request.url.split('?')[0]}` })
  })
}, { name: 'errors' })
