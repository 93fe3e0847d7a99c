import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import formbody from '@fastify/formbody'
import Type from 'typebox'
import { InvalidRequestError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../../plugins/errors/oauth.ts'
import { TokenBody } from './token/body.ts'
import type { GrantHandler } from './token/grant-handler.ts'
import { authorizationCode } from './token/authorization-code.ts'
import { refreshToken } from './token/refresh-token.ts'
import { deviceCode } from './token/device-code.ts'
import { DEVICE_CODE_GRANT } from '../../plugins/oauth-proxy/clients/metadata.ts'

const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  scope: Type.String()
})
const ErrorAnswer = Type.Object({ error: Type.String(), error_description: Type.Optional(Type.String()) })

/** One handler per grant type (routes/oauth/token/*). */
const GRANT_HANDLERS: Record<string, GrantHandler> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  [DEVICE_CODE_GRANT]: deviceCode
}

/**
 * POST /token: `authorization_code` (PKCE S256, redirect URI and client bound to the code; a code
 * redeemed twice revokes its grant) and `refresh_token` (rotated on every use; an already-used one
 * revokes the grant) and the device code (RFC 8628, routes/oauth/token/device-code.ts). Client authentication: none, client_secret_post, client_secret_basic,
 * private_key_jwt (RFC 7523; metadata-document clients such as ChatGPT).
 */
const token: FastifyPluginAsyncTypebox = async function (fastify) {
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)

  fastify.addHook('onSend', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })

  fastify.post('/token', {
    config: { rateLimitFamily: 'token' },
    bodyLimit: 16384,
    schema: { body: TokenBody, response: { 200: TokenAnswer, '4xx': ErrorAnswer, '5xx': ErrorAnswer } }
  }, async (request) => {
    const body = request.body ?? {}
    if (body.grant_type === undefined || body.grant_type === '') throw new InvalidRequestError('grant_type is required')
    const handler = Object.hasOwn(GRANT_HANDLERS, body.grant_type) ? GRANT_HANDLERS[body.grant_type] : undefined
    if (handler === undefined) throw new UnsupportedGrantTypeError(`Supported grant types: ${Object.keys(GRANT_HANDLERS).join(', ')}`)
    const client = await fastify.clientAuth.authenticate(request, body)
    if (client.grant_types !== undefined && !client.grant_types.includes(body.grant_type)) {
      throw new UnauthorizedClientError(`This client did not register the ${body.grant_type} grant`)
    }
    const { jti: _jti, ...response } = await handler(fastify, request, client, body)
    return response
  })
}

export default token
