import t from 'tap'
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadConfig, publicConfig, packageVersion, isSecretName, configWarnings, ConfigError, type Config } from '../../config/index.ts'
import { DEV_CLIENT_ID, DEV_TENANT_ID } from '../../config/dev-identity.ts'
import { inTerminal } from '../support/terminal.ts'
import { build } from '../helper.ts'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const CLIENT = '11111111-2222-4333-8444-555555555555'
const SECRET = 'super-secret-value-do-not-print'
const azure = (extra: Record<string, string> = {}) => ({
  AZURE_TENANT_ID: TENANT,
  AZURE_CLIENT_ID: CLIENT,
  AZURE_CLIENT_SECRET: SECRET,
  MCP_BASE_URL: 'https://mcp.example.com',
  ...extra
})

/** The ConfigError loadConfig throws for `env`; any other outcome fails the test. */
function refusal (env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected the configuration to be refused')
}
const problemsOf = (env: Record<string, string | undefined>): string[] => refusal(env).problems
const messageOf = (env: Record<string, string | undefined>): string => refusal(env).message

const rsaPem = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
const dir = mkdtempSync(join(tmpdir(), 'emg-config-'))

t.test('an empty environment gives the development setup: dev identity provider, localhost, memory store', async t => {
  const config = loadConfig({})
  t.equal(config.devIdentityProvider, true)
  t.equal(config.baseUrl, 'http://localhost:8000')
  t.equal(config.issuer, 'http://localhost:8000')
  t.equal(config.resource, 'http://localhost:8000/mcp')
  t.equal(config.redirectUri, 'http://localhost:8000/auth/callback')
  t.same(config.scopes, ['tools.read', 'tools.write', 'graph.read'])
  t.equal(config.entra.tenant, DEV_TENANT_ID)
  t.equal(config.entra.clientId, DEV_CLIENT_ID)
  t.equal(config.entra.authorityHost, 'http://localhost:8000/dev-idp')
  t.equal(config.redisUrl, undefined)
  t.equal(config.port, 8000)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.trustProxy, false)
  t.equal(config.signingKeys, null)
  t.equal(config.encryptionKey, null)
  t.equal(config.logLevel, 'info')
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.entra), 'the configuration is frozen')
})

t.test('empty strings count as unset (an empty .env line)', async t => {
  const config = loadConfig({ AZURE_TENANT_ID: '', AZURE_CLIENT_ID: ' ', PORT: '', MCP_BASE_URL: '' })
  t.equal(config.devIdentityProvider, true)
  t.equal(config.port, 8000)
})

t.test('Azure settings derive the Entra v2 endpoints of the public cloud, redirect URI, resource and upstream scopes', async t => {
  const config = loadConfig(azure({ AZURE_GRAPH_SCOPES: 'User.Read' }))
  t.equal(config.devIdentityProvider, false)
  t.equal(config.entra.authorityHost, 'https://login.microsoftonline.com')
  t.equal(config.entra.authorizeUrl, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`)
  t.equal(config.entra.tokenUrl, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`)
  t.equal(config.entra.jwksUrl, `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`)
  t.equal(config.entra.metadataUrl, `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`)
  t.equal(config.entra.issuerFor(TENANT), `https://login.microsoftonline.com/${TENANT}/v2.0`)
  t.equal(config.entra.identifierUri, `api://${CLIENT}`)
  t.same(config.entra.allowedTenants, [TENANT])
  t.equal(config.entra.clientSecret, SECRET)
  t.equal(config.redirectUri, 'https://mcp.example.com/auth/callback')
  t.equal(config.resource, 'https://mcp.example.com/mcp')
  t.same(config.entra.upstreamScopes, [
    `api://${CLIENT}/tools.read`, `api://${CLIENT}/tools.write`, `api://${CLIENT}/graph.read`,
    'openid', 'profile', 'offline_access', 'User.Read'
  ])
})

