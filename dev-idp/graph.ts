import { createPublicKey } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EntraLikeProvider } from './provider.ts'
import { GRAPH_RESOURCE } from './scopes.ts'
import { graphClaimsChallenge } from './conditional-access.ts'

/** Where the development stand-in for Microsoft Graph lives, below the provider's mount path. */
export const DEV_GRAPH_PATH = '/graph/v1.0'

function graphError (reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message } })
}

/**
 * `GET {mount}/graph/v1.0/me` for development: answers like Microsoft Graph's /me for a token that
 * the development provider issued for Graph's audience, so the graph_me tool works on a laptop.
 */
export function devGraphMe (idp: EntraLikeProvider) {
  const keys = new Map(idp.jwks.keys.map(jwk => [jwk.kid, createPublicKey({ key: jwk as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()]))
  const verify = createVerifier({
    algorithms: ['RS256'],
    allowedIss: idp.issuer,
    allowedAud: GRAPH_RESOURCE,
    requiredClaims: ['iss', 'aud', 'exp', 'oid'],
    key: async (decoded: { header: { kid?: string } }) => {
      const pem = decoded.header.kid !== undefined ? keys.get(decoded.header.kid) : undefined
      if (pem === undefined) throw new Error('unknown key')
      return pem
    }
  })

  return async function me (request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers.authorization
    const token = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : ''
    if (token === '') return graphError(reply, 401, 'InvalidAuthenticationToken', 'Access token is empty.')
    let claims: { oid: string }
    try {
      claims = await verify(token)
    } catch {
      return graphError(reply, 401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience, issuer, signature or lifetime.')
    }
    // Continuous access evaluation: a user who must satisfy a policy first gets Graph's claims challenge.
    const challenge = idp.demands.pending(claims.oid)
    if (challenge !== undefined) {
      reply.header('www-authenticate', graphClaimsChallenge(challenge))
      return graphError(reply, 401, 'InvalidAuthenticationToken', 'Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenCreatedWithOutdatedPolicies')
    }
    const user = idp.users.find(u => u.oid === claims.oid)
    if (user === undefined) return graphError(reply, 404, 'Request_ResourceNotFound', 'The user does not exist in this directory.')
    const [givenName, ...rest] = user.name.split(' ')
    return reply.send({
      '@odata.context': `${request.protocol}://${request.host}${idp.authorityHost.replace(/^https?:\/\/[^/]+/, '')}${DEV_GRAPH_PATH}/$metadata#users/$entity`,
      id: user.oid,
      displayName: user.name,
      givenName,
      surname: rest.join(' ') || null,
      userPrincipalName: user.preferredUsername,
      mail: user.email,
      jobTitle: null,
      officeLocation: null,
      businessPhones: [],
      mobilePhone: null,
      preferredLanguage: null
    })
  }
}
