import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import formbody from '@fastify/formbody'
import Type from 'typebox'
import { createDecoder } from 'fast-jwt'
import { InvalidRequestError } from '../../plugins/errors/oauth.ts'

const Body = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 16384 })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 100 })),
  client_id: Type.Optional(Type.String({ maxLength: 2000 })),
  client_secret: Type.Optional(Type.String({ maxLength: 500 })),
  client_assertion: Type.Optional(Type.String({ maxLength: 8192 })),
  client_assertion_type: Type.Optional(Type.String({ maxLength: 200 }))
})

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/

/**
 * POST /revoke (RFC 7009): a refresh token revokes its whole grant (every access token and refresh
 * token of it); an access token (a JWT this service signed) is refused until it expires. The token
 * must belong to the authenticated client. Unknown, foreign or already invalid tokens: 200 as well.
 */
const revoke: FastifyPluginAsyncTypebox = async function (fastify) {
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)
  const decode = createDecoder()

  fastify.addHook('onSend', async (request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  fastify.post('/revoke', {
    config: { rateLimitFamily: 'revoke' },
    bodyLimit: 32768,
    schema: { body: Body }
  }, async (request, reply) => {
    const body = request.body ?? {}
    const client = await fastify.clientAuth.authenticate(request, body)
    const token = body.token
    if (token === undefined || token === '') throw new InvalidRequestError('token is required')

    if (JWT_SHAPE.test(token)) {
      // Only tokens this service signed and that still verify (expired ones are dead already).
      let verified
      try {
        verified = await fastify.verifyAccessToken(token)
      } catch {
        verified = undefined
      }
      if (verified?.identity.kind === 'self' && verified.identity.clientId === client.client_id) {
        const { jti, exp, sid } = decode(token) as { jti?: string, exp?: number, sid?: string }
        if (typeof jti === 'string' && typeof exp === 'number') {
          await fastify.denyAccessToken({ jti, exp, sid: typeof sid === 'string' ? sid : undefined })
          fastify.audit('token.revoked', { token_type: 'access_token', reason: 'revoked_by_client', client_id: client.client_id, oid: verified.identity.oid, tid: verified.identity.tid }, request)
        }
      }
    } else {
      await fastify.grants.revokeRefreshToken(token, client.client_id, request)
    }
    return reply.code(200).send({})
  })
}

export default revoke
