// The consent page in a real browser (headless Chromium via playwright-core): Approve and Deny
// clicked for real, through the sign-in page and every redirect back to the client.
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SCREENSHOTS, browserForFile } from '../support/chromium.ts'
import { buildListening } from '../helper.ts'
import { authorizeRequest, registerClient, tokenRequest } from '../support/oauth-flow.ts'

// The client's redirect URI: a loopback page that records what it received. Under /attack it
// serves an attacker's page instead (reached as http://localhost:…, another site than 127.0.0.1).
const received: URLSearchParams[] = []
let attackPage = ''
const clientServer = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' })
  if (req.url === '/attack') return res.end(attackPage)
  received.push(new URL(req.url ?? '/', 'http://x').searchParams)
  res.end('<!doctype html><title>client</title><p>done</p>')
})
await new Promise<void>(resolve => clientServer.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => clientServer.close(() => resolve())))
const redirectUri = `http://127.0.0.1:${(clientServer.address() as AddressInfo).port}/callback`
const attackerOrigin = `http://localhost:${(clientServer.address() as AddressInfo).port}`

const browser = browserForFile(t)

/** A listening server, a client registered with the loopback redirect URI, an authorize URL, and a fresh browser page. */
async function start (t: Test, metadata: Record<string, unknown> = {}) {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  const client = await registerClient(baseUrl, { redirect_uris: [redirectUri], ...metadata })
  const request = await authorizeRequest(baseUrl, client)
  const context = await browser().newContext()
  t.teardown(() => context.close())
  return { baseUrl, client, request, context, page: await context.newPage() }
}

t.test('Approve: consent page, sign-in, callback, code at the client; no CSP violation on the way', async t => {
  const { baseUrl, client, request, context, page } = await start(t, { client_name: 'Browser Test Client' })
  const violations: string[] = []
  page.on('console', message => { if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text()) })

  await page.goto(request.url)
  t.equal(await page.title(), 'Allow Browser Test Client?')
  t.equal(await page.textContent('#client-name'), 'Browser Test Client')
  t.equal(await page.textContent('#client-id'), client.client_id)
  t.ok(await page.isVisible('#loopback-warning'))
  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  await Promise.all([page.waitForURL(u => u.href.startsWith(redirectUri)), page.click('button[name="user"] >> nth=0')])
  const params = new URL(page.url()).searchParams
  t.equal(params.get('state'), request.state)
  t.equal(params.get('iss'), baseUrl)
  t.ok(params.get('code'))
  t.same(violations, [], 'the CSP blocked nothing (no form-action restriction on the redirect chain)')
  const cookies = await context.cookies(baseUrl)
  const consent = cookies.find(c => c.name === 'emg_consent')
  t.match(consent, { httpOnly: true, sameSite: 'Lax' })

  const tokens = await tokenRequest(baseUrl, { grant_type: 'authorization_code', code: params.get('code') as string, redirect_uri: redirectUri, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200)

  const binding = cookies.find(c => c.name === 'emg_browser')
  t.match(binding, { httpOnly: true, sameSite: 'Lax' }, 'the sign-in was bound to this browser')

  // A public loopback client cannot prove who it is: the page is shown again (RFC 8252 §8.6).
  const again = await authorizeRequest(baseUrl, client)
  await page.goto(again.url)
  t.equal(await page.title(), 'Allow Browser Test Client?', 'the consent page the second time too')
  t.match(await page.textContent('#remembered'), /asked every time/)
  await page.screenshot({ path: `${SCREENSHOTS}/consent-public-client.png`, fullPage: true })
})

