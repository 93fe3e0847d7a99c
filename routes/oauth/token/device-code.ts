import { InvalidRequestError } from '../../../plugins/errors/oauth.ts'
import { isOpaqueToken } from '../../../plugins/oauth-proxy/grants/records.ts'
import { unknownDeviceCode } from '../../../plugins/oauth-proxy/grants/devices.ts'
import { mayRefresh } from './authorization-code.ts'
import { checkResource, type GrantHandler } from './grant-handler.ts'

/**
 * `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the client polls until the user
 * answered; bound to the client it was issued to, and redeemed once. The tokens are the code
 * flow's (a refresh token for clients registered for it).
 */
export const deviceCode: GrantHandler = async (fastify, request, client, body) => {
  if (body.device_code === undefined || body.device_code === '') throw new InvalidRequestError('device_code is required')
  if (!isOpaqueToken(body.device_code)) throw unknownDeviceCode()
  checkResource(body.resource, fastify.config.resource)
  const { grant, scopes } = await fastify.grants.redeemDeviceCode({ deviceCode: body.device_code, clientId: client.client_id }, request)
  const answer = await fastify.grants.issueTokens(grant, scopes, { refreshToken: mayRefresh(client) })
  fastify.audit('token.issued', { grant_type: 'device_code', client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid, scopes }, request)
  return answer
}
