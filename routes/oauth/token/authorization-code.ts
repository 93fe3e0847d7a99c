import { InvalidRequestError } from '../../../plugins/errors/oauth.ts'
import { isOpaqueToken } from '../../../plugins/oauth-proxy/grants/records.ts'
import { unknownCode } from '../../../plugins/oauth-proxy/grants/model.ts'
import type { ClientRecord } from '../../../plugins/oauth-proxy/clients/registry.ts'
import { namedResource, type GrantHandler } from './grant-handler.ts'

/** RFC 7591: a client registered without grant_types has only authorization_code. */
export const mayRefresh = (client: ClientRecord) => (client.grant_types ?? ['authorization_code']).includes('refresh_token')

/** `authorization_code`: PKCE S256, redirect URI and client bound to the code; a code redeemed twice revokes its grant. */
export const authorizationCode: GrantHandler = async (fastify, request, client, body) => {
  if (body.code === undefined || body.code === '') throw new InvalidRequestError('code is required')
  if (body.code_verifier === undefined) throw new InvalidRequestError('code_verifier is required (PKCE)')
  if (!isOpaqueToken(body.code)) throw unknownCode()
  const resource = namedResource(body.resource, fastify.config)
  const { grant, scopes } = await fastify.grants.redeemCode({
    code: body.code, clientId: client.client_id, verifier: body.code_verifier, redirectUri: body.redirect_uri, resource
  }, request)
  const answer = await fastify.grants.issueTokens(grant, scopes, { refreshToken: mayRefresh(client) })
  fastify.audit('token.issued', { grant_type: 'authorization_code', client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid, scopes }, request)
  return answer
}
