import t from 'tap'
import { createDenyList, revocationKeys } from '../../../plugins/jwt-verify/revocation.ts'
import { MemoryStore } from '../../../plugins/store/memory.ts'
import { hashTag, oneSlot, revokedGrantKey, revokedTokenKey } from '../../../plugins/store/keys.ts'

t.test('revocationKeys names the token entry, and the grant entry when the token has a sid, both in the grant\'s hash slot', async t => {
  t.same(revocationKeys('j1', undefined), [revokedTokenKey('j1')])
  t.same(revocationKeys('j1', 's1'), [revokedTokenKey('j1', 's1'), revokedGrantKey('s1')])
  t.same(revocationKeys('j1', 's1'), ['revoked:jti:{s1}:j1', 'revoked:grant:{s1}'])
  t.ok(oneSlot(revocationKeys('j1', 's1')), 'one hash tag')
  t.notOk(oneSlot([...revocationKeys('j1', 's1'), ...revocationKeys('j2', 's2')]), 'another grant, another tag')
})

t.test('hashTag reads a key\'s tag as Redis Cluster does', async t => {
  t.equal(hashTag('revoked:grant:{s1}'), 's1')
  t.equal(hashTag('a{b}c{d}'), 'b', 'the first tag')
  t.equal(hashTag('a{}b{c}'), 'a{}b{c}', 'an empty first tag: the whole key')
  t.equal(hashTag('a{b'), 'a{b', 'no closing brace: the whole key')
  t.equal(hashTag('plain'), 'plain')
})

t.test('the deny list writes the entries revocationKeys reads', async t => {
  const store = new MemoryStore()
  const deny = createDenyList(store, { clockToleranceSeconds: 60, grantTtlSeconds: 3600 })
  await deny.denyAccessToken({ jti: 'j1', exp: Math.floor(Date.now() / 1000) + 300, sid: 's1' })
  await deny.denyGrant('s1')
  t.same((await store.getManyWithEpoch(revocationKeys('j1', 's1'))).values, ['1', '1'])
  t.same((await store.getManyWithEpoch(revocationKeys('j2', 's2'))).values, [null, null])
})
