import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { InvalidClientMetadataError, InvalidRedirectUriError, oauthErrorFor } from '../../plugins/errors/oauth.ts'
import { validateClientMetadata } from '../../plugins/oauth-proxy/clients/metadata.ts'

/** Registration bodies are a few hundred bytes; anything much larger is refused with 413. */
export const REGISTER_BODY_LIMIT = 16 * 1024

const Uri = Type.String({ maxLength: 2000 })

// The schema documents the request; validateClientMetadata holds the rules and the RFC 7591 error codes.
const RegistrationRequest = Type.Object({
  redirect_uris: Type.Optional(Type.Array(Uri, { description: 'https URIs, or http on a loopback host (any port matches later); required with authorization_code, absent or [] for a device-only client' })),
  token_endpoint_auth_method: Type.Optional(Type.String({ description: 'none | client_secret_post | client_secret_basic (default)' })),
  grant_types: Type.Optional(Type.Array(Type.String(), { description: 'authorization_code (the default), refresh_token, urn:ietf:params:oauth:grant-type:device_code; authorization_code or the device grant is required' })),
  response_types: Type.Optional(Type.Array(Type.String(), { description: 'code with authorization_code; [] (the default then) for a device-only client' })),
  scope: Type.Optional(Type.String({ description: 'space-separated subset of the offered scopes' })),
  application_type: Type.Optional(Type.String({ description: 'native | web (default, OpenID Connect Registration); does not constrain redirect_uris' })),
  client_name: Type.Optional(Type.String()),
  client_uri: Type.Optional(Uri),
  logo_uri: Type.Optional(Uri)
}, { additionalProperties: true })

const RegistrationResponse = Type.Object({
  client_id: Type.String(),
  client_id_issued_at: Type.Integer(),
  client_secret: Type.Optional(Type.String()),
  client_secret_expires_at: Type.Optional(Type.Integer()),
  redirect_uris: Type.Array(Type.String()),
  token_endpoint_auth_method: Type.String(),
  grant_types: Type.Array(Type.String()),
  response_types: Type.Array(Type.String()),
  scope: Type.Optional(Type.String()),
  application_type: Type.Optional(Type.String()),
  client_name: Type.Optional(Type.String()),
  client_uri: Type.Optional(Type.String()),
  logo_uri: Type.Optional(Type.String())
})

const ErrorResponse = Type.Object({ error: Type.String(), error_description: Type.String() })

/**
 * POST /register: OAuth 2.0 Dynamic Client Registration (RFC 7591). Entra ID has none, so the
 * service registers MCP clients itself. Errors are RFC 7591 §3.2.2 JSON (`invalid_redirect_uri`,
 * `invalid_client_metadata`) with status 400; malformed JSON is 400, oversized bodies 413.
 */
const register: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/register', {
    bodyLimit: REGISTER_BODY_LIMIT,
    config: { rateLimitFamily: 'register' },
    attachValidation: true,
    // Fastify's validator coerces a lone string into an array; RFC 7591 lists are JSON arrays, so look first.
    preValidation: async (request) => {
      const body = request.body as Record<string, unknown> | null
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return
      if (body.redirect_uris !== undefined && !Array.isArray(body.redirect_uris)) throw new InvalidRedirectUriError('redirect_uris must be an array of strings')
      for (const name of ['grant_types', 'response_types']) {
        if (body[name] !== undefined && !Array.isArray(body[name])) throw new InvalidClientMetadataError(`${name} must be an array of strings`)
      }
      // ...and would turn ["native"] into "native".
      if (body.application_type !== undefined && typeof body.application_type !== 'string') throw new InvalidClientMetadataError('application_type must be a string: native or web')
    },
    schema: {
      body: RegistrationRequest,
      response: { 201: RegistrationResponse, 400: ErrorResponse }
    }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    reply.header('pragma', 'no-cache')
    if (request.validationError !== undefined && request.validationError !== null) {
      const problems = (request.validationError as { validation?: Array<{ instancePath?: string, params?: { missingProperty?: string } }> }).validation ?? []
      const onRedirectUris = problems.some(v => (v.instancePath ?? '').startsWith('/redirect_uris') || v.params?.missingProperty === 'redirect_uris')
      throw onRedirectUris ? new InvalidRedirectUriError(request.validationError.message) : new InvalidClientMetadataError(request.validationError.message)
    }
    const checked = validateClientMetadata(request.body, { scopes: fastify.config.scopes, allowedRedirectUris: fastify.config.allowedRedirectUris, redirectSchemes: fastify.config.redirectSchemes })
    if (!checked.ok) throw oauthErrorFor(checked.error, checked.description)

    const { client, clientSecret } = await fastify.clients.register(checked.metadata)
    fastify.audit('client.registered', {
      client_id: client.client_id,
      client_name: client.client_name,
      token_endpoint_auth_method: client.token_endpoint_auth_method,
      redirect_hosts: [...new Set(client.redirect_uris.map(uri => new URL(uri).host))]
    }, request)
    request.log.info({ client_id: client.client_id }, 'client registered')

    return reply.code(201).send({
      client_id: client.client_id,
      client_id_issued_at: client.client_id_issued_at,
      ...(clientSecret !== undefined ? { client_secret: clientSecret, client_secret_expires_at: client.client_secret_expires_at ?? 0 } : {}),
      redirect_uris: client.redirect_uris,
      token_endpoint_auth_method: client.token_endpoint_auth_method,
      grant_types: client.grant_types,
      response_types: client.response_types,
      ...(client.scope !== undefined ? { scope: client.scope } : {}),
      ...(client.application_type !== undefined ? { application_type: client.application_type } : {}),
      ...(client.client_name !== undefined ? { client_name: client.client_name } : {}),
      ...(client.client_uri !== undefined ? { client_uri: client.client_uri } : {}),
      ...(client.logo_uri !== undefined ? { logo_uri: client.logo_uri } : {})
    })
  })
}

export default register
