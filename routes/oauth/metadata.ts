import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type, { type Static } from 'typebox'
import type { Config } from '../../config/index.ts'
import { GRANT_TYPES, RESPONSE_TYPES, SUPPORTED_AUTH_METHODS } from '../../plugins/oauth-proxy/clients/metadata.ts'
import { ASSERTION_ALGORITHMS } from '../../plugins/oauth-proxy/client-auth/client-jwks.ts'

const AuthorizationServerMetadataSchema = Type.Object({
  issuer: Type.String(),
  authorization_endpoint: Type.String(),
  token_endpoint: Type.String(),
  registration_endpoint: Type.String(),
  revocation_endpoint: Type.String(),
  device_authorization_endpoint: Type.String(),
  jwks_uri: Type.String(),
  response_types_supported: Type.Array(Type.String()),
  response_modes_supported: Type.Array(Type.String()),
  grant_types_supported: Type.Array(Type.String()),
  code_challenge_methods_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  token_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  client_id_metadata_document_supported: Type.Optional(Type.Boolean()),
  authorization_response_iss_parameter_supported: Type.Boolean()
})

export type AuthorizationServerMetadata = Static<typeof AuthorizationServerMetadataSchema>

/**
 * RFC 8414 metadata. Every URL is built from MCP_BASE_URL (config.baseUrl), never from the
 * request's Host or X-Forwarded-* headers: the configured public URL is authoritative, so a
 * spoofed header cannot make the service advertise someone else's endpoints, and behind
 * TRUST_PROXY the answer is the same as without it.
 */
export function authorizationServerMetadata (config: Config): AuthorizationServerMetadata {
  const base = config.baseUrl
  return {
    issuer: config.issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    device_authorization_endpoint: `${base}/device_authorization`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    response_types_supported: [...RESPONSE_TYPES],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_TYPES],
    code_challenge_methods_supported: ['S256'],
    // private_key_jwt (RFC 7523) is for metadata-document clients (ChatGPT); /register offers the others.
    token_endpoint_auth_methods_supported: [...SUPPORTED_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    revocation_endpoint_auth_methods_supported: [...SUPPORTED_AUTH_METHODS],
    revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    scopes_supported: [...config.scopes],
    ...(config.clientIdMetadataDocuments ? { client_id_metadata_document_supported: true } : {}),
    authorization_response_iss_parameter_supported: true
  }
}

/**
 * GET /.well-known/oauth-authorization-server (RFC 8414), and the same document at
 * /.well-known/openid-configuration for clients that only look there.
 */
const metadata: FastifyPluginAsyncTypebox = async function (fastify) {
  const document = authorizationServerMetadata(fastify.config)
  const options = { schema: { response: { 200: AuthorizationServerMetadataSchema } } }
  const handler = async (_request: unknown, reply: { header: (name: string, value: string) => unknown }) => {
    reply.header('cache-control', 'public, max-age=300')
    return document
  }
  fastify.get('/.well-known/oauth-authorization-server', options, handler)
  fastify.get('/.well-known/openid-configuration', options, handler)
}

export default metadata
