import http from 'node:http'
import https from 'node:https'
import type { FastifyOAuth2Options } from '@fastify/oauth2'
import type { Config } from '../../../config/index.ts'
import { TOKEN_TIMEOUT_MS } from './token-endpoint.ts'
import { devTrustedCas } from '../../../config/tls.ts'

/**
 * @fastify/oauth2's registration for Entra (as `fastify.entraOAuth2`): its authorize URL builder and,
 * with a client secret, its token requests. Its own state and PKCE cookies are not used.
 */
export function entraOAuth2Options (config: Pick<Config, 'entra' | 'redirectUri' | 'version' | 'tls'>): FastifyOAuth2Options {
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
      http: { timeout: TOKEN_TIMEOUT_MS, headers: { 'user-agent': `entra-mcp-gateway/${config.version}` }, ...devAgents(config.tls) }
    },
    scope: entra.upstreamScopes,
    callbackUri: config.redirectUri,
    userAgent: false
  }
}

/**
 * With DEV_TLS the embedded development identity provider is this service at https://localhost, and
 * simple-oauth2 (wreck) keeps agents of its own: give it one that trusts the development certificate.
 */
function devAgents (tls: Config['tls']): { agents?: Record<string, http.Agent> } {
  if (tls?.development !== true) return {}
  const trusted = new https.Agent({ ca: devTrustedCas(tls.cert), keepAlive: true })
  return { agents: { https: trusted, http: http.globalAgent, httpsAllowUnauthorized: trusted } }
}
