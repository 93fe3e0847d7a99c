import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import formbody from '@fastify/formbody'
import Type from 'typebox'
import { InvalidScopeError, UnauthorizedClientError } from '../../plugins/errors/oauth.ts'
import { DEVICE_CODE_GRANT } from '../../plugins/oauth-proxy/clients/metadata.ts'
import { defaultScopes } from '../../plugins/oauth-proxy/authorize/request.ts'
import { requestedScopes } from '../../plugins/oauth-proxy/authorize/requested-scopes.ts'
import { checkResource } from './token/grant-handler.ts'
import { TokenBody } from './token/body.ts'

/** RFC 8628 §3.1: scope, resource and the client authentication of /token. */
const Body = Type.Pick(TokenBody, ['scope', 'resource', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'])
const Answer = Type.Object({
  device_code: Type.String(),
  user_code: Type.String(),
  verification_uri: Type.String(),
  verification_uri_complete: Type.String(),
  expires_in: Type.Integer(),
  interval: Type.Integer()
})
const ErrorAnswer = Type.Object({ error: Type.String(), error_description: Type.Optional(Type.String()) })

export const DEVICE_PATH = '/device'

/**
 * POST /device_authorization (RFC 8628 §3.1, §3.2): a client without a browser of its own asks for
 * a sign-in. The client authenticates as at /token, must have registered the device grant, and
 * names scopes (the offered ones, or its defaults) and optionally this service as `resource`.
 * The answer: the device code it polls /token with, the user code the person types at /device,
 * and how long and how often. Counted in the token family (per IP and per client).
 */
const deviceAuthorization: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)

  fastify.post('/device_authorization', {
    config: { rateLimitFamily: 'token' },
    bodyLimit: 16384,
    schema: { body: Body, response: { 200: Answer, '4xx': ErrorAnswer, '5xx': ErrorAnswer } }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    const body = request.body ?? {}
    const client = await fastify.clientAuth.authenticate(request, body)
    if (!client.grant_types.includes(DEVICE_CODE_GRANT)) {
      throw new UnauthorizedClientError(`This client did not register the ${DEVICE_CODE_GRANT} grant`)
    }
    checkResource(body.resource, config.resource)
    const asked = requestedScopes(body.scope, config.scopes)
    const unknown = asked.filter(s => !config.scopes.includes(s))
    if (unknown.length > 0) throw new InvalidScopeError(`Unknown scope: ${unknown.join(' ')} (offered: ${config.scopes.join(' ')})`)
    const scopes = asked.length > 0 ? asked : defaultScopes(client, config.scopes)

    const started = await fastify.grants.devices.start({ clientId: client.client_id, scopes, resource: config.resource, requestIp: request.ip })
    fastify.audit('device.requested', { client_id: client.client_id, scopes }, request)
    const verificationUri = `${config.baseUrl}${DEVICE_PATH}`
    return {
      device_code: started.deviceCode,
      user_code: started.userCode,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${encodeURIComponent(started.userCode)}`,
      expires_in: started.expiresIn,
      interval: started.interval
    }
  })
}

export default deviceAuthorization
