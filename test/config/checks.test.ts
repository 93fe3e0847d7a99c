import t from 'tap'
import { readEnv, checkRateLimits, checkScopes } from '../../config/checks.ts'
import { checkAuditStore } from '../../config/redis.ts'
import { loadConfig } from '../../config/index.ts'

// The checks that loadConfig's tests (config.test.ts) do not reach on their own.

const reading = (env: Record<string, string>) => readEnv(env).value

t.test('a rate limit with a window under one second is refused; one the schema already refused is not named twice', async t => {
  t.same(checkRateLimits(reading({})), [], 'the defaults pass')
  t.same(checkRateLimits(reading({ RATE_LIMIT_MCP: '5/0' })), ['RATE_LIMIT_MCP must have a window of at least 1 second (max/windowSeconds, got "5/0")'])
  t.same(checkRateLimits(reading({ RATE_LIMIT_TOKEN: '60 per minute' })), [], 'left to the schema problem')
  t.same(checkRateLimits(reading({ RATE_LIMIT_REVOKE: '@Microsoft.KeyVault(x)' })), [], 'left to the Key Vault problem')
})

t.test('an audit stream without REDIS_URL is refused: it is written to the store\'s Redis', async t => {
  t.same(checkAuditStore(reading({ AUDIT_REDIS_STREAM: 'audit' })), ['AUDIT_REDIS_STREAM needs REDIS_URL: the audit stream is written to the store\'s Redis'])
  t.same(checkAuditStore(reading({ AUDIT_REDIS_STREAM: 'audit', REDIS_URL: 'redis://cache:6379' })), [])
  t.same(checkAuditStore(reading({})), [])
})

t.test('REDIS_CLUSTER=true without REDIS_URL is refused: it names no Redis; with one it passes, and it is off by default', async t => {
  t.same(checkAuditStore(reading({ REDIS_CLUSTER: 'true' })), ['REDIS_CLUSTER=true needs REDIS_URL: one node of the cluster (the others are discovered from it)'])
  t.same(checkAuditStore(reading({ REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://name.westeurope.redis.azure.net:10000' })), [])
  t.same(checkAuditStore(reading({ REDIS_CLUSTER: 'false' })), [])
  t.equal(loadConfig({}).redisCluster, false)
  t.equal(loadConfig({ REDIS_URL: 'redis://redis:6379', REDIS_CLUSTER: 'true' }).redisCluster, true)
})

t.test('offline_access in MCP_SCOPES is refused: the resource must not advertise it (SEP-2207), refresh tokens follow grant_types', async t => {
  t.same(checkScopes(reading({ MCP_SCOPES: 'tools.read offline_access' })).problems, [
    'MCP_SCOPES must not list offline_access: refresh tokens go to clients registered with the refresh_token grant, and MCP clients ask for offline_access on their own (it is ignored); remove it'
  ])
  t.same(checkScopes(reading({})).problems, [], 'the default passes')
  t.same(checkScopes(reading({ MCP_SCOPES: 'tools.read offline_access.read' })).problems, [], 'only the exact scope')
})
