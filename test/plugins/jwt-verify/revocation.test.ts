import t from 'tap'
import { createDenyList, revocationKeys } from '../../../plugins/jwt-verify/revocation.ts'
import { MemoryStore } from '../../../plugins/store/memory.ts'
import { revokedGrantKey, revokedTokenKey } from '../../../plugins/store/keys.ts'

t.test('revocationKeys names the token entry, and the grant entry when the token has a sid', async t => {
  t.same(revocationKeys('j1', undefined), [revokedTokenKey('j1')])
  t.same(revocationKeys('j1', 's1'), [revokedTokenKey('j1'), revokedGrantKey('s1')])
})

t.test('the deny list writes the entries revocationKeys reads', async t => {
  const store = new MemoryStore()
  const deny = createDenyList(store, { clockToleranceSeconds: 60, grantTtlSeconds: 3600 })
  await deny.denyAccessToken('j1', Math.floor(Date.now() / 1000) + 300)
  await deny.denyGrant('s1')
  t.same((await store.getManyWithEpoch(revocationKeys('j1', 's1'))).values, ['1', '1'])
  t.same((await store.getManyWithEpoch(revocationKeys('j2', 's2'))).values, [null, null])
})
