import t from 'tap'
import { createCodeVerifier, isValidCodeVerifier, isValidS256Challenge, s256Challenge, verifyS256 } from '../../../../plugins/oauth-proxy/authorize/pkce.ts'

t.test('S256 is base64url(sha256(verifier)) without padding (vector computed with openssl)', async t => {
  const verifier = 'dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk'
  t.equal(s256Challenge(verifier), 'ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc')
  t.ok(verifyS256(verifier, 'ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc'))
})

t.test('a wrong, short, long or non-string verifier fails', async t => {
  const verifier = createCodeVerifier()
  const challenge = s256Challenge(verifier)
  t.ok(verifyS256(verifier, challenge))
  t.notOk(verifyS256(createCodeVerifier(), challenge), 'another verifier')
  t.notOk(verifyS256(challenge, challenge), 'the challenge itself (plain)')
  t.notOk(verifyS256('a'.repeat(42), s256Challenge('a'.repeat(42))), '42 characters')
  t.notOk(verifyS256('a'.repeat(129), s256Challenge('a'.repeat(129))), '129 characters')
  t.notOk(verifyS256(undefined, challenge))
  t.notOk(verifyS256(['x'], challenge))
  t.notOk(verifyS256(verifier + '!', s256Challenge(verifier + '!')), 'character outside the unreserved set')
})

t.test('verifier and challenge shapes', async t => {
  t.equal(createCodeVerifier().length, 43)
  t.not(createCodeVerifier(), createCodeVerifier())
  t.ok(isValidCodeVerifier('~._-' + 'a'.repeat(39)))
  t.notOk(isValidS256Challenge('plain-text-challenge'))
  t.notOk(isValidS256Challenge('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c='))
  t.ok(isValidS256Challenge('ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc'))
})
