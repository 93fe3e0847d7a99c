import t from 'tap'
import { refreshDelay, tokenObjectId } from '../../../plugins/store/entra-auth.ts'
import { fakeEntraToken } from '../../support/redis-entra.ts'

const MINUTE = 60000
const at = Date.UTC(2026, 11, 7, 12)
const token = (lifetimeMs: number, refreshAfter?: number) => ({ token: 't', expiresOnTimestamp: at + lifetimeMs, refreshAfterTimestamp: refreshAfter })

t.test('the Redis user name is the oid claim of the token, read without checking the signature', async t => {
  t.equal(tokenObjectId(fakeEntraToken({ oid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9', sub: 'x' })), '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9')
})

t.test('a token that is not a JWT, or has no oid, is refused without quoting it', async t => {
  const cases: Array<[string, RegExp]> = [
    ['opaque-access-token-value', /not a JWT/],
    ['a.%%%.c', /not a JWT/],
    [`a.${Buffer.from('"just a string"').toString('base64url')}.c`, /not a JWT/],
    [fakeEntraToken({ sub: 'no-oid' }), /no oid claim/],
    [fakeEntraToken({ oid: 42 }), /no oid claim/]
  ]
  for (const [value, reason] of cases) {
    t.throws(() => tokenObjectId(value), reason)
    try { tokenObjectId(value) } catch (err) { t.notMatch((err as Error).message, value) }
  }
})

t.test('refresh at 80 % of the lifetime or 5 minutes before expiry, whichever is first', async t => {
  t.equal(refreshDelay(at, token(60 * MINUTE)), 48 * MINUTE, '1 h token: 80 % (48 min) comes before 55 min')
  t.equal(refreshDelay(at, token(20 * MINUTE)), 15 * MINUTE, '20 min token: 5 minutes before expiry comes before 80 % (16 min)')
  t.equal(refreshDelay(at, token(24 * 60 * MINUTE)), (19 * 60 + 12) * MINUTE, '24 h managed-identity token: at 19.2 h')
  t.equal(refreshDelay(at, token(6 * MINUTE)), 3 * MINUTE, 'a token shorter than that: half its lifetime')
  t.equal(refreshDelay(at, token(60 * MINUTE, at + 30 * MINUTE)), 30 * MINUTE, 'no later than the credential\'s refresh hint')
  t.equal(refreshDelay(at, token(500)), 1000, 'never sooner than a second')
})
