import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { X509Certificate, createPrivateKey, createHash, type KeyObject } from 'node:crypto'
import Value from 'typebox/value'
import ipaddr from 'ipaddr.js'
import { EnvSchema, envNames, type Env } from './schema.ts'
import { parseSigningKeys, parseEncryptionKey, type SigningKey } from './keys.ts'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID } from './dev-identity.ts'
import { isLoopbackHost, privateUseSchemeProblem } from '../plugins/shared/redirect-uris.ts'
import { GUID, SCOPE_TOKEN } from '../plugins/shared/syntax.ts'

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
  clockToleranceSeconds: number
  graphBaseUrl: string
  /** null: none configured, an ephemeral key is made at start. */
  signingKeys: SigningKey[] | null
  /** null: none configured, an ephemeral key is made at start. */
  encryptionKey: Buffer | null
  devIdentityProvider: boolean
  entra: EntraConfig
  redisUrl?: string
  redisKeyPrefix: string
  memoryStoreMaxEntries: number
  port: number
  host: string
  trustProxy: boolean | string[]
  tls?: { cert: Buffer, key: Buffer }
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
  }
  audit: { redisStream?: string, streamMaxLen: number }
}

export class ConfigError extends Error {
  problems: string[]
  constructor (problems: string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

// Values never echoed in an error message.
const SECRET_NAMES = new Set(['AZURE_CLIENT_SECRET', 'TOKEN_SIGNING_KEY', 'TOKEN_ENCRYPTION_KEY', 'REDIS_URL'])
/** Names added later that look secret are not echoed either. */
export const isSecretName = (name: string) => SECRET_NAMES.has(name) || /SECRET|PASSWORD|CREDENTIAL|_KEY$/.test(name)
const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i

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

export const list = (value: string | undefined): string[] => (value ?? '').split(/[\s,]+/).filter(Boolean)
const rate = (value: string): RateRule => {
  const [max, windowSeconds] = value.split('/').map(Number)
  return { max, windowSeconds }
}

/** Reads only the variables the service knows; empty strings count as unset (as in an empty `.env`). */
function pickEnv (source: Record<string, string | undefined>): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of envNames) {
    const value = source[name]
    if (value !== undefined && value.trim() !== '') picked[name] = value.trim()
  }
  return picked
}

/** Suggestions for mistakes seen in practice, added to the schema's message for that variable. */
const HINTS: Partial<Record<string, (value: string) => string | undefined>> = {
  AZURE_TENANT_ID: value => /^[\w-]+(\.[\w-]+)+$/.test(value)
    ? `; "${value}" is a domain name: use the directory (tenant) ID, found in the Azure portal under Microsoft Entra ID > Overview > Tenant ID, or as the GUID in "issuer" at https://login.microsoftonline.com/${value}/v2.0/.well-known/openid-configuration`
    : undefined,
  MCP_BASE_URL: value => /^[a-z][\w+.-]*:/i.test(value) ? undefined : `; did you mean "https://${value.replace(/^\/+/, '')}"?`
}

function schemaProblems (raw: Record<string, string>, converted: unknown): string[] {
  const byName = new Map<string, string>()
  for (const error of Value.Errors(EnvSchema, converted)) {
    const name = error.instancePath.split('/')[1]
    if (name === undefined || byName.has(name)) continue
    const property = (EnvSchema.properties as Record<string, any>)[name]
    const expected = property?.description ?? (property?.anyOf !== undefined ? `one of: ${property.anyOf.map((s: any) => s.const ?? s.description).join(', ')}` : undefined)
    const detail = expected !== undefined ? `must be ${expected}` : error.message
    const shown = isSecretName(name) ? '' : ` (got "${raw[name]}")`
    byName.set(name, `${name} ${detail}${shown}${isSecretName(name) ? '' : HINTS[name]?.(raw[name]) ?? ''}`)
  }
  return [...byName.values()]
}

function readCertificate (path: string): ClientCertificate {
  const pem = readFileSync(path, 'utf8')
  const certBlock = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)
  const keyBlock = pem.match(/-----BEGIN (?:RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA )?PRIVATE KEY-----/)
  if (certBlock === null || keyBlock === null) throw new Error('must be a PEM file holding both the certificate and its unencrypted private key')
  const der = new X509Certificate(certBlock[0]).raw
  return {
    privateKey: createPrivateKey(keyBlock[0]),
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url')
  }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])
const isAddress = (value: string) => ipaddr.IPv4.isValidFourPartDecimal(value) || (value.includes(':') && ipaddr.IPv6.isValid(value))
const isCidr = (value: string) => /^[^/]+\/\d{1,3}$/.test(value) && isAddress(value.split('/')[0]) && ipaddr.isValidCIDR(value)

