import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

const ProtectedResourceMetadata = Type.Object({
  resource: Type.String(),
  authorization_servers: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  bearer_methods_supported: Type.Array(Type.String()),
  resource_name: Type.String()
})

const Jwks = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    n: Type.String(),
    e: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }))
})

/**
 * RFC 9728 protected resource metadata (at the root and at the MCP path, as MCP clients try
 * both) and this service's public signing keys. CORS for `/.well-known/*` comes from
 * security-headers.
 */
const wellKnownResource: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config } = fastify
  const metadata = {
    resource: config.resource,
    authorization_servers: [config.issuer],
    scopes_supported: [...config.scopes],
    bearer_methods_supported: ['header'],
    resource_name: 'Entra MCP Gateway'
  }
  const schema = { response: { 200: ProtectedResourceMetadata } }

  for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
    fastify.get(url, { schema }, async (request, reply) => {
      reply.header('cache-control', 'public, max-age=3600')
      return metadata
    })
  }

  // The admin API: a resource of its own (RFC 8707), so that an MCP client's token never drives it.
  const adminMetadata = {
    resource: config.admin.resource,
    authorization_servers: [config.issuer],
    scopes_supported: [],
    bearer_methods_supported: ['header'],
    resource_name: 'Entra MCP Gateway admin API'
  }
  fastify.get('/.well-known/oauth-protected-resource/admin/api', { schema }, async (request, reply) => {
    reply.header('cache-control', 'public, max-age=3600')
    return adminMetadata
  })

  fastify.get('/.well-known/jwks.json', { schema: { response: { 200: Jwks } } }, async (request, reply) => {
    // Short enough that a rotated-in key is seen soon; clients refetch on an unknown kid anyway.
    reply.header('cache-control', 'public, max-age=300')
    return fastify.tokenSigner.jwks()
  })
}

export default wellKnownResource
