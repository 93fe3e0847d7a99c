import { readFileSync } from 'node:fs'
import { X509Certificate, createPrivateKey, createHash } from 'node:crypto'
import Value from 'typebox/value'
import ipaddr from 'ipaddr.js'
import { EnvSchema, envNames, type Env } from './schema.ts'
import { parseSigningKeys, parseEncryptionKey, type SigningKey } from './keys.ts'
import { DEV_TENANT_ID } from './dev-identity.ts'
import { privateUseSchemeProblem } from '../plugins/shared/redirect-uris.ts'
import { GUID, SCOPE_TOKEN } from '../plugins/shared/syntax.ts'
import { checkTls } from './tls.ts'
import { checkAuditStore, checkRedisAuth } from './redis.ts'
import { checkTracing, type TracingConfig } from './tracing.ts'
import type { ClientCertificate, Config, RateRule, RedisEntraAuth } from './index.ts'

// One check per area of the environment. Each returns the problems it found and the values it
// read, so that every problem is reported at once and nothing is parsed twice. checkEnv runs them
// in a fixed order: the order of the problems in the message.

/** What the checks found: problems, and values the build uses when there are none. */
export interface Checked<T> { problems: string[], value: T }

/** The environment as read: the raw strings, the converted values, and the names already refused. */
export interface Reading {
  raw: Record<string, string>
  env: Env
  /** Names holding an unresolved Key Vault reference (removed from `raw`). */
  unresolved: Set<string>
  /** Names with a problem already (unresolved or refused by the schema): later checks skip them. */
  refused: Set<string>
}

export interface CheckedEnv {
  reading: Reading
  devIdentityProvider: boolean
  certificate?: ClientCertificate
  tenants: { tenant: string, multiTenant: boolean, allowedTenants: string[] }
  scopes: string[]
  port: number
  baseUrl: string
  keys: { signingKeys: SigningKey[] | null, encryptionKey: Buffer | null }
  tls: Config['tls']
  redirects: { allowedRedirectUris: string[], redirectSchemes: string[] }
  allowedOrigins: string[]
  trustProxy: boolean | string[]
  redisEntraAuth?: RedisEntraAuth
  tracing?: TracingConfig
}

// Values never echoed in an error message.
const SECRET_NAMES = new Set(['AZURE_CLIENT_SECRET', 'TOKEN_SIGNING_KEY', 'TOKEN_ENCRYPTION_KEY', 'REDIS_URL', 'METRICS_TOKEN', 'APPLICATIONINSIGHTS_CONNECTION_STRING', 'OTEL_EXPORTER_OTLP_HEADERS'])
/** Names added later that look secret are not echoed either. */
export const isSecretName = (name: string) => SECRET_NAMES.has(name) || /SECRET|PASSWORD|CREDENTIAL|_KEY$/.test(name)
const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i

