// User codes of the device grant: unambiguous letters, and whatever way a person types them.
import t from 'tap'
import { USER_CODE_ALPHABET, deviceFormToken, deviceFormTokenMatches, newUserCode, normaliseUserCode } from '../../../../plugins/oauth-proxy/device/user-code.ts'

t.test('a user code is two groups of four letters from an alphabet without vowels or look-alike characters', async t => {
  const seen = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const code = newUserCode()
    t.match(code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    seen.add(code)
  }
  t.equal(seen.size, 2000, 'no repeats in 2000 codes')
  for (const c of 'AEIOU01') t.notOk(USER_CODE_ALPHABET.includes(c), `${c} is not used`)
})

t.test('typed codes are normalised: case, dashes and spaces do not matter; anything else names no code', async t => {
  for (const typed of ['WDJB-MJHT', 'wdjb-mjht', 'wdjbmjht', ' WDJB MJHT ', 'wd jb–mj ht', 'WDJB\tMJHT']) {
    t.equal(normaliseUserCode(typed), 'WDJBMJHT', JSON.stringify(typed))
  }
  for (const typed of ['WDJB-MJH', 'WDJB-MJHTX', 'WDJB-MJH0', 'AAAA-BBBB', '', 'W'.repeat(100), 42, undefined]) {
    t.equal(normaliseUserCode(typed), null, JSON.stringify(typed))
  }
})

t.test('the /device form token fits only the browser secret it was made for', async t => {
  const secret = 'a'.repeat(43)
  const token = deviceFormToken(secret)
  t.ok(deviceFormTokenMatches(secret, token))
  t.notOk(deviceFormTokenMatches('b'.repeat(43), token), 'another browser')
  t.notOk(deviceFormTokenMatches(undefined, token), 'no cookie')
  t.notOk(deviceFormTokenMatches(secret, ''), 'no token')
})
