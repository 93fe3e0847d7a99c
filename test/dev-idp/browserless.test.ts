import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CookieJar, Browserless, parseForms, decodeEntities, signInChoice } from '../support/browserless.ts'

t.test('cookie jar: path, host-only, expiry, Secure and __Host- rules', async t => {
  let now = 1_000_000
  const jar = new CookieJar(() => now)
  jar.store('http://127.0.0.1:8000/a/b/page', [
    'scoped=1; Path=/a/b',
    'root=2; Path=/; HttpOnly; SameSite=Lax',
    'short=3; Path=/; Max-Age=10',
    'secure=4; Path=/; Secure',
    '__Host-x=5; Path=/; Secure',
    'defaulted=6'
  ])
  t.equal(jar.header('http://127.0.0.1:8000/a/b/c'), 'scoped=1; defaulted=6; root=2; short=3')
  t.equal(jar.header('http://127.0.0.1:8000/a/bc'), 'root=2; short=3', 'path /a/b (explicit or default) does not match /a/bc')
  t.equal(jar.header('http://localhost:8000/'), undefined, 'host-only cookies stay on their host')
  now += 11_000
  t.equal(jar.header('http://127.0.0.1:8000/'), 'root=2', 'Max-Age expiry')
  jar.store('http://127.0.0.1:8000/', ['root=; Path=/; Max-Age=0'])
  t.equal(jar.header('http://127.0.0.1:8000/'), undefined, 'deleted by Max-Age=0')

  jar.store('https://app.example.com/', ['__Host-s=1; Path=/; Secure', 'plain=2; Path=/; Secure; Domain=example.com'])
  t.equal(jar.header('https://app.example.com/x'), '__Host-s=1; plain=2')
  t.equal(jar.header('https://other.example.com/'), 'plain=2', 'Domain cookie shared with sibling hosts')
  t.equal(jar.header('http://app.example.com/'), undefined, 'Secure cookies never go over http')
  t.equal(jar.get('__Host-s')?.secure, true)
})

t.test('parseForms reads inputs, submit buttons, entities and buttons tied with form=', async t => {
  const html = `<form method="post" action="/sign?x=1&amp;y=2">
    <input type="hidden" name="csrf" value="a&quot;b">
    <input type="text" name="q">
    <input type="checkbox" name="remember" checked>
    <input type="checkbox" name="unchecked">
    <button type="submit" name="decision" value="approve">Allow &amp; continue</button>
    <button type="button" name="noop" value="x">Not a submit</button>
    <button name="decision" value="deny"><span>Deny</span></button>
  </form>
  <form id="op.logoutForm" method="post" action="https://idp.example/logout"><input type="hidden" name="xsrf" value="z"></form>
  <button type="submit" form="op.logoutForm" name="logout" value="yes">Yes</button>`
  const forms = parseForms(html, 'http://127.0.0.1:1/page')
  t.equal(forms.length, 2)
  t.equal(forms[0].action, 'http://127.0.0.1:1/sign?x=1&y=2')
  t.equal(forms[0].method, 'post')
  t.same(forms[0].inputs.map(i => [i.name, i.value]), [['csrf', 'a"b'], ['q', ''], ['remember', 'on']])
  t.same(forms[0].buttons.map(b => [b.name, b.value, b.label]), [['decision', 'approve', 'Allow & continue'], ['decision', 'deny', 'Deny']])
  t.same(forms[1].buttons.map(b => [b.name, b.value]), [['logout', 'yes']])
  t.equal(decodeEntities('&#39;&#x41;&lt;&unknown;'), "'A<&unknown;")
})

t.test('Browserless follows redirects with cookies, submits forms and stops before the redirect URI', async t => {
  const seen: Array<{ method?: string, url?: string, cookie?: string, body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', c => { body += c })
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, cookie: req.headers.cookie, body })
      if (req.url === '/start') {
        res.writeHead(302, { location: '/login', 'set-cookie': 'sid=abc; Path=/; HttpOnly' })
        res.end()
      } else if (req.url === '/login' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html' })
        res.end('<form method="post"><input type="hidden" name="t" value="1"><button name="user" value="oid-1">Sign in as Ada Lovelace</button><button name="action" value="cancel">Cancel</button></form>')
      } else if (req.url === '/login' && req.method === 'POST') {
        res.writeHead(303, { location: 'http://127.0.0.1:9/cb?code=xyz&state=s' })
        res.end()
      } else {
        res.writeHead(404)
        res.end()
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const browser = new Browserless()
  const result = await browser.authorize(`${base}/start`, { user: 'ada lovelace', stopAt: u => u.startsWith('http://127.0.0.1:9/cb') })
  t.equal(result.url, 'http://127.0.0.1:9/cb?code=xyz&state=s')
  t.equal(result.params.get('code'), 'xyz')
  t.same(seen.map(s => `${s.method} ${s.url}`), ['GET /start', 'GET /login', 'POST /login'], 'the redirect URI itself was not fetched')
  t.equal(seen[1].cookie, 'sid=abc')
  t.equal(seen[2].cookie, 'sid=abc')
  t.equal(seen[2].body, 't=1&user=oid-1')

  await t.rejects(browser.submit(await browser.navigate(`${base}/login`), { name: 'user', value: 'nobody' }), /No button matching/)
  await t.rejects(browser.authorize(`${base}/nothing`), /no consent or sign-in form/)
  t.same(signInChoice('cancel'), { name: 'action', value: 'cancel' })
})