export const list = (value: string | undefined): string[] => (value ?? '').split(/[\s,]+/).filter(Boolean)
export const rate = (value: string): RateRule => {
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

/** The schema's refusals, one per variable, keyed by its name. */
function schemaProblems (raw: Record<string, string>, converted: unknown): Map<string, string> {
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
  return byName
}

/** Key Vault references left unresolved, then the schema: types, ranges, shapes. */
export function readEnv (source: Record<string, string | undefined>): Checked<Reading> {
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
  const env = Value.Default(EnvSchema, Value.Convert(EnvSchema, { ...raw })) as Env
  const refusedBySchema = schemaProblems(raw, env)
  problems.push(...refusedBySchema.values())
  return { problems, value: { raw, env, unresolved, refused: new Set([...unresolved, ...refusedBySchema.keys()]) } }
}

const given = (r: Reading, name: string) => r.raw[name] !== undefined || r.unresolved.has(name)

/** Azure / Entra identity: the development provider or a real tenant, with one client credential. */
export function checkIdentity (r: Reading): Checked<boolean> {
  const problems: string[] = []
  const azureNames = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH'] as const
  const azurePresent = azureNames.filter(n => given(r, n))
  const devIdentityProvider = r.env.DEV_IDENTITY_PROVIDER ?? azurePresent.length === 0
  if (devIdentityProvider && azurePresent.length > 0) {
    problems.push(`DEV_IDENTITY_PROVIDER=true cannot be combined with Azure settings (${azurePresent.join(', ')}): the development identity provider never runs next to a real tenant`)
  }
  if (!devIdentityProvider) {
    for (const name of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'MCP_BASE_URL'] as const) {
      if (!given(r, name)) problems.push(`${name} is required when Azure settings are present (or set DEV_IDENTITY_PROVIDER=true and no Azure settings for local development)`)
    }
    if (!given(r, 'AZURE_CLIENT_SECRET') && !given(r, 'AZURE_CLIENT_CERTIFICATE_PATH')) {
      problems.push('AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH is required: the app registration must authenticate to Entra')
    }
    if (r.raw.AZURE_CLIENT_SECRET !== undefined && r.raw.AZURE_CLIENT_CERTIFICATE_PATH !== undefined) {
      problems.push('AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH are both set: choose one client credential')
    }
  }
  return { problems, value: devIdentityProvider }
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

/** AZURE_CLIENT_CERTIFICATE_PATH: a readable PEM with the certificate and its key. */
export function checkCertificate (r: Reading): Checked<ClientCertificate | undefined> {
  const path = r.raw.AZURE_CLIENT_CERTIFICATE_PATH
  if (path === undefined || r.refused.has('AZURE_CLIENT_CERTIFICATE_PATH')) return { problems: [], value: undefined }
  try {
    return { problems: [], value: readCertificate(path) }
  } catch (err) {
    return { problems: [`AZURE_CLIENT_CERTIFICATE_PATH ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'names a file that does not exist' : (err as Error).message}`], value: undefined }
  }
}

/** The tenant, and the tenants whose users may sign in (a list is required for common/organizations). */
export function checkTenants (r: Reading, devIdentityProvider: boolean): Checked<CheckedEnv['tenants']> {
  const problems: string[] = []
  const allowedTenantsList = list(r.env.AZURE_ALLOWED_TENANTS)
  const badTenants = allowedTenantsList.filter(t => !GUID.test(t))
  if (badTenants.length > 0) problems.push(`AZURE_ALLOWED_TENANTS must list tenant ids (GUIDs), space-separated (not: ${badTenants.join(', ')})`)
  const tenant = devIdentityProvider ? DEV_TENANT_ID : (r.env.AZURE_TENANT_ID ?? 'unset')
  const multiTenant = tenant === 'common' || tenant === 'organizations'
  if (multiTenant && allowedTenantsList.length === 0) {
    problems.push(`AZURE_ALLOWED_TENANTS is required when AZURE_TENANT_ID is "${tenant}": list the tenant ids whose users may sign in`)
  }
  const allowedTenants = multiTenant ? allowedTenantsList.map(t => t.toLowerCase()) : [tenant.toLowerCase()]
  return { problems, value: { tenant, multiTenant, allowedTenants } }
}

/**
 * MCP_SCOPES: scope tokens, and not `offline_access`. Refresh tokens follow a client's registered
 * grant_types; offered here it would be an Entra scope of this app (`{identifier URI}/offline_access`),
 * and the protected resource SHOULD NOT name it in scopes_supported or a challenge (MCP SEP-2207).
 */
export function checkScopes (r: Reading): Checked<string[]> {
  const scopes = list(r.env.MCP_SCOPES)
  const problems: string[] = []
  const badScopes = scopes.filter(s => !SCOPE_TOKEN.test(s))
  if (badScopes.length > 0) problems.push(`MCP_SCOPES has characters not allowed in a scope: ${badScopes.join(', ')}`)
  if (scopes.includes('offline_access')) {
    problems.push('MCP_SCOPES must not list offline_access: refresh tokens go to clients registered with the refresh_token grant, and MCP clients ask for offline_access on their own (it is ignored); remove it')
  }
  return { problems, value: scopes }
}

/** The port (PORT, else App Service's WEBSITES_PORT) and the public origin, MCP_BASE_URL. */
export function checkBaseUrl (r: Reading): Checked<{ port: number, baseUrl: string }> {
  const problems: string[] = []
  const port = (r.refused.has('PORT') ? undefined : r.env.PORT) ?? (r.refused.has('WEBSITES_PORT') ? undefined : r.env.WEBSITES_PORT) ?? 8000
  let baseUrl = (r.env.MCP_BASE_URL ?? `${r.env.DEV_TLS ? 'https' : 'http'}://localhost:${port}`).replace(/\/+$/, '')
  if (!r.refused.has('MCP_BASE_URL')) {
    if (r.raw.MCP_BASE_URL !== undefined && new URL(baseUrl).pathname !== '/') {
      problems.push(`MCP_BASE_URL must be an origin without a path (got "${r.raw.MCP_BASE_URL}")`)
    } else {
      baseUrl = new URL(baseUrl).origin
    }
  }
  return { problems, value: { port, baseUrl } }
}

function parsed<T> (name: string, value: string | undefined, parse: (value: string) => T): Checked<T | null> {
  if (value === undefined) return { problems: [], value: null }
  try {
    return { problems: [], value: parse(value) }
  } catch (err) {
    return { problems: [`${name} ${(err as Error).message}`], value: null }
  }
}

/** Token signing and encryption keys; instances sharing a Redis store must share them. */
export function checkTokenKeys (r: Reading, devIdentityProvider: boolean): Checked<CheckedEnv['keys']> {
  const signing = parsed('TOKEN_SIGNING_KEY', r.raw.TOKEN_SIGNING_KEY, parseSigningKeys)
  const encryption = parsed('TOKEN_ENCRYPTION_KEY', r.raw.TOKEN_ENCRYPTION_KEY, parseEncryptionKey)
  const problems = [...signing.problems, ...encryption.problems]
  // Several instances sharing one Redis would each invent their own keys and reject each other's tokens.
  if (r.raw.REDIS_URL !== undefined && !devIdentityProvider) {
    for (const name of ['TOKEN_SIGNING_KEY', 'TOKEN_ENCRYPTION_KEY'] as const) {
      if (!given(r, name)) problems.push(`${name} is required when REDIS_URL is set: instances sharing a store must share keys (an ephemeral key is only allowed for a single instance)`)
    }
  }
  return { problems, value: { signingKeys: signing.value, encryptionKey: encryption.value } }
}

/** Slow-client limits that Node would refuse together. */
export function checkHttpLimits (r: Reading): string[] {
  // Node refuses a headers timeout longer than the request timeout (the headers are part of the request).
  if (r.env.HTTP_HEADERS_TIMEOUT <= r.env.HTTP_REQUEST_TIMEOUT) return []
  return [`HTTP_HEADERS_TIMEOUT (${r.env.HTTP_HEADERS_TIMEOUT} s) must not be longer than HTTP_REQUEST_TIMEOUT (${r.env.HTTP_REQUEST_TIMEOUT} s): the headers are part of the request`]
}

/** ALLOWED_REDIRECT_URIS (absolute URLs) and ALLOWED_REDIRECT_SCHEMES (private-use schemes only). */
export function checkRedirects (r: Reading): Checked<CheckedEnv['redirects']> {
  const problems: string[] = []
  const allowedRedirectUris = list(r.env.ALLOWED_REDIRECT_URIS)
  for (const uri of allowedRedirectUris) {
    if (!URL.canParse(uri)) problems.push(`ALLOWED_REDIRECT_URIS has an entry that is not an absolute URL: ${uri}`)
  }
  // `none` turns the default off (an empty value counts as unset, so it would mean the default).
  const schemes = r.env.ALLOWED_REDIRECT_SCHEMES
  const redirectSchemes = schemes.trim().toLowerCase() === 'none' ? [] : list(schemes).map(s => s.toLowerCase().replace(/:(\/\/)?$/, ''))
  for (const scheme of redirectSchemes) {
    const problem = privateUseSchemeProblem(scheme)
    if (problem !== null) problems.push(`ALLOWED_REDIRECT_SCHEMES: ${problem}`)
  }
  return { problems, value: { allowedRedirectUris, redirectSchemes } }
}

export function checkOrigins (r: Reading): Checked<string[]> {
  const allowedOrigins = list(r.env.MCP_ALLOWED_ORIGINS)
  const problems = allowedOrigins
    .filter(origin => !URL.canParse(origin) || new URL(origin).origin !== origin)
    .map(origin => `MCP_ALLOWED_ORIGINS entries must be origins like https://app.example.com (not: ${origin})`)
  return { problems, value: allowedOrigins }
}

export const RATE_NAMES = ['RATE_LIMIT_REGISTER', 'RATE_LIMIT_AUTHORIZE', 'RATE_LIMIT_TOKEN', 'RATE_LIMIT_REVOKE', 'RATE_LIMIT_MCP', 'RATE_LIMIT_MCP_PER_IP', 'RATE_LIMIT_TOKEN_PER_IP', 'RATE_LIMIT_METRICS', 'RATE_LIMIT_ADMIN'] as const

/** Rate limits: the schema checks the max/windowSeconds shape, this the window. */
export function checkRateLimits (r: Reading): string[] {
  return RATE_NAMES
    .filter(name => !r.refused.has(name) && rate(r.env[name]).windowSeconds < 1)
    .map(name => `${name} must have a window of at least 1 second (max/windowSeconds, got "${r.env[name]}")`)
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])
const isAddress = (value: string) => ipaddr.IPv4.isValidFourPartDecimal(value) || (value.includes(':') && ipaddr.IPv6.isValid(value))
const isCidr = (value: string) => /^[^/]+\/\d{1,3}$/.test(value) && isAddress(value.split('/')[0]) && ipaddr.isValidCIDR(value)

