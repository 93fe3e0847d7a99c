import type { FastifyPluginAsync } from 'fastify'
import metadata from './metadata.ts'
import register from './register.ts'
import authorize from './authorize.ts'
import consent from './consent.ts'
import callback from './callback.ts'
import token from './token.ts'
import revoke from './revoke.ts'
import deviceAuthorization from './device-authorization.ts'
import device from './device.ts'

/**
 * The authorization server's endpoints, in the order a sign-in meets them: discovery, /register,
 * /authorize, its consent POST, Entra's return at /auth/callback, /token, /revoke; then the device grant's /device_authorization and /device pages. HTTP mapping
 * only; the state and the upstream leg are plugins/oauth-proxy.ts's.
 */
const oauthRoutes: FastifyPluginAsync = async function (fastify) {
  await fastify.register(metadata)
  await fastify.register(register)
  await fastify.register(authorize)
  await fastify.register(consent)
  await fastify.register(callback)
  await fastify.register(token)
  await fastify.register(revoke)
  await fastify.register(deviceAuthorization)
  await fastify.register(device)
}

export default oauthRoutes
