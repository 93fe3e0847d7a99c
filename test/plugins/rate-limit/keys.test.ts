import t from 'tap'
import {
  ipKey, keyPart, subjectKey, userKey, basicClientId, formClientId, consumerKey
} from '../../../plugins/rate-limit/keys.ts'
import { bearerBuckets, onRequestBuckets, tokenClientBucket, decisive } from '../../../plugins/rate-limit.ts'
import { MemoryCounter } from '../../../plugins/rate-limit/counter.ts'
import { createThrottle } from '../../../plugins/shared/throttle.ts'

const TID = '11111111-2222-3333-4444-555555555555'
const OID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
const rules = {
  register: { max: 20, windowSeconds: 3600 },
  authorize: { max: 60, windowSeconds: 60 },
  token: { max: 60, windowSeconds: 60 },
  revoke: { max: 60, windowSeconds: 60 },
  mcp: { max: 600, windowSeconds: 60 },
  mcpPerIp: { max: 3000, windowSeconds: 60 },
  tokenPerIp: { max: 300, windowSeconds: 60 }
}

t.test('ipKey keeps IPv4, unwraps IPv4-mapped IPv6 and groups IPv6 by /64', async t => {
  t.equal(ipKey('203.0.113.7'), 'ip:203.0.113.7')
  t.equal(ipKey('::ffff:203.0.113.7'), 'ip:203.0.113.7')
  t.equal(ipKey('2001:db8:1:2:aaaa::1'), ipKey('2001:db8:1:2:ffff::9'), 'same /64, same key')
  t.not(ipKey('2001:db8:1:2::1'), ipKey('2001:db8:1:3::1'), 'another /64, another key')
  t.equal(ipKey(undefined), 'ip:unknown')
  t.match(ipKey('not an ip'), /^ip:h\./)
})

t.test('keyPart keeps plain ids and hashes anything that could bend the key layout', async t => {
  t.equal(keyPart(OID), OID)
  t.match(keyPart('https://client.example/metadata.json'), /^h\.[\w-]{22}$/)
  t.match(keyPart('a:b'), /^h\./)
  t.not(keyPart('a:b'), keyPart('a:c'))
  t.match(keyPart('x'.repeat(200)), /^h\./)
  t.equal(consumerKey(`${TID}:${OID}`), `${TID}:${OID}`)
  t.match(consumerKey('spaces are odd'), /^h\./)
})

t.test('subjectKey names tid:oid and the client, falls back to sub, and is null for no one', async t => {
  t.equal(subjectKey({ tid: TID, oid: OID, clientId: 'c1' }), `user:${TID}:${OID}:client:c1`)
  t.equal(subjectKey({ oid: OID }), `user:-:${OID}:client:-`)
  t.equal(subjectKey({ sub: 'abc' }), 'user:sub:abc:client:-')
  t.match(subjectKey({ tid: TID, oid: OID, clientId: 'https://app.example/cimd' }), /^user:[^:]+:[^:]+:client:h\./)
  t.equal(subjectKey({}), null)
  t.equal(subjectKey(null), null)
  t.equal(userKey({ tid: TID, oid: OID }), `${TID}:${OID}`)
})

t.test('basicClientId reads the id of client_secret_basic and never the secret', async t => {
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
  t.equal(basicClientId(basic('my client', 's3cret')), 'my client')
  t.equal(basicClientId(basic('https://app.example/cimd', 'x')), 'https://app.example/cimd')
  t.equal(basicClientId('Bearer abc'), null)
  t.equal(basicClientId(`Basic ${Buffer.from('nocolon').toString('base64')}`), null)
  t.equal(basicClientId(`Basic ${Buffer.from('%E0%A4%A:x').toString('base64')}`), null, 'bad escape')
  t.equal(basicClientId(undefined), null)
  t.equal(formClientId({ client_id: 'c1', client_secret: 'x' }), 'c1')
  t.equal(formClientId({ client_id: ['a', 'b'] }), null)
  t.equal(formClientId(undefined), null)
})

t.test('onRequestBuckets: /mcp by IP without a bearer token, nothing yet with one; OAuth families by IP', async t => {
  t.same(onRequestBuckets('mcp', '198.51.100.1', false, rules).map(b => [b.name, b.rule, b.keyKind]), [['mcp:ip:198.51.100.1', rules.mcp, 'ip']])
  t.same(onRequestBuckets('mcp', '198.51.100.1', true, rules), [], 'counted once the token was checked')
  t.same(onRequestBuckets('token', '198.51.100.1', false, rules).map(b => [b.name, b.rule]), [['token-ip:ip:198.51.100.1', rules.tokenPerIp]])
  for (const family of ['register', 'authorize', 'revoke'] as const) {
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

t.test('MemoryCounter counts within a window and starts over when it ends (fake clock)', async t => {
  let now = 1_000_000
  const counter = new MemoryCounter({ now: () => now })
  t.same(await counter.incr('k', 60000), { current: 1, ttlMs: 60000 })
  now += 15000
  t.same(await counter.incr('k', 60000), { current: 2, ttlMs: 45000 })
  t.same(await counter.incr('other', 60000), { current: 1, ttlMs: 60000 }, 'keys are independent')
  now += 45000
  t.same(await counter.incr('k', 60000), { current: 1, ttlMs: 60000 }, 'a new window')
})

t.test('MemoryCounter stays bounded, dropping the oldest windows first', async t => {
  let now = 0
  const counter = new MemoryCounter({ maxEntries: 3, now: () => now })
  for (const k of ['a', 'b', 'c', 'd']) { await counter.incr(k, 1000); now++ }
  t.equal(counter.size, 3)
  t.equal((await counter.incr('d', 1000)).current, 2, 'newest kept')
  t.equal((await counter.incr('a', 1000)).current, 1, 'oldest was dropped')
})

t.test('createThrottle says yes at most once per interval (fake clock)', async t => {
  let now = 0
  const allow = createThrottle(60000, () => now)
  t.equal(allow(), true)
  now += 1000
  t.equal(allow(), false)
  now += 58999
  t.equal(allow(), false)
  now += 1
  t.equal(allow(), true, 'a minute later')
  t.equal(allow(), false)
})
