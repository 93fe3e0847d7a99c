import t from 'tap'
import {
  ipKey, keyPart, subjectKey, userKey, basicClientId, formClientId, consumerKey
} from '../../../plugins/rate-limit/keys.ts'

const TID = '11111111-2222-3333-4444-555555555555'
const OID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'

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

t.test('a caller cannot choose the Redis Cluster slot of a counter: braces in a client id or key never reach the key', async t => {
  const crafted = '{emg:epoch:2}'
  for (const key of [keyPart(crafted), consumerKey(crafted), subjectKey({ tid: crafted, oid: crafted, clientId: crafted }) as string, ipKey(crafted)]) {
    t.notOk(/[{}]/.test(key), `${key} has no hash tag`)
  }
})
