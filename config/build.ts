import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET } from './dev-identity.ts'
import { list, rate, type CheckedEnv } from './checks.ts'
import type { Config, EntraConfig } from './index.ts'

// Turns an environment that passed every check into the frozen Config and its derived values
// (Entra endpoints, resource URL, upstream scopes).

/**
 * The version of the nearest package.json above this file: `../package.json` when run from
 * source, `../../package.json` from the compiled `dist/config/`.
 */
export function packageVersion (from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from))
  for (;;) {
    const candidate = join(dir, 'package.json')
    if (existsSync(candidate)) return JSON.parse(readFileSync(candidate, 'utf8')).version ?? '0.0.0'
    const parent = dirname(dir)
    if (parent === dir) return '0.0.0'
    dir = parent
  }
}
const version = packageVersion()

/** Microsoft Entra (or the development provider standing in for it): endpoints and scopes. */
function buildEntra (checked: CheckedEnv): EntraConfig {
  const { reading: { env }, devIdentityProvider, baseUrl, tenants: { tenant, multiTenant, allowedTenants } } = checked
  const authorityHost = devIdentityProvider
    ? `${baseUrl}/dev-idp`
    : (env.AZURE_AUTHORITY_HOST ?? 'https://login.microsoftonline.com').replace(/\/+$/, '')
  const clientId = devIdentityProvider ? DEV_CLIENT_ID : env.AZURE_CLIENT_ID as string
  const identifierUri = (env.AZURE_IDENTIFIER_URI ?? `api://${clientId}`).replace(/\/+$/, '')
  const graphScopes = list(env.AZURE_GRAPH_SCOPES)
  return Object.freeze({
    authorityHost,
    tenant,
    clientId,
    clientSecret: devIdentityProvider ? DEV_CLIENT_SECRET : env.AZURE_CLIENT_SECRET,
    certificate: checked.certificate,
    identifierUri,
    multiTenant,
    allowedTenants,
    acceptV1Tokens: env.AZURE_ACCEPT_V1_TOKENS,
    authorizeUrl: `${authorityHost}/${tenant}/oauth2/v2.0/authorize`,
    tokenUrl: `${authorityHost}/${tenant}/oauth2/v2.0/token`,
    jwksUrl: `${authorityHost}/${tenant}/discovery/v2.0/keys`,
    metadataUrl: `${authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
    issuerFor: (tid: string) => `${authorityHost}/${tid}/v2.0`,
    upstreamScopes: [...checked.scopes.map(s => `${identifierUri}/${s}`), 'openid', 'profile', 'offline_access', ...graphScopes],
    graphScopes
  })
}

function buildRateLimit (env: CheckedEnv['reading']['env']): Config['rateLimit'] {
  return Object.freeze({
    enabled: env.RATE_LIMIT_ENABLED,
    failOpen: env.RATE_LIMIT_FAIL_OPEN,
    register: rate(env.RATE_LIMIT_REGISTER),
    authorize: rate(env.RATE_LIMIT_AUTHORIZE),
    token: rate(env.RATE_LIMIT_TOKEN),
    revoke: rate(env.RATE_LIMIT_REVOKE),
    mcp: rate(env.RATE_LIMIT_MCP),
    mcpPerIp: rate(env.RATE_LIMIT_MCP_PER_IP),
    tokenPerIp: rate(env.RATE_LIMIT_TOKEN_PER_IP),
    metrics: rate(env.RATE_LIMIT_METRICS),
    admin: rate(env.RATE_LIMIT_ADMIN)
  })
}

/** The frozen configuration of an environment with no problems (see checkEnv). */
export function buildConfig (checked: CheckedEnv): Config {
  const { reading: { raw, env }, devIdentityProvider, baseUrl } = checked
  const config: Config = {
    version,
    baseUrl,
    issuer: baseUrl,
    resource: `${baseUrl}/mcp`,
    redirectUri: `${baseUrl}/auth/callback`,
    scopes: checked.scopes,
    allowedOrigins: checked.allowedOrigins,
    allowedRedirectUris: checked.redirects.allowedRedirectUris,
    redirectSchemes: checked.redirects.redirectSchemes,
    clientIdMetadataDocuments: env.CLIENT_ID_METADATA_DOCUMENTS,
    clientRegistrationTtl: env.CLIENT_REGISTRATION_TTL,
    accessTokenTtl: env.ACCESS_TOKEN_TTL,
    refreshTokenTtl: env.REFRESH_TOKEN_TTL,
    refreshReuseGrace: env.REFRESH_TOKEN_REUSE_GRACE,
    consentTtl: env.CONSENT_TTL,
    admin: Object.freeze({ role: env.ADMIN_ROLE, resource: `${baseUrl}/admin/api`, sessionTtl: env.ADMIN_SESSION_TTL, sessionIdle: env.ADMIN_SESSION_IDLE }),
    clockToleranceSeconds: env.CLOCK_TOLERANCE,
    // The development provider serves a stand-in for Graph's /me, so graph_me works on a laptop.
    graphBaseUrl: (devIdentityProvider && raw.GRAPH_BASE_URL === undefined ? `${baseUrl}/dev-idp/graph/v1.0` : env.GRAPH_BASE_URL).replace(/\/+$/, ''),
    signingKeys: checked.keys.signingKeys,
    encryptionKey: checked.keys.encryptionKey,
    devIdentityProvider,
    entra: buildEntra(checked),
    redisUrl: env.REDIS_URL,
    redisEntraAuth: checked.redisEntraAuth,
    redisCluster: env.REDIS_CLUSTER,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    memoryStoreMaxEntries: env.MEMORY_STORE_MAX_ENTRIES,
    port: checked.port,
    host: env.HOST,
    trustProxy: checked.trustProxy,
    tls: checked.tls,
    bodyLimit: env.BODY_LIMIT,
    http: Object.freeze({
      headersTimeout: env.HTTP_HEADERS_TIMEOUT,
      requestTimeout: env.HTTP_REQUEST_TIMEOUT,
      keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT,
      maxConnections: env.HTTP_MAX_CONNECTIONS
    }),
    logLevel: env.LOG_LEVEL,
    rateLimit: buildRateLimit(env),
    audit: { redisStream: env.AUDIT_REDIS_STREAM, streamMaxLen: env.AUDIT_STREAM_MAXLEN },
    metrics: Object.freeze({ token: env.METRICS_TOKEN }),
    tracing: checked.tracing
  }
  return Object.freeze(config)
}
