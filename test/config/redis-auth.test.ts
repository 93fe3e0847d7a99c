import t from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { loadConfig, ConfigError } from '../../config/index.ts'

// REDIS_AUTH=entra: which credential signs in to Redis, and the settings refused because they would
// send a token in clear, mix it with an access key, or name an identity nobody uses.

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const CLIENT = '11111111-2222-4333-8444-555555555555'
const IDENTITY = '99999999-8888-4777-8666-555555555555'
const ACCESS_KEY = 'access-key-never-printed'
const AMR = 'rediss://cache1.westeurope.redis.azure.net:10000'

const azure = (extra: Record<string, string> = {}) => ({
  AZURE_TENANT_ID: TENANT,
  AZURE_CLIENT_ID: CLIENT,
  AZURE_CLIENT_SECRET: 'secret-of-the-app-registration',
  MCP_BASE_URL: 'https://mcp.example.com',
  TOKEN_SIGNING_KEY: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  ...extra
})

function problemsOf (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('expected the configuration to be refused')
}

t.test('without REDIS_AUTH the URL is used as given (access key or none)', async t => {
  t.equal(loadConfig(azure({ REDIS_URL: `rediss://:${ACCESS_KEY}@name.redis.cache.windows.net:6380` })).redisEntraAuth, undefined)
  t.equal(loadConfig(azure({ REDIS_URL: AMR, REDIS_AUTH: 'password' })).redisEntraAuth, undefined)
})

t.test('with the app registration in the environment, the system-assigned managed identity signs in, not the app', async t => {
  // DefaultAzureCredential would read AZURE_CLIENT_ID/AZURE_CLIENT_SECRET and sign in to Redis as the gateway's app.
  t.same(loadConfig(azure({ REDIS_URL: AMR, REDIS_AUTH: 'entra' })).redisEntraAuth, { credential: 'managed-identity' })
})

t.test('AZURE_REDIS_CLIENT_ID chooses a user-assigned managed identity', async t => {
  t.same(loadConfig(azure({ REDIS_URL: AMR, REDIS_AUTH: 'entra', AZURE_REDIS_CLIENT_ID: IDENTITY })).redisEntraAuth,
    { credential: 'managed-identity', clientId: IDENTITY })
})

t.test('with the development identity provider, DefaultAzureCredential (az login) signs in, and a loopback Redis may be plain', async t => {
  t.same(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_AUTH: 'entra' }).redisEntraAuth, { credential: 'default' })
})

t.test('an access key or user in REDIS_URL is refused with REDIS_AUTH=entra, without echoing it', async t => {
  for (const url of [`rediss://:${ACCESS_KEY}@cache1.westeurope.redis.azure.net:10000`, `rediss://someone:${ACCESS_KEY}@cache1.westeurope.redis.azure.net:10000`, 'rediss://someone@cache1.westeurope.redis.azure.net:10000']) {
    const problems = problemsOf(azure({ REDIS_URL: url, REDIS_AUTH: 'entra' }))
    t.match(problems, [/REDIS_URL must not carry a user name or password with REDIS_AUTH=entra/])
    t.notMatch(problems.join('\n'), ACCESS_KEY)
  }
})

t.test('a plain redis:// URL to another host is refused with REDIS_AUTH=entra: the token would cross the network in clear', async t => {
  t.match(problemsOf(azure({ REDIS_URL: 'redis://cache1.westeurope.redis.azure.net:10000', REDIS_AUTH: 'entra' })), [/REDIS_URL must be rediss:\/\/ \(TLS\) with REDIS_AUTH=entra/])
  t.match(problemsOf({ REDIS_URL: 'redis://10.0.0.5:6379', REDIS_AUTH: 'entra' }), [/must be rediss:\/\//])
  t.same(loadConfig(azure({ REDIS_URL: 'redis://[::1]:6379', REDIS_AUTH: 'entra' })).redisEntraAuth, { credential: 'managed-identity' })
})

t.test('REDIS_AUTH=entra without REDIS_URL is refused', async t => {
  t.match(problemsOf(azure({ REDIS_AUTH: 'entra' })), [/REDIS_AUTH=entra needs REDIS_URL/])
})

t.test('AZURE_REDIS_CLIENT_ID without REDIS_AUTH=entra is refused, as is a client ID that is not a GUID or an unknown REDIS_AUTH', async t => {
  t.match(problemsOf(azure({ REDIS_URL: AMR, AZURE_REDIS_CLIENT_ID: IDENTITY })), [/AZURE_REDIS_CLIENT_ID is only used with REDIS_AUTH=entra/])
  t.match(problemsOf(azure({ REDIS_URL: AMR, REDIS_AUTH: 'entra', AZURE_REDIS_CLIENT_ID: 'my-identity' })), [/AZURE_REDIS_CLIENT_ID/])
  t.match(problemsOf(azure({ REDIS_URL: AMR, REDIS_AUTH: 'managed-identity' })), [/REDIS_AUTH/])
})