t.test('sovereign clouds work by changing AZURE_AUTHORITY_HOST', async t => {
  for (const host of ['https://login.microsoftonline.us', 'https://login.partner.microsoftonline.cn']) {
    const config = loadConfig(azure({ AZURE_AUTHORITY_HOST: `${host}/` }))
    t.equal(config.entra.authorityHost, host, 'trailing slash dropped')
    t.equal(config.entra.authorizeUrl, `${host}/${TENANT}/oauth2/v2.0/authorize`)
    t.equal(config.entra.tokenUrl, `${host}/${TENANT}/oauth2/v2.0/token`)
    t.equal(config.entra.jwksUrl, `${host}/${TENANT}/discovery/v2.0/keys`)
    t.equal(config.entra.metadataUrl, `${host}/${TENANT}/v2.0/.well-known/openid-configuration`)
    t.equal(config.entra.issuerFor(TENANT), `${host}/${TENANT}/v2.0`)
  }
  t.match(problemsOf(azure({ AZURE_AUTHORITY_HOST: 'login.microsoftonline.us' })).join('\n'), /AZURE_AUTHORITY_HOST must be an http\(s\) URL/)
})

t.test('MCP_BASE_URL: trailing slash dropped, a path or a non-URL refused', async t => {
  t.equal(loadConfig(azure({ MCP_BASE_URL: 'https://mcp.example.com/' })).baseUrl, 'https://mcp.example.com')
  t.match(problemsOf(azure({ MCP_BASE_URL: 'https://mcp.example.com/gateway' })), [/MCP_BASE_URL must be an origin without a path/])
  t.match(problemsOf(azure({ MCP_BASE_URL: 'mcp.example.com' })), [/MCP_BASE_URL must be an http\(s\) URL/])
})

t.test('Azure settings need tenant, client id, base URL and one client credential', async t => {
  const problems = problemsOf({ AZURE_CLIENT_SECRET: SECRET })
  t.equal(problems.length, 3, problems.join('\n'))
  t.match(problems.join('\n'), /AZURE_TENANT_ID is required/)
  t.match(problems.join('\n'), /AZURE_CLIENT_ID is required/)
  t.match(problems.join('\n'), /MCP_BASE_URL is required/)

  const noCredential = problemsOf(azure({ AZURE_CLIENT_SECRET: '' }))
  t.match(noCredential, [/AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH is required/])
})

t.test('a client secret and a certificate together are refused', async t => {
  const path = join(dir, 'cert-both.pem')
  writeFileSync(path, 'x')
  t.match(problemsOf(azure({ AZURE_CLIENT_CERTIFICATE_PATH: path })).join('\n'), /both set: choose one client credential/)
})

t.test('a client certificate is read and its thumbprints computed; a missing or keyless file is refused', async t => {
  const key = join(dir, 'client.key')
  const crt = join(dir, 'client.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=emg-test'], { stdio: 'ignore' })
  const both = join(dir, 'client.pem')
  writeFileSync(both, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'))
  const config = loadConfig(azure({ AZURE_CLIENT_SECRET: '', AZURE_CLIENT_CERTIFICATE_PATH: both }))
  t.ok(config.entra.certificate !== undefined)
  t.match(config.entra.certificate?.x5t, /^[\w-]{27}$/, 'SHA-1 thumbprint, base64url')
  t.match(config.entra.certificate?.x5tS256, /^[\w-]{43}$/, 'SHA-256 thumbprint, base64url')
  t.equal(publicConfig(config, 'memory').entra.client_credential, 'certificate')

  t.match(problemsOf(azure({ AZURE_CLIENT_SECRET: '', AZURE_CLIENT_CERTIFICATE_PATH: join(dir, 'nope.pem') })), [/AZURE_CLIENT_CERTIFICATE_PATH names a file that does not exist/])
  t.match(problemsOf(azure({ AZURE_CLIENT_SECRET: '', AZURE_CLIENT_CERTIFICATE_PATH: crt })), [/AZURE_CLIENT_CERTIFICATE_PATH must be a PEM file holding both/])
})

