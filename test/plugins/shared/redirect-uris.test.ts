import t from 'tap'
import { redirectUriMatches, redirectUriProblem, isLoopbackHost, privateUseSchemeProblem } from '../../../plugins/shared/redirect-uris.ts'

t.test('redirectUriMatches is an exact match for https redirect URIs', async t => {
  const registered = ['https://app.example.com/callback', 'https://claude.ai/api/mcp/auth_callback']
  t.ok(redirectUriMatches(registered, 'https://app.example.com/callback'))
  t.ok(redirectUriMatches(registered, 'https://claude.ai/api/mcp/auth_callback'))
  for (const presented of [
    'https://app.example.com/callback/', 'https://app.example.com/callback/evil', 'https://app.example.com/callbac',
    'https://app.example.com/callback?x=1', 'https://app.example.com:8443/callback', 'https://APP.example.com/callback',
    'http://app.example.com/callback', 'https://app.example.com/callback#frag', 'https://app.example.com.evil.com/callback',
    'https://evil.com/?https://app.example.com/callback', ''
  ]) {
    t.notOk(redirectUriMatches(registered, presented), `${presented || '(empty)'} does not match`)
  }
})

t.test('redirectUriMatches lets any port match on http loopback redirect URIs (RFC 8252 §7.3)', async t => {
  const registered = ['http://127.0.0.1/callback', 'http://[::1]:3000/cb', 'http://localhost:6274/oauth/callback']
  t.ok(redirectUriMatches(registered, 'http://127.0.0.1:53123/callback'))
  t.ok(redirectUriMatches(registered, 'http://127.0.0.1/callback'))
  t.ok(redirectUriMatches(registered, 'http://[::1]:61000/cb'))
  t.ok(redirectUriMatches(registered, 'http://[::1]/cb'))
  t.ok(redirectUriMatches(registered, 'http://localhost:9999/oauth/callback'))
  for (const presented of [
    'http://127.0.0.1:53123/callback/extra', 'http://127.0.0.1:53123/other', 'http://127.0.0.1:53123/callback?x=1',
    'http://localhost:9999/callback', 'http://127.0.0.2:53123/callback', 'https://127.0.0.1:53123/callback',
    'http://[::1]:61000/callback', 'http://127.0.0.1:80@evil.com/callback', 'http://127.0.0.1.evil.com:53123/callback',
    'http://127.0.0.1:99999/callback', 'http://127.0.0.1:53123/callback#x'
  ]) {
    t.notOk(redirectUriMatches(registered, presented), `${presented} does not match`)
  }
})

t.test('redirectUriMatches gives no port freedom to https loopback or other hosts', async t => {
  t.notOk(redirectUriMatches(['https://127.0.0.1:8443/cb'], 'https://127.0.0.1:9443/cb'))
  t.notOk(redirectUriMatches(['http://192.168.1.10:8080/cb'], 'http://192.168.1.10:9090/cb'))
  t.notOk(redirectUriMatches([], 'http://127.0.0.1/cb'))
})

t.test('redirectUriProblem accepts https and loopback http', async t => {
  for (const uri of [
    'https://app.example.com/callback', 'https://claude.ai/api/mcp/auth_callback', 'http://127.0.0.1:33418/',
    'http://127.0.0.1/callback', 'http://[::1]:8080/cb', 'http://localhost:6274/oauth/callback',
    'https://vscode.dev/redirect', 'https://app.example.com/cb?tenant=a'
  ]) {
    t.equal(redirectUriProblem(uri), null, `${uri} accepted`)
  }
})

t.test('redirectUriProblem refuses dangerous and malformed redirect URIs', async t => {
  const cases: Array<[unknown, RegExp]> = [
    ['javascript:alert(1)', /scheme/],
    ['data:text/html,<script>alert(1)</script>', /scheme/],
    ['http://app.example.com/callback', /loopback/],
    ['http://10.0.0.5/callback', /loopback/],
    ['http://localhost.evil.com/cb', /loopback/],
    ['/callback', /absolute/],
    ['callback', /absolute/],
    ['https://app.example.com/cb#fragment', /fragment/],
    ['https://user:pass@app.example.com/cb', /user information/],
    ['https://app.example.com/c b', /spaces/],
    ['https://app.example.com/\ncb', /spaces/],
    ['file:///etc/passwd', /scheme/],
    ['com.example.app:/callback', /scheme/],
    [`https://app.example.com/${'a'.repeat(2000)}`, /at most/],
    ['', /non-empty/],
    [42, /non-empty/]
  ]
  for (const [uri, reason] of cases) t.match(redirectUriProblem(uri), reason, `${String(uri).slice(0, 60)} refused`)
})

