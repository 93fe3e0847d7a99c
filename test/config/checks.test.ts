import t from 'tap'
import { readEnv, checkRateLimits, checkAuditStore } from '../../config/checks.ts'

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
