import t from 'tap'
import { randomBytes } from 'node:crypto'
import {
  consentCookieName, consentCookieOptions, cookieSecret, csrfMatches, describeScope, isConsentSessionId,
  mergeScopes, newConsentSessionId, newCsrfToken, scopesCovered
} from '../../../../plugins/oauth-proxy/consent/consent-session.ts'

t.test('cookie name and attributes follow the scheme', async t => {
  t.equal(consentCookieName('https://mcp.example.com'), '__Host-emg_consent')
  t.equal(consentCookieName('http://127.0.0.1:8000'), 'emg_consent')
  t.match(consentCookieOptions('https://mcp.example.com', 60), { path: '/', httpOnly: true, secure: true, sameSite: 'lax', signed: true, maxAge: 60 })
  t.match(consentCookieOptions('http://localhost:8000', 60), { secure: false })
})

t.test('the cookie secret is shared by instances with one key and random without', async t => {
  const key = randomBytes(32)
  t.equal(cookieSecret(key), cookieSecret(Buffer.from(key)))
  t.not(cookieSecret(null), cookieSecret(null))
})

t.test('scopes covered and merged', async t => {
  t.ok(scopesCovered(['tools.read', 'tools.write'], ['tools.read']))
  t.notOk(scopesCovered(['tools.read'], ['tools.read', 'graph.read']))
  t.ok(scopesCovered([], []))
  t.same(mergeScopes(['a', 'b'], ['b', 'c']), ['a', 'b', 'c'])
})

t.test('csrf tokens compare in constant time and refuse missing values', async t => {
  const token = newCsrfToken()
  t.ok(csrfMatches(token, token))
  t.notOk(csrfMatches(token, newCsrfToken()))
  t.notOk(csrfMatches(token, undefined))
  t.notOk(csrfMatches(token, ''))
  t.notOk(csrfMatches(token, token.slice(1)))
  t.notOk(csrfMatches(token, [token]))
})

t.test('session ids and scope descriptions', async t => {
  t.ok(isConsentSessionId(newConsentSessionId()))
  t.notOk(isConsentSessionId('short'))
  t.notOk(isConsentSessionId(undefined))
  t.match(describeScope('graph.read'), /Microsoft Graph/)
  t.match(describeScope('custom.scope'), /custom\.scope/)
})
