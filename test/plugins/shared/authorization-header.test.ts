import t from 'tap'
import { namesBearerScheme, parseAuthorization, parseBasicAuth } from '../../../plugins/shared/authorization-header.ts'

const basic = (raw: string) => `Basic ${Buffer.from(raw).toString('base64')}`

t.test('parseAuthorization reads only "Bearer <token68>", scheme in any case', async t => {
  t.same(parseAuthorization(undefined), { kind: 'none' })
  t.same(parseAuthorization(''), { kind: 'none' })
  t.same(parseAuthorization('Bearer abc.def.ghi'), { kind: 'bearer', token: 'abc.def.ghi' })
  t.same(parseAuthorization('bearer abc.def.ghi'), { kind: 'bearer', token: 'abc.def.ghi' }, 'lowercase scheme (RFC 7235)')
  t.same(parseAuthorization('BEARER   abc'), { kind: 'bearer', token: 'abc' })
  t.same(parseAuthorization('Basic dXNlcjpwYXNz'), { kind: 'other_scheme' })
  t.equal(parseAuthorization('Bearer').kind, 'malformed', 'no token')
  t.equal(parseAuthorization('Bearer ').kind, 'malformed')
  t.equal(parseAuthorization('Bearer a b').kind, 'malformed', 'two tokens')
  t.equal(parseAuthorization('Bearer Bearer abc').kind, 'malformed', 'Bearer twice')
  t.equal(parseAuthorization('Bearer abc, Bearer def').kind, 'malformed')
  t.equal(parseAuthorization('Bearer a"b').kind, 'malformed')
  t.equal(parseAuthorization(' Bearer abc').kind, 'malformed')
  t.equal(parseAuthorization(['Bearer a', 'Bearer b']).kind, 'malformed', 'two header values')
  t.equal(parseAuthorization('Bearer abc', 2).kind, 'malformed', 'two Authorization headers')
})

t.test('parseBasicAuth reads form-urlencoded id and secret; absent is undefined, broken is null', async t => {
  t.equal(parseBasicAuth(undefined), undefined)
  t.equal(parseBasicAuth('Bearer abc'), undefined, 'another scheme is not Basic')
  t.same(parseBasicAuth(basic('my%20app:s%3Acret')), { id: 'my app', secret: 's:cret' })
  t.same(parseBasicAuth(basic('a+b:c')), { id: 'a b', secret: 'c' }, '+ is a space (form encoding)')
  t.same(parseBasicAuth(basic('id:')), { id: 'id', secret: '' })
  t.equal(parseBasicAuth(basic(':secret')), null, 'no client id')
  t.equal(parseBasicAuth(basic('no-colon')), null)
  t.equal(parseBasicAuth(basic('%zz:x')), null, 'broken percent-encoding')
  t.equal(parseBasicAuth('Basic'), null, 'Basic with no credentials')
  t.equal(parseBasicAuth('Basic a b'), null)
})

t.test('namesBearerScheme tells a bearer request from an anonymous one, well formed or not', async t => {
  t.equal(namesBearerScheme('Bearer abc'), true)
  t.equal(namesBearerScheme('bearer a b'), true, 'a malformed bearer header still names the scheme')
  t.equal(namesBearerScheme(undefined), false)
  t.equal(namesBearerScheme(''), false)
  t.equal(namesBearerScheme('Bearer'), false, 'no space, no credentials')
  t.equal(namesBearerScheme('Basic dXNlcjpwYXNz'), false)
  t.equal(namesBearerScheme('Bearerx abc'), false)
})