t.test('private-use schemes of native apps (RFC 8252 §7.1) are accepted only when listed', async t => {
  const cursor = 'cursor://anysphere.cursor-mcp/oauth/callback'
  t.match(redirectUriProblem(cursor), /"cursor:" scheme is not allowed/, 'not listed: refused')
  t.equal(redirectUriProblem(cursor, [], ['cursor']), null, 'listed: accepted')
  t.equal(redirectUriProblem('CURSOR://anysphere.cursor-mcp/oauth/callback', [], ['cursor']), null, 'schemes are case-insensitive')
  t.equal(redirectUriProblem('com.example.app:/oauth2redirect', [], ['com.example.app']), null, 'reverse-domain scheme without authority')
  t.match(redirectUriProblem('com.example.app:/oauth2redirect', [], ['cursor']), /an app scheme this server accepts: cursor/, 'the refusal names what is accepted')
  t.match(redirectUriProblem('cursor://anysphere.cursor-mcp/oauth/callback#x', [], ['cursor']), /fragment/, 'the other rules still apply')
  t.match(redirectUriProblem('cursor://user@anysphere.cursor-mcp/cb', [], ['cursor']), /user information/)
  t.match(redirectUriProblem('cursorx://anysphere.cursor-mcp/cb', [], ['cursor']), /scheme is not allowed/, 'no prefix match on the scheme')
  t.match(redirectUriProblem(cursor, ['https://claude.ai/api/mcp/auth_callback'], ['cursor']), /allowed redirect URIs/, 'ALLOWED_REDIRECT_URIS still narrows')
  t.equal(redirectUriProblem(cursor, [cursor], ['cursor']), null)
  t.ok(redirectUriMatches([cursor], cursor), 'matched exactly at /authorize')
  t.notOk(redirectUriMatches([cursor], 'cursor://anysphere.cursor-mcp/oauth/callback2'))
})

t.test('privateUseSchemeProblem refuses web, script and file schemes', async t => {
  for (const scheme of ['cursor', 'com.example.app', 'vscode', 'my-app+x']) t.equal(privateUseSchemeProblem(scheme), null, `${scheme} can be listed`)
  for (const scheme of ['javascript', 'data', 'vbscript', 'file', 'blob', 'about', 'http', 'https', 'ws', 'intent', 'chrome-extension']) t.match(privateUseSchemeProblem(scheme), /cannot be a private-use redirect scheme/, `${scheme} cannot`)
  for (const scheme of ['1app', 'a b', '', 'app:']) t.match(privateUseSchemeProblem(scheme), /not a URI scheme/, `"${scheme}" is malformed`)
})

t.test('ALLOWED_REDIRECT_URIS narrows what may be registered, with the same matching', async t => {
  const allowed = ['https://claude.ai/api/mcp/auth_callback', 'http://127.0.0.1/callback']
  t.equal(redirectUriProblem('https://claude.ai/api/mcp/auth_callback', allowed), null)
  t.equal(redirectUriProblem('http://127.0.0.1:4711/callback', allowed), null, 'loopback port is free')
  t.match(redirectUriProblem('https://app.example.com/callback', allowed), /allowed redirect URIs/)
  t.match(redirectUriProblem('https://claude.ai/api/mcp/auth_callback/x', allowed), /allowed redirect URIs/, 'no prefix match')
})

t.test('isLoopbackHost knows the three loopback spellings only', async t => {
  for (const host of ['127.0.0.1', '[::1]', 'localhost', 'LOCALHOST']) t.ok(isLoopbackHost(host), host)
  for (const host of ['127.0.0.2', '::1', 'localhost.example', '0.0.0.0', 'example.com']) t.notOk(isLoopbackHost(host), host)
})
