// The admin area's per-IP budget (RATE_LIMIT_ADMIN): counted before any session or token is checked,
// so guessing tokens or session ids costs the guesser's address its budget; the static files are not
// counted, the sign-in counts as authorize.
import t from 'tap'
import { adminApp } from '../../support/admin.ts'
import { assetUrl } from '../../../routes/admin/assets.ts'

const LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_ADMIN: '3/60', RATE_LIMIT_AUTHORIZE: '100/60' }

t.test('wrong bearer tokens at /admin/api spend the address\'s budget: past it, 429 for everything of the area from there', async t => {
  const { app, api, session, token, audits } = await adminApp(t, LIMITS)
  const from = (remoteAddress: string, url: string, headers: Record<string, string> = {}) => app.inject({ url, remoteAddress, headers })
  for (let i = 0; i < 3; i++) {
    t.equal((await from('198.51.100.7', '/admin/api/summary', { authorization: `Bearer guess-${i}` })).statusCode, 401)
  }
  const limited = await from('198.51.100.7', '/admin/api/summary', { authorization: 'Bearer guess-3' })
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(audits('token.rejected').length, 3, 'the refused guess was not verified (nor audited) at all')
  t.match(audits('rate_limit.exceeded'), [{ family: 'admin', key_kind: 'ip' }])

  const { cookie } = await session()
  t.equal((await from('198.51.100.7', '/admin', { cookie })).statusCode, 429, 'the pages share the budget, session or not')
  const good = (await token(api.config.admin.resource)).access_token
  t.equal((await from('198.51.100.8', '/admin/api/summary', { authorization: `Bearer ${good}` })).statusCode, 200, 'another address is not affected')
})

t.test('the static files are not counted; the sign-in counts as authorize', async t => {
  const { app } = await adminApp(t, LIMITS)
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: assetUrl('admin.css'), remoteAddress: '198.51.100.9' })).statusCode, 200)
  const login = await app.inject({ url: '/admin/login', remoteAddress: '198.51.100.9' })
  t.not(login.statusCode, 429)
  t.equal(login.headers['ratelimit-limit'], '100', 'the authorize budget')
  t.equal((await app.inject({ url: '/admin/api/summary', remoteAddress: '198.51.100.9' })).headers['ratelimit-limit'], '3', 'the admin budget, untouched by the rest')
})