/**
 * TRUST_PROXY: `true` (trust X-Forwarded-* from any peer: App Service, where only its front end
 * reaches the app), `false`, or a list of proxy addresses / CIDRs (`loopback`, `uniquelocal`, ...).
 * Hop counts are refused: Fastify 5 never trusts a bare count (it cannot check the peer).
 */
export function checkTrustProxy (r: Reading): Checked<boolean | string[]> {
  const value = r.env.TRUST_PROXY
  if (value === 'true') return { problems: [], value: true }
  if (value === 'false') return { problems: [], value: false }
  const entries = list(value)
  const bad = entries.filter(e => !PROXY_NAMES.has(e) && !isAddress(e) && !isCidr(e))
  if (bad.length > 0) return { problems: [`TRUST_PROXY must be true, false, or proxy addresses/CIDRs such as "10.0.0.0/8 loopback" (not: ${bad.join(', ')})`], value: false }
  return { problems: [], value: entries }
}

/**
 * Every check, in the order their problems are listed. The values are only meaningful when
 * there are no problems.
 */
export function checkEnv (source: Record<string, string | undefined>): Checked<CheckedEnv> {
  const read = readEnv(source)
  const r = read.value
  const identity = checkIdentity(r)
  const devIdentityProvider = identity.value
  const certificate = checkCertificate(r)
  const tenants = checkTenants(r, devIdentityProvider)
  const scopes = checkScopes(r)
  const base = checkBaseUrl(r)
  const keys = checkTokenKeys(r, devIdentityProvider)
  const tls = checkTls(r)
  const httpLimits = checkHttpLimits(r)
  const redirects = checkRedirects(r)
  const origins = checkOrigins(r)
  const rateLimits = checkRateLimits(r)
  const auditStore = checkAuditStore(r)
  const trustProxy = checkTrustProxy(r)
  const redisAuth = checkRedisAuth(r)
  const tracing = checkTracing(r)
  const problems = [
    ...read.problems, ...identity.problems, ...certificate.problems, ...tenants.problems, ...scopes.problems,
    ...base.problems, ...keys.problems, ...tls.problems, ...httpLimits, ...redirects.problems, ...origins.problems,
    ...rateLimits, ...auditStore, ...trustProxy.problems, ...redisAuth.problems, ...tracing.problems
  ]
  return {
    problems,
    value: {
      reading: r,
      devIdentityProvider,
      certificate: certificate.value,
      tenants: tenants.value,
      scopes: scopes.value,
      port: base.value.port,
      baseUrl: base.value.baseUrl,
      keys: keys.value,
      tls: tls.value,
      redirects: redirects.value,
      allowedOrigins: origins.value,
      trustProxy: trustProxy.value,
      redisEntraAuth: redisAuth.value,
      tracing: tracing.value
    }
  }
}
