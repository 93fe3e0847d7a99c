import t from 'tap'
import { bearerBuckets, onRequestBuckets, tokenClientBucket, decisive, countedOutcome, uncountableOutcome, ExceededBuckets } from '../../../plugins/rate-limit/buckets.ts'

const TID = '11111111-2222-3333-4444-555555555555'
const OID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
const rules = {
  register: { max: 20, windowSeconds: 3600 },
  authorize: { max: 60, windowSeconds: 60 },
  token: { max: 60, windowSeconds: 60 },
  revoke: { max: 60, windowSeconds: 60 },
  mcp: { max: 600, windowSeconds: 60 },
  mcpPerIp: { max: 3000, windowSeconds: 60 },
  tokenPerIp: { max: 300, windowSeconds: 60 },
  metrics: { max: 60, windowSeconds: 60 },
  admin: { max: 600, windowSeconds: 60 }
}

t.test('onRequestBuckets: /mcp by IP without a bearer token, nothing yet with one; OAuth families by IP', async t => {
  t.same(onRequestBuckets('mcp', '198.51.100.1', false, rules).map(b => [b.name, b.rule, b.keyKind]), [['mcp:ip:198.51.100.1', rules.mcp, 'ip']])
  t.same(onRequestBuckets('mcp', '198.51.100.1', true, rules), [], 'counted once the token was checked')
  t.same(onRequestBuckets('token', '198.51.100.1', false, rules).map(b => [b.name, b.rule]), [['token-ip:ip:198.51.100.1', rules.tokenPerIp]])
  for (const family of ['register', 'authorize', 'revoke', 'metrics', 'admin'] as const) {
    t.same(onRequestBuckets(family, '198.51.100.1', true, rules).map(b => [b.name, b.rule]), [[`${family}:ip:198.51.100.1`, rules[family]]])
  }
  t.same(tokenClientBucket('198.51.100.1', 'c1', rules.token), { name: 'token:client:c1:ip:198.51.100.1', rule: rules.token, keyKind: 'client' })
  t.same(tokenClientBucket('198.51.100.1', null, rules.token).name, 'token:ip:198.51.100.1')
})

t.test('bearerBuckets: a verified caller spends its user budget and the IP ceiling; an unverified token the ceiling only', async t => {
  t.same(bearerBuckets('198.51.100.1', { tid: TID, oid: OID, sub: 's', clientId: 'c1' }, rules).map(b => [b.name, b.rule, b.keyKind]), [
    [`mcp:user:${TID}:${OID}:client:c1`, rules.mcp, 'user'],
    ['mcp-ip:ip:198.51.100.1', rules.mcpPerIp, 'ip_ceiling']
  ])
  t.same(bearerBuckets('198.51.100.1', null, rules).map(b => [b.name, b.rule, b.keyKind]), [['mcp-ip:ip:198.51.100.1', rules.mcpPerIp, 'ip_ceiling']])
})

t.test('decisive picks a refusal first, else the outcome with least room', async t => {
  const b = { name: 'x', rule: rules.mcp, keyKind: 'ip' as const }
  const a1 = { allowed: true, limit: 10, remaining: 5, resetSeconds: 30, bucket: b }
  const a2 = { allowed: true, limit: 100, remaining: 2, resetSeconds: 10, bucket: b }
  const no = { allowed: false, limit: 100, remaining: 0, resetSeconds: 9, bucket: b }
  t.equal(decisive([a1, a2]), a2)
  t.equal(decisive([a1, no, a2]), no)
})

t.test('countedOutcome: over when the count passes max, remaining never below 0, reset rounded up', async t => {
  const b = { name: 'x', rule: { max: 2, windowSeconds: 60 }, keyKind: 'ip' as const }
  t.same(countedOutcome(b, 2, 1500), { allowed: true, limit: 2, remaining: 0, resetSeconds: 2, bucket: b })
  t.same(countedOutcome(b, 3, 10), { allowed: false, limit: 2, remaining: 0, resetSeconds: 1, bucket: b })
})

t.test('uncountableOutcome lets through uncounted when failing open, else refuses as unavailable', async t => {
  const b = { name: 'x', rule: { max: 5, windowSeconds: 60 }, keyKind: 'ip' as const }
  t.match(uncountableOutcome(b, true), { allowed: true, uncounted: true, remaining: 5 })
  t.match(uncountableOutcome(b, false), { allowed: false, unavailable: true, remaining: 0, resetSeconds: 5 })
})

t.test('ExceededBuckets refuses a known-exceeded counter until its window ends (fake clock)', async t => {
  const b = { name: 'x', rule: { max: 5, windowSeconds: 60 }, keyKind: 'ip' as const }
  const exceeded = new ExceededBuckets()
  t.equal(exceeded.known([b], 0), undefined)
  exceeded.remember({ allowed: false, limit: 5, remaining: 0, resetSeconds: 30, bucket: b }, 0)
  t.match(exceeded.known([b], 10_000), { allowed: false, remaining: 0, resetSeconds: 20 })
  t.equal(exceeded.known([b], 30_000), undefined, 'forgotten when the window ends')
})
