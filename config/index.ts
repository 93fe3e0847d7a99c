import { checkEnv } from './checks.ts'
import { buildConfig } from './build.ts'
import { isLoopbackHost } from '../plugins/shared/redirect-uris.ts'
import type { KeyObject } from 'node:crypto'
import type { SigningKey } from './keys.ts'
import type { TracingConfig } from './tracing.ts'

// The public entry of config/: the Config type, loadConfig, and the views of a loaded Config.
// The checks live in checks.ts (one per area), the building of the frozen value in build.ts.

export { isSecretName, list } from './checks.ts'
export { packageVersion } from './build.ts'
export { tracingView, type TracingConfig } from './tracing.ts'

export interface RateRule { max: number, windowSeconds: number }

export interface ClientCertificate {
  privateKey: KeyObject
  /** base64url SHA-1 and SHA-256 thumbprints of the DER certificate, for the assertion header. */
  x5t: string
  x5tS256: string
}

export interface EntraConfig {
  authorityHost: string
  tenant: string
  clientId: string
  clientSecret?: string
  certificate?: ClientCertificate
  identifierUri: string
  multiTenant: boolean
  /** Tenants whose users may sign in and whose tokens are accepted (tid values). */
  allowedTenants: string[]
  acceptV1Tokens: boolean
  authorizeUrl: string
  tokenUrl: string
  jwksUrl: string
  metadataUrl: string
  /** v2 issuer for a tenant id: `{authority}/{tid}/v2.0`. */
  issuerFor: (tid: string) => string
  /** Scopes asked of Entra on sign-in: API scopes, OpenID scopes and any Graph scopes. */
  upstreamScopes: string[]
  graphScopes: string[]
}

/** How the store gets its Microsoft Entra token for Redis (REDIS_AUTH=entra). */
export interface RedisEntraAuth {
  /**
   * `managed-identity`: ManagedIdentityCredential, user-assigned with `clientId`, else system-assigned (chosen
   * when the environment holds the gateway's own app credentials, which DefaultAzureCredential would pick up).
   * `default`: DefaultAzureCredential (a managed identity on Azure, `az login` on a workstation).
   */
  credential: 'managed-identity' | 'default'
  clientId?: string
}

export interface Config {
  version: string
  baseUrl: string
  issuer: string
  /** Canonical MCP resource URL (RFC 8707 / RFC 9728): the audience of our tokens. */
  resource: string
  redirectUri: string
  scopes: string[]
  allowedOrigins: string[]
  allowedRedirectUris: string[]
  /** Private-use URI schemes (RFC 8252 §7.1) accepted in redirect URIs besides https and loopback http. */
  redirectSchemes: string[]
  clientIdMetadataDocuments: boolean
  clientRegistrationTtl: number
  accessTokenTtl: number
  refreshTokenTtl: number
  /** Seconds after a rotation in which the old refresh token still refreshes instead of revoking the grant. */
  refreshReuseGrace: number
  consentTtl: number
  /** The admin area: its app role, its bearer resource (RFC 8707), its session lifetimes (seconds). */
  admin: { role: string, resource: string, sessionTtl: number, sessionIdle: number }
  clockToleranceSeconds: number
  graphBaseUrl: string
  /** null: none configured, an ephemeral key is made at start. */
  signingKeys: SigningKey[] | null
  /** null: none configured, an ephemeral key is made at start. */
  encryptionKey: Buffer | null
  devIdentityProvider: boolean
  entra: EntraConfig
  redisUrl?: string
  /** REDIS_AUTH=entra: a Microsoft Entra token instead of the URL's password; undefined: the URL as given. */
  redisEntraAuth?: RedisEntraAuth
  /** REDIS_URL is one node of a Redis Cluster (ioredis' Cluster client; keys designed for hash slots). */
  redisCluster: boolean
  redisKeyPrefix: string
  memoryStoreMaxEntries: number
  port: number
  host: string
  trustProxy: boolean | string[]
  /** `development`: the self-signed certificate of DEV_TLS (config/tls.ts), which this process itself trusts. */
  tls?: { cert: Buffer, key: Buffer, development?: boolean }
  bodyLimit: number
  /** Limits on slow or idle clients, in seconds (maxConnections: a count). */
  http: { headersTimeout: number, requestTimeout: number, keepAliveTimeout: number, maxConnections: number }
  logLevel: string
  rateLimit: {
    enabled: boolean
    failOpen: boolean
    register: RateRule
    authorize: RateRule
    token: RateRule
    revoke: RateRule
    mcp: RateRule
    /** Ceiling per client IP on /mcp, whatever (unverified) user the bearer token names. */
    mcpPerIp: RateRule
    /** Ceiling per client IP on /token, checked before the body (and its client_id) is read. */
    tokenPerIp: RateRule
    /** GET /metrics per client IP. */
    metrics: RateRule
    /** The admin area (not its sign-in or static files) per client IP. */
    admin: RateRule
  }
  audit: { redisStream?: string, streamMaxLen: number }
  /** Prometheus metrics: served at /metrics to this bearer token (secret); undefined: off, nothing registered. */
  metrics: { token?: string }
  /** OpenTelemetry traces (config/tracing.ts); undefined: off, and no OpenTelemetry module is loaded. */
  tracing?: TracingConfig
}

export class ConfigError extends Error {
  problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/**
 * Builds the frozen configuration from environment variables, or throws one
 * ConfigError that lists every missing or malformed variable.
 */
export function loadConfig (source: Record<string, string | undefined> = process.env): Config {
  const { problems, value: checked } = checkEnv(source)
  if (problems.length > 0) throw new ConfigError(problems)
  return buildConfig(checked)
}

/** What is allowed but probably wrong, said once at start. */
export function configWarnings (config: Config): string[] {
  const warnings: string[] = []
  const base = new URL(config.baseUrl)
  if (!config.devIdentityProvider && base.protocol === 'http:' && !isLoopbackHost(base.hostname)) {
    warnings.push(`MCP_BASE_URL is ${config.baseUrl} (plain http) with a real tenant: codes, tokens and the consent cookie would cross the network in clear. Serve https (TLS in front with TRUST_PROXY=true, or TLS_CERT_PATH/TLS_KEY_PATH) and set MCP_BASE_URL=https://${base.host}`)
  }
  return warnings
}

/** The non-secret view served at /auth/info and logged at start. */
export function publicConfig (config: Config, storeKind: string) {
  return {
    version: config.version,
    issuer: config.issuer,
    resource: config.resource,
    redirect_uri: config.redirectUri,
    scopes: config.scopes,
    store: storeKind,
    development_identity_provider: config.devIdentityProvider,
    entra: {
      authority_host: config.entra.authorityHost,
      tenant: config.entra.tenant,
      client_id: config.entra.clientId,
      identifier_uri: config.entra.identifierUri,
      client_credential: config.entra.certificate !== undefined ? 'certificate' : 'secret',
      allowed_tenants: config.entra.allowedTenants,
      authorize_endpoint: config.entra.authorizeUrl,
      token_endpoint: config.entra.tokenUrl,
      jwks_uri: config.entra.jwksUrl,
      upstream_scopes: config.entra.upstreamScopes
    },
    endpoints: {
      authorization_server_metadata: `${config.baseUrl}/.well-known/oauth-authorization-server`,
      protected_resource_metadata: `${config.baseUrl}/.well-known/oauth-protected-resource/mcp`,
      jwks_uri: `${config.baseUrl}/.well-known/jwks.json`,
      mcp: config.resource
    }
  }
}
