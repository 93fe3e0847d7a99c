import type { FastifyOAuth2Options } from '@fastify/oauth2'
import type { Config } from '../../../config/index.ts'
import { TOKEN_TIMEOUT_MS } from './token-endpoint.ts'

/**
 * @fastify/oauth2's registration for Entra (as `fastify.entraOAuth2`): its authorize URL builder and,
 * with a client secret, its token requests. Its own state and PKCE cookies are not used.
 */
export function entraOAuth2Options (config: Pick<Config, 'entra' | 'redirectUri' | 'version'>): FastifyOAuth2Options {
  const { entra } = config
  const authorizeUrl = new URL(entra.authorizeUrl)
  const tokenUrl = new URL(entra.tokenUrl)
  return {
    name: 'entraOAuth2',
    credentials: {
      client: { id: entra.clientId, secret: entra.clientSecret ?? '' },
      auth: {
        authorizeHost: authorizeUrl.origin,
        authorizePath: authorizeUrl.pathname,
        tokenHost: tokenUrl.origin,
        tokenPath: tokenUrl.pathname
      },
      options: { authorizationMethod: 'body' },
      http: { timeout: TOKEN_TIMEOUT_MS, headers: { 'user-agent': `entra-mcp-gateway/${config.version}` } }
    },
    scope: entra.upstreamScopes,
    callbackUri: config.redirectUri,
    userAgent: false
  }
}
