import t from 'tap'
import { MemoryCounter } from '../../../plugins/rate-limit/counter.ts'

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
