// The consent page in a real browser (headless Chromium via playwright-core): Approve and Deny
// clicked for real, through the sign-in page and every redirect back to the client.
import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import { buildListening } from '../helper.ts'
import { authorizeRequest, registerClient, tokenRequest } from '../routes/oauth/oauth-flow.ts'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

// The client's redirect URI: a loopback page that records what it received.
const received: URLSearchParams[] = []
const clientServer = createServer((req, res) => {
  received.push(new URL(req.url ?? '/', 'http://x').searchParams)
  res.writeHead(200, { 'content-type': 'text/html' })
  res.end('<!doctype html><title>client</title><p>done</p>')
})
await new Promise<void>(resolve => clientServer.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => clientServer.close(() => resolve())))
const redirectUri = `http://127.0.0.1:${(clientServer.address() as AddressInfo).port}/callback`

let browser: Browser
t.before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
})
t.teardown(async () => { await browser?.close() })

/** A listening server, a client registered with the loopback redirect URI, an authorize URL, and a fresh browser page. */
async function start (t: Test, metadata: Record<string, unknown> = {}) {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  const client = await registerClient(baseUrl, { redirect_uris: [redirectUri], ...metadata })
  const request = await authorizeRequest(baseUrl, client)
  const context = await browser.newContext()
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

  // Remembered: a second authorization in the same browser goes straight to the sign-in.
  const again = await authorizeRequest(baseUrl, client)
  const requested: string[] = []
  page.on('request', r => { requested.push(r.url()) })
  await page.goto(again.url)
  t.notOk(requested.some(u => u.startsWith(`${baseUrl}/authorize/consent`)), 'no consent form the second time')
  t.notMatch(await page.title(), /^Allow/, 'no consent page the second time')
  t.ok(requested.some(u => u.includes('/dev-idp/')), 'straight on to the identity provider')
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
