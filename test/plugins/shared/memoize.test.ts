import t from 'tap'
import { memoizeBounded } from '../../../plugins/shared/memoize.ts'

t.test('memoizeBounded remembers answers (null too), forgets the oldest past its size, never a throw', async t => {
  const calls: string[] = []
  const f = memoizeBounded((input: string) => {
    calls.push(input)
    if (input === 'bad') throw new Error('bad input')
    return input === 'none' ? null : { input }
  }, 2)
  const first = f('a')
  t.equal(f('a'), first, 'same answer object')
  t.equal(f('none'), null)
  t.equal(f('none'), null)
  t.same(calls, ['a', 'none'], 'computed once each')
  f('b') // forgets 'a', the oldest
  f('a')
  t.same(calls, ['a', 'none', 'b', 'a'])
  t.throws(() => f('bad'), /bad input/)
  t.throws(() => f('bad'), /bad input/)
  t.equal(calls.filter(c => c === 'bad').length, 2, 'a throw is not remembered')
})
