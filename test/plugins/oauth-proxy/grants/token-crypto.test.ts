import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createTokenCipher, deriveKey, TokenDecryptionError } from '../../../../plugins/oauth-proxy/grants/token-crypto.ts'

t.test('AES-256-GCM seals and opens, with a fresh IV each time', async t => {
  const cipher = createTokenCipher(randomBytes(32))
  const a = cipher.seal('entra-refresh-token', 'grant-1')
  const b = cipher.seal('entra-refresh-token', 'grant-1')
  t.not(a, b)
  t.notMatch(a, /entra-refresh-token/)
  t.match(a, /^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/)
  t.equal(cipher.open(a, 'grant-1'), 'entra-refresh-token')
})

t.test('a wrong key, wrong associated data or a flipped bit is refused', async t => {
  const key = randomBytes(32)
  const sealed = createTokenCipher(key).seal('secret', 'grant-1')
  t.throws(() => createTokenCipher(randomBytes(32)).open(sealed, 'grant-1'), TokenDecryptionError)
  t.throws(() => createTokenCipher(key).open(sealed, 'grant-2'), TokenDecryptionError)
  const parts = sealed.split('.')
  const ct = Buffer.from(parts[2], 'base64url')
  ct[0] ^= 1
  t.throws(() => createTokenCipher(key).open([parts[0], parts[1], ct.toString('base64url'), parts[3]].join('.'), 'grant-1'), TokenDecryptionError)
  t.throws(() => createTokenCipher(key).open('garbage', 'grant-1'), TokenDecryptionError)
  t.throws(() => createTokenCipher(key).open('v1.AAAA.AAAA.AAAA', 'grant-1'), TokenDecryptionError)
})

t.test('two instances with the same key read each other; key length is enforced', async t => {
  const key = randomBytes(32)
  t.equal(createTokenCipher(Buffer.from(key)).open(createTokenCipher(key).seal('x', 's'), 's'), 'x')
  t.throws(() => createTokenCipher(randomBytes(16)))
})

t.test('derived keys are stable per purpose and differ between purposes', async t => {
  const master = randomBytes(32)
  t.same(deriveKey(master, 'a'), deriveKey(Buffer.from(master), 'a'))
  t.notSame(deriveKey(master, 'a'), deriveKey(master, 'b'))
  t.notSame(deriveKey(master, 'a'), master)
})
