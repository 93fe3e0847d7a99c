import t from 'tap'
import { createThrottle, createCountingThrottle } from '../../../plugins/shared/throttle.ts'

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

t.test('createCountingThrottle speaks once per interval and tells how many calls it covers', async t => {
  let now = 0
  const throttle = createCountingThrottle(60000, () => now)
  t.equal(throttle(), 1, 'the first call speaks')
  const quiet = []
  for (let i = 0; i < 5; i++) quiet.push(throttle())
  t.same(quiet, [0, 0, 0, 0, 0], 'then quiet within the interval')
  now = 60000
  t.equal(throttle(), 6, 'the next line covers the five quiet calls and itself')
  now = 60001
  t.equal(throttle(), 0)
})