t.test('the development identity provider is never combined with Azure settings', async t => {
  t.match(problemsOf(azure({ DEV_IDENTITY_PROVIDER: 'true' })), [/DEV_IDENTITY_PROVIDER=true cannot be combined with Azure settings/])
  t.equal(loadConfig({ DEV_IDENTITY_PROVIDER: 'true' }).devIdentityProvider, true)
  t.match(problemsOf({ DEV_IDENTITY_PROVIDER: 'false' }).join('\n'), /AZURE_TENANT_ID is required/, 'turning it off needs a tenant')
})

t.test('multi-tenant (common/organizations) needs AZURE_ALLOWED_TENANTS of GUIDs', async t => {
  t.match(problemsOf(azure({ AZURE_TENANT_ID: 'common' })), [/AZURE_ALLOWED_TENANTS is required when AZURE_TENANT_ID is "common"/])
  t.match(problemsOf(azure({ AZURE_TENANT_ID: 'organizations', AZURE_ALLOWED_TENANTS: `${TENANT} contoso` })), [/AZURE_ALLOWED_TENANTS must list tenant ids \(GUIDs\).*contoso/])
  const other = '9188040d-6c67-4c5b-b112-36a304b66dad'
  const config = loadConfig(azure({ AZURE_TENANT_ID: 'common', AZURE_ALLOWED_TENANTS: `${TENANT} ${other.toUpperCase()}` }))
  t.equal(config.entra.multiTenant, true)
  t.same(config.entra.allowedTenants, [TENANT, other])
  t.equal(config.entra.authorizeUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize')
  t.equal(config.entra.issuerFor(other), `https://login.microsoftonline.com/${other}/v2.0`)
})

t.test('malformed values are refused with the expected form and the value given', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [azure({ AZURE_TENANT_ID: 'contoso.onmicrosoft.com' }), /AZURE_TENANT_ID must be one of: a GUID, common, organizations \(got "contoso.onmicrosoft.com"\)/],
    [azure({ AZURE_CLIENT_ID: 'not-a-guid' }), /AZURE_CLIENT_ID must be a GUID \(got "not-a-guid"\)/],
    [{ PORT: 'eighty' }, /^PORT .*\(got "eighty"\)/],
    [{ PORT: '70000' }, /^PORT /],
    [{ WEBSITES_PORT: '0' }, /^WEBSITES_PORT /],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent/],
    [{ RATE_LIMIT_TOKEN: '60 per minute' }, /RATE_LIMIT_TOKEN must be max\/windowSeconds/],
    [{ BODY_LIMIT: '10' }, /^BODY_LIMIT /],
    [{ ACCESS_TOKEN_TTL: '5' }, /^ACCESS_TOKEN_TTL /],
    [{ RATE_LIMIT_ENABLED: 'maybe' }, /^RATE_LIMIT_ENABLED /],
    [{ REDIS_KEY_PREFIX: 'has space' }, /REDIS_KEY_PREFIX must be letters, digits/],
    [{ MCP_SCOPES: 'tools.read "quoted"' }, /MCP_SCOPES has characters not allowed in a scope: "quoted"/],
    [{ MCP_SCOPES: 'tools.read offline_access' }, /MCP_SCOPES must not list offline_access/],
    [{ ALLOWED_REDIRECT_URIS: 'https://ok.example/cb not-a-url' }, /ALLOWED_REDIRECT_URIS has an entry that is not an absolute URL: not-a-url/],
    [{ MCP_ALLOWED_ORIGINS: 'https://app.example.com/path' }, /MCP_ALLOWED_ORIGINS entries must be origins/],
    [{ ALLOWED_REDIRECT_SCHEMES: 'cursor javascript' }, /ALLOWED_REDIRECT_SCHEMES: "javascript" cannot be a private-use redirect scheme/],
    [{ ALLOWED_REDIRECT_SCHEMES: 'https' }, /ALLOWED_REDIRECT_SCHEMES: "https" cannot be a private-use redirect scheme/],
    [{ ALLOWED_REDIRECT_SCHEMES: '1app' }, /ALLOWED_REDIRECT_SCHEMES: "1app" is not a URI scheme/],
    [{ TLS_CERT_PATH: '/tmp/cert.pem' }, /TLS_CERT_PATH and TLS_KEY_PATH go together/],
    [{ TLS_CERT_PATH: join(dir, 'missing.crt'), TLS_KEY_PATH: join(dir, 'missing.key') }, /TLS_CERT_PATH\/TLS_KEY_PATH cannot be read: ENOENT/],
    [{ TOKEN_ENCRYPTION_KEY: randomBytes(16).toString('base64') }, /TOKEN_ENCRYPTION_KEY must be 32 bytes in base64 \(got 16 bytes\)/],
    [{ TOKEN_SIGNING_KEY: 'not a key' }, /TOKEN_SIGNING_KEY contains no PEM private key/],
    [{ TOKEN_SIGNING_KEY: '{"kty":"RSA"' }, /TOKEN_SIGNING_KEY is neither PEM nor valid JSON/],
    [{ TOKEN_SIGNING_KEY: '{"kty":"EC","d":"x"}' }, /TOKEN_SIGNING_KEY JWK #1 is not an RSA private key/],
    [{ REDIS_URL: 'http://cache:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL$/]
  ]
  for (const [env, expected] of cases) {
    const problems = problemsOf(env)
    t.equal(problems.length, 1, `${env.PORT ?? env.AZURE_TENANT_ID ?? Object.keys(env).join(',')}: one problem (${problems.join('; ')})`)
    t.match(problems[0], expected)
  }
})

t.test('ALLOWED_REDIRECT_SCHEMES: cursor by default, none for none, written with or without ://', async t => {
  t.same(loadConfig({}).redirectSchemes, ['cursor'])
  t.same(loadConfig({ ALLOWED_REDIRECT_SCHEMES: 'none' }).redirectSchemes, [])
  t.same(loadConfig({ ALLOWED_REDIRECT_SCHEMES: 'Cursor:// com.example.app:, windsurf' }).redirectSchemes, ['cursor', 'com.example.app', 'windsurf'])
})

t.test('a signing key shorter than 2048 bits is refused', async t => {
  t.match(problemsOf({ TOKEN_SIGNING_KEY: rsaPem(1024) }), [/TOKEN_SIGNING_KEY RSA keys must be at least 2048 bits/])
})

t.test('signing keys: PEM (kid from the key), several for rotation, JWKS with kids, escaped newlines', async t => {
  const a = rsaPem()
  const b = rsaPem()
  const one = loadConfig({ TOKEN_SIGNING_KEY: a }).signingKeys
  t.equal(one?.length, 1)
  t.match(one?.[0].kid, /^[\w-]{43}$/, 'RFC 7638 thumbprint')
  t.equal(loadConfig({ TOKEN_SIGNING_KEY: a }).signingKeys?.[0].kid, one?.[0].kid, 'same key, same kid')

  const two = loadConfig({ TOKEN_SIGNING_KEY: `${a}\n${b}` }).signingKeys
  t.equal(two?.length, 2)
  t.equal(two?.[0].kid, one?.[0].kid, 'the first key signs')

  t.equal(loadConfig({ TOKEN_SIGNING_KEY: a.replace(/\n/g, '\\n') }).signingKeys?.[0].kid, one?.[0].kid, 'literal \\n read as newlines')

  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
  const fromJwks = loadConfig({ TOKEN_SIGNING_KEY: JSON.stringify({ keys: [{ ...jwk, kid: 'key-2025' }] }) }).signingKeys
  t.equal(fromJwks?.[0].kid, 'key-2025')
  t.match(problemsOf({ TOKEN_SIGNING_KEY: `${a}\n${a}` }), [/two keys with the same kid/])
})

t.test('an encryption key of 32 bytes is accepted in base64 and base64url', async t => {
  const key = randomBytes(32)
  t.same(loadConfig({ TOKEN_ENCRYPTION_KEY: key.toString('base64') }).encryptionKey, key)
  const urlSafe = Buffer.from(Array.from({ length: 32 }, () => 0xfb))
  t.same(loadConfig({ TOKEN_ENCRYPTION_KEY: urlSafe.toString('base64url') }).encryptionKey, urlSafe)
})

t.test('with REDIS_URL, Azure mode requires shared signing and encryption keys; development mode does not', async t => {
  const problems = problemsOf(azure({ REDIS_URL: 'redis://cache:6379' }))
  t.equal(problems.length, 2)
  t.match(problems.join('\n'), /TOKEN_SIGNING_KEY is required when REDIS_URL is set/)
  t.match(problems.join('\n'), /TOKEN_ENCRYPTION_KEY is required when REDIS_URL is set/)
  const shared = loadConfig(azure({ REDIS_URL: 'rediss://:key@name.redis.cache.windows.net:6380', TOKEN_SIGNING_KEY: rsaPem(), TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') }))
  t.equal(shared.redisUrl, 'rediss://:key@name.redis.cache.windows.net:6380')
  t.equal(loadConfig({ REDIS_URL: 'redis://redis:6379' }).redisUrl, 'redis://redis:6379', 'dev identity provider with Redis is fine')
})

t.test('PORT, WEBSITES_PORT (App Service), HOST, TRUST_PROXY, LOG_LEVEL', async t => {
  t.equal(loadConfig({ WEBSITES_PORT: '8080' }).port, 8080, 'WEBSITES_PORT maps onto PORT')
  t.equal(loadConfig({ WEBSITES_PORT: '8080', PORT: '9000' }).port, 9000, 'PORT wins')
  t.equal(loadConfig({ PORT: '9000' }).baseUrl, 'http://localhost:9000', 'the default base URL follows the port')
  t.equal(loadConfig({ HOST: '127.0.0.1' }).host, '127.0.0.1')
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8 127.0.0.1 ::1 loopback' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1', 'loopback'])
  t.match(problemsOf({ TRUST_PROXY: '2' }), [/TRUST_PROXY must be true, false, or proxy addresses\/CIDRs .*\(not: 2\)/], 'hop counts are refused')
  t.match(problemsOf({ TRUST_PROXY: 'yes' }), [/TRUST_PROXY must be/])
  t.equal(loadConfig({ LOG_LEVEL: 'debug' }).logLevel, 'debug')
  t.same(loadConfig({ RATE_LIMIT_TOKEN: '10/30' }).rateLimit.token, { max: 10, windowSeconds: 30 })
})

t.test('slow-client limits: defaults in seconds, a headers timeout longer than the request timeout refused', async t => {
  t.same(loadConfig({}).http, { headersTimeout: 10, requestTimeout: 30, keepAliveTimeout: 245, maxConnections: 10000 })
  t.same(loadConfig({ HTTP_HEADERS_TIMEOUT: '5', HTTP_REQUEST_TIMEOUT: '5', HTTP_KEEP_ALIVE_TIMEOUT: '5', HTTP_MAX_CONNECTIONS: '50' }).http,
    { headersTimeout: 5, requestTimeout: 5, keepAliveTimeout: 5, maxConnections: 50 })
  t.match(problemsOf({ HTTP_HEADERS_TIMEOUT: '40' }), [/HTTP_HEADERS_TIMEOUT \(40 s\) must not be longer than HTTP_REQUEST_TIMEOUT \(30 s\)/])
  t.match(problemsOf({ HTTP_REQUEST_TIMEOUT: '0' }), [/HTTP_REQUEST_TIMEOUT/])
  t.match(problemsOf({ HTTP_MAX_CONNECTIONS: '0' }), [/HTTP_MAX_CONNECTIONS/])
})

t.test('an unresolved Key Vault reference is named, without a second "required" message', async t => {
  const reference = '@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/secrets/client-secret/)'
  const problems = problemsOf(azure({ AZURE_CLIENT_SECRET: reference }))
  t.equal(problems.length, 1, problems.join('\n'))
  t.match(problems[0], /^AZURE_CLIENT_SECRET is an unresolved Key Vault reference/)

  const lower = problemsOf({ TOKEN_ENCRYPTION_KEY: '@microsoft.keyvault(VaultName=v;SecretName=s)', PORT: '@Microsoft.KeyVault(SecretUri=x)' })
  t.equal(lower.length, 2)
  t.match(lower.join('\n'), /TOKEN_ENCRYPTION_KEY is an unresolved Key Vault reference/)
  t.match(lower.join('\n'), /PORT is an unresolved Key Vault reference/)
})

t.test('one message lists every problem, not only the first', async t => {
  const message = messageOf({
    AZURE_TENANT_ID: 'not-a-tenant',
    AZURE_CLIENT_SECRET: SECRET,
    PORT: 'abc',
    LOG_LEVEL: 'chatty',
    TOKEN_ENCRYPTION_KEY: 'c2hvcnQ=',
    TOKEN_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/signing/)'
  })
  t.match(message, /^Invalid configuration \(\d+ problems\):\n/)
  for (const name of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'MCP_BASE_URL', 'PORT', 'LOG_LEVEL', 'TOKEN_ENCRYPTION_KEY', 'TOKEN_SIGNING_KEY']) {
    t.match(message, new RegExp(`\\n  - ${name} `), `names ${name}`)
  }
})

