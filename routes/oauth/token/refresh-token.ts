import { InvalidRequestError } from '../../../plugins/errors/oauth.ts'
import { isOpaqueToken } from '../../../plugins/oauth-proxy/grants/records.ts'
import { unknownRefreshToken } from '../../../plugins/oauth-proxy/grants/model.ts'
import { namedResource, type GrantHandler } from './grant-handler.ts'

/** `refresh_token`: rotated on every use; an already-used one revokes the grant (after the reuse grace period). */
export const refreshToken: GrantHandler = async (fastify, request, client, body) => {
  if (body.refresh_token === undefined || body.refresh_token === '') throw new InvalidRequestError('refresh_token is required')
  if (!isOpaqueToken(body.refresh_token)) throw unknownRefreshToken()
  const resource = namedResource(body.resource, fastify.config)
  const { grant, scopes, reusedWithinGrace } = await fastify.grants.rotateRefresh({
    token: body.refresh_token, clientId: client.client_id, scope: body.scope, resource
  }, request)
  const answer = await fastify.grants.issueTokens(grant, scopes, { refreshToken: true })
  fastify.audit('token.refreshed', { client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid, scopes, ...(reusedWithinGrace ? { reuse_within_grace: true } : {}) }, request)
  return answer
}