t.test('Remembered: a confidential client with an https redirect URI goes straight to the sign-in the second time', async t => {
  const appRedirect = 'https://app.example/cb'
  const { baseUrl, client, request, page } = await start(t, { redirect_uris: [appRedirect], token_endpoint_auth_method: 'client_secret_basic', client_name: 'Web App' })
  // app.example does not resolve here: the navigation to it is what is watched, not its page.
  const toApp = () => page.waitForRequest(r => r.url().startsWith(appRedirect))
  await page.goto(request.url)
  t.match(await page.textContent('#remembered'), /remembered in this browser for 30 days/)
  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  const [first] = await Promise.all([toApp(), page.click('button[name="user"] >> nth=0')])
  t.ok(new URL(first.url()).searchParams.get('code'))

  const again = await authorizeRequest(baseUrl, client)
  const requested: string[] = []
  page.on('request', r => { requested.push(r.url()) })
  const [second] = await Promise.all([toApp(), page.goto(again.url).catch(() => null)])
  t.notOk(requested.some(u => u.startsWith(`${baseUrl}/authorize/consent`)), 'no consent form the second time')
  t.ok(new URL(second.url()).searchParams.get('code'), 'the identity provider session and the remembered approval lead straight back with a code')
  t.equal(new URL(second.url()).searchParams.get('state'), again.state)
})

t.test('login CSRF: another site auto-posting the attacker\'s consent form in the victim\'s browser approves nothing', async t => {
  const { baseUrl, request, context, page } = await start(t, { client_name: 'Victim App' })
  // The victim signs in once, so the identity provider would let them through without a page.
  await page.goto(request.url)
  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  await Promise.all([page.waitForURL(u => u.href.startsWith(redirectUri)), page.click('button[name="user"] >> nth=0')])

  // The attacker opens /authorize for his own client elsewhere and copies the form's fields.
  const evil = await registerClient(baseUrl, { redirect_uris: ['https://attacker.example/cb'], client_name: 'Evil' })
  const consent = await (await fetch((await authorizeRequest(baseUrl, evil)).url)).text()
  const field = (name: string) => new RegExp(`name="${name}" value="([\\w-]+)"`).exec(consent)?.[1] ?? ''
  attackPage = `<!doctype html><title>win a prize</title><form method="post" action="${baseUrl}/authorize/consent">` +
    `<input name="transaction" value="${field('transaction')}"><input name="csrf_token" value="${field('csrf_token')}">` +
    '<input name="decision" value="approve"></form><script>document.forms[0].submit()</script>'
  const toAttacker: string[] = []
  await context.route('https://attacker.example/**', route => { toAttacker.push(route.request().url()); return route.abort() })

  // Another site (localhost is not the same site as 127.0.0.1) submits it in the victim's browser.
  await Promise.all([page.waitForURL(u => u.href.startsWith(`${baseUrl}/authorize/consent`)), page.goto(`${attackerOrigin}/attack`)])
  await page.waitForLoadState()
  t.match(await page.textContent('#error-description'), /sent from another website/, 'the victim sees what happened')
  t.notOk(page.url().includes('/dev-idp/'), 'not sent on to sign in')
  t.same(toAttacker, [], 'nothing reached the attacker\'s redirect URI')
  await page.screenshot({ path: `${SCREENSHOTS}/login-csrf-refused.png` })
})

t.test('Deny: access_denied with state and iss at the client', async t => {
  const { baseUrl, request, page } = await start(t)
  await page.goto(request.url)
  await Promise.all([page.waitForURL(u => u.href.startsWith(redirectUri)), page.click('#deny')])
  const params = new URL(page.url()).searchParams
  t.equal(params.get('error'), 'access_denied')
  t.equal(params.get('state'), request.state)
  t.equal(params.get('iss'), baseUrl)
  t.equal(params.get('code'), null)
})

t.test('the consent page refuses to be framed', async t => {
  const { baseUrl, request, page } = await start(t)
  // An attacker page on another origin (the client server's origin) framing the consent page.
  await page.goto(`${redirectUri}?frame=1`)
  await page.setContent(`<iframe id="f" src="${request.url.replace(/&/g, '&amp;')}"></iframe>`, { waitUntil: 'load' })
  const frame = page.frames().find(f => f.url().startsWith(`${baseUrl}/authorize`))
  const framedApprove = frame === undefined ? 0 : await frame.locator('#approve').count().catch(() => 0)
  t.equal(framedApprove, 0, 'no consent button inside the frame')
})