t.test('secret values are never echoed in problems or in the public view', async t => {
  const key = rsaPem()
  const message = messageOf({
    AZURE_CLIENT_SECRET: SECRET,
    TOKEN_SIGNING_KEY: key.slice(0, 200),
    TOKEN_ENCRYPTION_KEY: 'dG9vLXNob3J0LXNlY3JldA==',
    REDIS_URL: 'http://:redis-password@cache:6379'
  })
  for (const secret of [SECRET, key.slice(40, 120), 'dG9vLXNob3J0LXNlY3JldA==', 'redis-password']) t.notOk(message.includes(secret), 'not echoed')
  t.ok(['CONSENT_COOKIE_SECRET', 'SOME_API_KEY', 'ADMIN_PASSWORD'].every(isSecretName), 'secret-looking names added later are not echoed either')
  t.notOk(isSecretName('MCP_BASE_URL'))

  const config: Config = loadConfig(azure({ TOKEN_SIGNING_KEY: key, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'), REDIS_URL: 'redis://:redis-password@cache:6379' }))
  const view = JSON.stringify(publicConfig(config, 'redis'))
  t.notOk(view.includes(SECRET), 'client secret not in /auth/info')
  t.notOk(view.includes('redis-password'), 'Redis password not in /auth/info')
  t.notOk(view.includes('PRIVATE KEY'), 'no key material in /auth/info')
  t.equal(JSON.parse(view).store, 'redis')
})

t.test('the version comes from the nearest package.json, from the sources and from a compiled dist/', async t => {
  const repoVersion = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version
  t.equal(loadConfig({}).version, repoVersion)
  const project = mkdtempSync(join(tmpdir(), 'emg-pkg-'))
  writeFileSync(join(project, 'package.json'), JSON.stringify({ version: '9.8.7' }))
  mkdirSync(join(project, 'dist', 'config'), { recursive: true })
  t.equal(packageVersion(pathToFileURL(join(project, 'dist', 'config', 'index.js')).href), '9.8.7')
  t.equal(packageVersion(pathToFileURL(join(project, 'config', 'index.ts')).href), '9.8.7')
})

t.test('AZURE_TENANT_ID given as a domain name is refused with where to find the tenant GUID', async t => {
  const [problem] = problemsOf(azure({ AZURE_TENANT_ID: 'contoso.onmicrosoft.com' }))
  t.match(problem, /^AZURE_TENANT_ID must be .*"contoso\.onmicrosoft\.com" is a domain name: use the directory \(tenant\) ID/)
  t.match(problem, 'Microsoft Entra ID > Overview > Tenant ID')
  t.match(problem, 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration')
  t.notMatch(problemsOf(azure({ AZURE_TENANT_ID: 'nope' }))[0], /domain name/, 'no domain hint for what is not a domain')
})

t.test('MCP_BASE_URL without a scheme is refused with the https URL it probably means', async t => {
  t.match(problemsOf({ MCP_BASE_URL: 'mcp.example.com' }), [/^MCP_BASE_URL must be an http\(s\) URL.*did you mean "https:\/\/mcp\.example\.com"\?$/])
  t.notMatch(problemsOf({ MCP_BASE_URL: 'ftp://mcp.example.com' })[0], /did you mean/, 'a wrong scheme is not "corrected"')
})

t.test('an http:// base URL with a real tenant on a non-loopback host is warned about at start; loopback and development are not', async t => {
  t.match(configWarnings(loadConfig(azure({ MCP_BASE_URL: 'http://mcp.example.com' }))), [/^MCP_BASE_URL is http:\/\/mcp\.example\.com \(plain http\) with a real tenant.*MCP_BASE_URL=https:\/\/mcp\.example\.com$/])
  t.same(configWarnings(loadConfig(azure({ MCP_BASE_URL: 'http://localhost:8000' }))), [])
  t.same(configWarnings(loadConfig(azure())), [])
  t.same(configWarnings(loadConfig({ MCP_BASE_URL: 'http://gateway.internal:8000' })), [], 'the development identity provider')

  const logs: string[] = []
  await build(t, azure({ MCP_BASE_URL: 'http://mcp.example.com', LOG_LEVEL: 'info' }), { logs })
  t.ok(logs.map(l => JSON.parse(l)).some(l => l.level === 'warn' && /plain http/.test(l.msg)), 'logged at start')
})

t.test('in a terminal, a bad configuration is printed as readable lines, not a JSON line with \\n escapes', async t => {
  const { code, output } = await inTerminal('node --import tsx server.ts', { AZURE_TENANT_ID: 'nope', AZURE_CLIENT_SECRET: SECRET }, 20000)
  t.equal(code, 1, output)
  t.match(output, /^Invalid configuration \(\d problems\):\n {2}- AZURE_TENANT_ID /m)
  t.match(output, /^ {2}- AZURE_CLIENT_ID is required/m, 'one problem a line')
  t.notMatch(output, /\{"level"|\\n/, 'no JSON, no escaped newlines')
  t.notOk(output.includes(SECRET), 'the secret is not printed')
})

t.test('npm run dev stops with exit code 1 on a bad configuration instead of watching for changes', async t => {
  const { code, output } = await inTerminal('npm run dev', { AZURE_TENANT_ID: 'nope' }, 20000)
  t.not(code, null, 'exited by itself')
  t.not(code, 0, output)
  t.match(output, /Invalid configuration/)
})

t.test('the process exits 1 with one message listing every problem, and no secret', async t => {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AZURE_TENANT_ID: 'nope',
    AZURE_CLIENT_SECRET: SECRET,
    PORT: 'abc'
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], { cwd: new URL('../..', import.meta.url).pathname, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => { out += d })
  child.stderr.on('data', d => { out += d })
  const code = await new Promise(resolve => child.on('exit', resolve))
  t.equal(code, 1, out)
  const lines = out.split('\n').filter(line => line.startsWith('{'))
  t.equal(lines.length, 1, 'one log line')
  const line = JSON.parse(lines[0])
  t.equal(line.level, 'fatal', 'fatal, as a word')
  t.match(line.msg, /Invalid configuration \(4 problems\)/)
  for (const name of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'MCP_BASE_URL', 'PORT']) t.match(line.msg, name)
  t.notOk(out.includes(SECRET), 'the secret is not printed')
})