/**
 * TRUST_PROXY: `true` (trust X-Forwarded-* from any peer: App Service, where only its front end
 * reaches the app), `false`, or a list of proxy addresses / CIDRs (`loopback`, `uniquelocal`, ...).
 * Hop counts are refused: Fastify 5 never trusts a bare count (it cannot check the peer).
 */
function parseTrustProxy (value: string): boolean | string[] | Error {
  if (value === 'true') return true
  if (value === 'false') return false
  const entries = list(value)
  const bad = entries.filter(e => !PROXY_NAMES.has(e) && !isAddress(e) && !isCidr(e))
  if (bad.length > 0) return new Error(`TRUST_PROXY must be true, false, or proxy addresses/CIDRs such as "10.0.0.0/8 loopback" (not: ${bad.join(', ')})`)
  return entries
}

/**
 * Builds the frozen configuration from environment variables, or throws one
 * ConfigError that lists every missing or malformed variable.
 */
export function loadConfig (source: Record<string, string | undefined> = process.env): Config {
  const raw = pickEnv(source)
  const problems: string[] = []

  // App Service leaves `@Microsoft.KeyVault(...)` in place when it cannot resolve the reference.
  const unresolved = new Set<string>()
  for (const [name, value] of Object.entries(raw)) {
    if (KEY_VAULT_REFERENCE.test(value)) {
      problems.push(`${name} is an unresolved Key Vault reference: give the app's managed identity "get" access to the secret and check the reference in App Service > Configuration`)
      unresolved.add(name)
      delete raw[name]
    }
  }

  const converted = Value.Default(EnvSchema, Value.Convert(EnvSchema, { ...raw })) as Env
  problems.push(...schemaProblems(raw, converted))
  const env = converted
  const bad = (name: string) => problems.some(p => p.startsWith(`${name} `))

  const azureNames = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'] as const
  const azurePresent = azureNames.filter(n => raw[n] !== undefined || unresolved.has(n))
  const devIdentityProvider = env.DEV_IDENTITY_PROVIDER ?? azurePresent.length === 0
  if (devIdentityProvider && azurePresent.length > 0) {
    problems.push(`DEV_IDENTITY_PROVIDER=true cannot be combined with Azure settings (${azurePresent.join(', ')}): the development identity provider never runs next to a real tenant`)
  }
  if (!devIdentityProvider) {
    for (const name of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'MCP_BASE_URL'] as const) {
      if (raw[name] === undefined && !unresolved.has(name)) problems.push(`${name} is required when Azure settings are present (or set DEV_IDENTITY_PROVIDER=true and no Azure settings for local development)`)
    }
    if (raw.AZURE_CLIENT_SECRET === undefined && raw.AZURE_CLIENT_CERTIFICATE_PATH === undefined &&
      !unresolved.has('AZURE_CLIENT_SECRET') && !unresolved.has('AZURE_CLIENT_CERTIFICATE_PATH')) {
      problems.push('AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH is required: the app registration must authenticate to Entra')
    }
    if (raw.AZURE_CLIENT_SECRET !== undefined && raw.AZURE_CLIENT_CERTIFICATE_PATH !== undefined) {
      problems.push('AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH are both set: choose one client credential')
    }
  }

  let certificate: ClientCertificate | undefined
  if (raw.AZURE_CLIENT_CERTIFICATE_PATH !== undefined && !bad('AZURE_CLIENT_CERTIFICATE_PATH')) {
    try {
      certificate = readCertificate(raw.AZURE_CLIENT_CERTIFICATE_PATH)
    } catch (err) {
      problems.push(`AZURE_CLIENT_CERTIFICATE_PATH ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'names a file that does not exist' : (err as Error).message}`)
    }
  }

  const allowedTenantsList = list(env.AZURE_ALLOWED_TENANTS)
  const badTenants = allowedTenantsList.filter(t => !GUID.test(t))
  if (badTenants.length > 0) problems.push(`AZURE_ALLOWED_TENANTS must list tenant ids (GUIDs), space-separated (not: ${badTenants.join(', ')})`)
  const tenant = devIdentityProvider ? DEV_TENANT_ID : (env.AZURE_TENANT_ID ?? 'unset')
  const multiTenant = tenant === 'common' || tenant === 'organizations'
  if (multiTenant && allowedTenantsList.length === 0) {
    problems.push(`AZURE_ALLOWED_TENANTS is required when AZURE_TENANT_ID is "${tenant}": list the tenant ids whose users may sign in`)
  }
  const allowedTenants = multiTenant ? allowedTenantsList.map(t => t.toLowerCase()) : [tenant.toLowerCase()]

  const scopes = list(env.MCP_SCOPES)
  const badScopes = scopes.filter(s => !SCOPE_TOKEN.test(s))
  if (badScopes.length > 0) problems.push(`MCP_SCOPES has characters not allowed in a scope: ${badScopes.join(', ')}`)

  const port = (bad('PORT') ? undefined : env.PORT) ?? (bad('WEBSITES_PORT') ? undefined : env.WEBSITES_PORT) ?? 8000
  let baseUrl = (env.MCP_BASE_URL ?? `http://localhost:${port}`).replace(/\/+$/, '')
  if (raw.MCP_BASE_URL !== undefined && !bad('MCP_BASE_URL') && new URL(baseUrl).pathname !== '/') {
    problems.push(`MCP_BASE_URL must be an origin without a path (got "${raw.MCP_BASE_URL}")`)
  }
  if (!bad('MCP_BASE_URL')) baseUrl = new URL(baseUrl).origin

  let signingKeys: SigningKey[] | null = null
  if (raw.TOKEN_SIGNING_KEY !== undefined) {
    try {
      signingKeys = parseSigningKeys(raw.TOKEN_SIGNING_KEY)
    } catch (err) {
      problems.push(`TOKEN_SIGNING_KEY ${(err as Error).message}`)
    }
  }
  let encryptionKey: Buffer | null = null
  if (raw.TOKEN_ENCRYPTION_KEY !== undefined) {
    try {
      encryptionKey = parseEncryptionKey(raw.TOKEN_ENCRYPTION_KEY)
    } catch (err) {
      problems.push(`TOKEN_ENCRYPTION_KEY ${(err as Error).message}`)
    }
  }
  // Several instances sharing one Redis would each invent their own keys and reject each other's tokens.
  if (raw.REDIS_URL !== undefined && !devIdentityProvider) {
    for (const name of ['TOKEN_SIGNING_KEY', 'TOKEN_ENCRYPTION_KEY'] as const) {
      if (raw[name] === undefined && !unresolved.has(name)) problems.push(`${name} is required when REDIS_URL is set: instances sharing a store must share keys (an ephemeral key is only allowed for a single instance)`)
    }
  }

  let tls: Config['tls']
  if ((raw.TLS_CERT_PATH === undefined) !== (raw.TLS_KEY_PATH === undefined)) {
    problems.push('TLS_CERT_PATH and TLS_KEY_PATH go together: set both or neither')
  } else if (raw.TLS_CERT_PATH !== undefined && raw.TLS_KEY_PATH !== undefined) {
    try {
      tls = { cert: readFileSync(raw.TLS_CERT_PATH), key: readFileSync(raw.TLS_KEY_PATH) }
    } catch (err) {
      problems.push(`TLS_CERT_PATH/TLS_KEY_PATH cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  // Node refuses a headers timeout longer than the request timeout (the headers are part of the request).
  if (env.HTTP_HEADERS_TIMEOUT > env.HTTP_REQUEST_TIMEOUT) {
    problems.push(`HTTP_HEADERS_TIMEOUT (${env.HTTP_HEADERS_TIMEOUT} s) must not be longer than HTTP_REQUEST_TIMEOUT (${env.HTTP_REQUEST_TIMEOUT} s): the headers are part of the request`)
  }

  const allowedRedirectUris = list(env.ALLOWED_REDIRECT_URIS)
  for (const uri of allowedRedirectUris) {
    if (!URL.canParse(uri)) problems.push(`ALLOWED_REDIRECT_URIS has an entry that is not an absolute URL: ${uri}`)
  }
  // `none` turns the default off (an empty value counts as unset, so it would mean the default).
  const redirectSchemes = env.ALLOWED_REDIRECT_SCHEMES.trim().toLowerCase() === 'none' ? [] : list(env.ALLOWED_REDIRECT_SCHEMES).map(s => s.toLowerCase().replace(/:(\/\/)?$/, ''))
  for (const scheme of redirectSchemes) {
    const problem = privateUseSchemeProblem(scheme)
    if (problem !== null) problems.push(`ALLOWED_REDIRECT_SCHEMES: ${problem}`)
  }
  const allowedOrigins = list(env.MCP_ALLOWED_ORIGINS)
  for (const origin of allowedOrigins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) problems.push(`MCP_ALLOWED_ORIGINS entries must be origins like https://app.example.com (not: ${origin})`)
  }

  for (const name of ['RATE_LIMIT_REGISTER', 'RATE_LIMIT_AUTHORIZE', 'RATE_LIMIT_TOKEN', 'RATE_LIMIT_REVOKE', 'RATE_LIMIT_MCP', 'RATE_LIMIT_MCP_PER_IP', 'RATE_LIMIT_TOKEN_PER_IP'] as const) {
    if (!bad(name) && rate(env[name]).windowSeconds < 1) problems.push(`${name} must have a window of at least 1 second (max/windowSeconds, got "${env[name]}")`)
  }
  if (raw.AUDIT_REDIS_STREAM !== undefined && raw.REDIS_URL === undefined) {
    problems.push('AUDIT_REDIS_STREAM needs REDIS_URL: the audit stream is written to the store\'s Redis')
  }

  const trustProxy = parseTrustProxy(env.TRUST_PROXY)
  if (trustProxy instanceof Error) problems.push(trustProxy.message)

  if (problems.length > 0 || trustProxy instanceof Error) throw new ConfigError(problems)

  const authorityHost = devIdentityProvider
    ? `${baseUrl}/dev-idp`
    : (env.AZURE_AUTHORITY_HOST ?? 'https://login.microsoftonline.com').replace(/\/+$/, '')
  const clientId = devIdentityProvider ? DEV_CLIENT_ID : env.AZURE_CLIENT_ID as string
  const identifierUri = (env.AZURE_IDENTIFIER_URI ?? `api://${clientId}`).replace(/\/+$/, '')
  const graphScopes = list(env.AZURE_GRAPH_SCOPES)

  const config: Config = {
    version,
    baseUrl,
    issuer: baseUrl,
    resource: `${baseUrl}/mcp`,
    redirectUri: `${baseUrl}/auth/callback`,
    scopes,
    allowedOrigins,
    allowedRedirectUris,
    redirectSchemes,
    clientIdMetadataDocuments: env.CLIENT_ID_METADATA_DOCUMENTS,
    clientRegistrationTtl: env.CLIENT_REGISTRATION_TTL,
    accessTokenTtl: env.ACCESS_TOKEN_TTL,
    refreshTokenTtl: env.REFRESH_TOKEN_TTL,
    refreshReuseGrace: env.REFRESH_TOKEN_REUSE_GRACE,
    consentTtl: env.CONSENT_TTL,
    clockToleranceSeconds: env.CLOCK_TOLERANCE,
    // The development provider serves a stand-in for Graph's /me, so graph_me works on a laptop.
    graphBaseUrl: (devIdentityProvider && raw.GRAPH_BASE_URL === undefined ? `${baseUrl}/dev-idp/graph/v1.0` : env.GRAPH_BASE_URL).replace(/\/+$/, ''),
    signingKeys,
    encryptionKey,
    devIdentityProvider,
    entra: {
      authorityHost,
      tenant,
      clientId,
      clientSecret: devIdentityProvider ? DEV_CLIENT_SECRET : env.AZURE_CLIENT_SECRET,
      certificate,
      identifierUri,
      multiTenant,
      allowedTenants,
      acceptV1Tokens: env.AZURE_ACCEPT_V1_TOKENS,
      authorizeUrl: `${authorityHost}/${tenant}/oauth2/v2.0/authorize`,
      tokenUrl: `${authorityHost}/${tenant}/oauth2/v2.0/token`,
      jwksUrl: `${authorityHost}/${tenant}/discovery/v2.0/keys`,
      metadataUrl: `${authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
      issuerFor: (tid: string) => `${authorityHost}/${tid}/v2.0`,
      upstreamScopes: [...scopes.map(s => `${identifierUri}/${s}`), 'openid', 'profile', 'offline_access', ...graphScopes],
      graphScopes
    },
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    memoryStoreMaxEntries: env.MEMORY_STORE_MAX_ENTRIES,
    port,
    host: env.HOST,
    trustProxy,
    tls,
    bodyLimit: env.BODY_LIMIT,
    http: {
      headersTimeout: env.HTTP_HEADERS_TIMEOUT,
      requestTimeout: env.HTTP_REQUEST_TIMEOUT,
      keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT,
      maxConnections: env.HTTP_MAX_CONNECTIONS
    },
    logLevel: env.LOG_LEVEL,
    rateLimit: {
      enabled: env.RATE_LIMIT_ENABLED,
      failOpen: env.RATE_LIMIT_FAIL_OPEN,
      register: rate(env.RATE_LIMIT_REGISTER),
      authorize: rate(env.RATE_LIMIT_AUTHORIZE),
      token: rate(env.RATE_LIMIT_TOKEN),
      revoke: rate(env.RATE_LIMIT_REVOKE),
      mcp: rate(env.RATE_LIMIT_MCP),
      mcpPerIp: rate(env.RATE_LIMIT_MCP_PER_IP),
      tokenPerIp: rate(env.RATE_LIMIT_TOKEN_PER_IP)
    },
    audit: { redisStream: env.AUDIT_REDIS_STREAM, streamMaxLen: env.AUDIT_STREAM_MAXLEN }
  }
  Object.freeze(config.entra)
  Object.freeze(config.rateLimit)
  Object.freeze(config.http)
  return Object.freeze(config)
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
