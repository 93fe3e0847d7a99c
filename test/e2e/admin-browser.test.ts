// The admin area in a real browser (headless Chromium via playwright-core): Grace, who holds the
// admin role, signs in through the development identity provider and watches the dashboard while
// Ada signs in to an MCP client in another browser context; Ada's sign-in appears live, Grace revokes
// her grant, and Ada's next MCP call is refused; Ada herself gets 403 at /admin. Screenshots of every page go to
// test/artifacts/admin/ (gitignored), to be looked at.
import t, { type Test } from 'tap'
import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { buildListening } from '../helper.ts'
import { authorizeRequest, mcpStatus, registerClient, tokenRequest } from '../support/oauth-flow.ts'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SCREENSHOTS = new URL('../artifacts/admin/', import.meta.url).pathname
mkdirSync(SCREENSHOTS, { recursive: true })

let browser: Browser
t.before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
})
t.teardown(async () => { await browser?.close() })

/** A fresh browser context and page, with every CSP complaint collected. */
async function newPage (t: Test) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  t.teardown(() => context.close())
  const page = await context.newPage()
  const violations: string[] = []
  page.on('console', m => { if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text()) })
  return { page, violations }
}

/** /admin, sent to the identity provider's sign-in page, the user's button, and back. */
async function signInAt (page: Page, baseUrl: string, username: string) {
  await page.goto(`${baseUrl}/admin`)
  await page.waitForURL(u => u.href.includes('/dev-idp/'))
  await Promise.all([page.waitForURL(u => u.href.startsWith(`${baseUrl}/admin`) || u.href.startsWith(`${baseUrl}/auth/callback`)), page.click(`button[data-user="${username}"]`)])
  await page.waitForLoadState()
}

// The MCP client's loopback redirect: nothing listens there, the browser's request to it is what is watched.
const CLIENT_REDIRECT = 'http://127.0.0.1:9/callback'
const ADA_OID = '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61'

/** Ada, in a browser context of her own, approves the MCP client and signs in; the client redeems the code. */
async function adaSignsInToTheClient (t: Test, baseUrl: string, client: Awaited<ReturnType<typeof registerClient>>) {
  const { page } = await newPage(t)
  const request = await authorizeRequest(baseUrl, client)
  await page.goto(request.url)
  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  const [redirect] = await Promise.all([page.waitForRequest(r => r.url().startsWith(CLIENT_REDIRECT)), page.click('button[data-user="ada@dev-idp.example.com"]')])
  const code = new URL(redirect.url()).searchParams.get('code') as string
  const tokens = await tokenRequest(baseUrl, { grant_type: 'authorization_code', code, redirect_uri: CLIENT_REDIRECT, code_verifier: request.verifier, client_id: client.client_id })
  return tokens.body.access_token as string
}

t.test('Grace watches Ada sign in (another browser) live, revokes her grant; Ada\'s next MCP call is refused', async t => {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  const client = await registerClient(baseUrl, { client_name: 'Ada\'s Notebook', redirect_uris: [CLIENT_REDIRECT] })

  const { page, violations } = await newPage(t)
  await signInAt(page, baseUrl, 'grace@dev-idp.example.com')
  t.equal(page.url(), `${baseUrl}/admin`)
  t.equal(await page.textContent('#admin-name'), 'Grace Hopper')
  const headerColour = await page.$eval('header.top', el => getComputedStyle(el).backgroundColor)
  t.equal(headerColour, 'rgb(15, 59, 102)', 'the style sheet applies')
  await page.waitForSelector('#feed-status:text("live")')

  // Ada signs in elsewhere while Grace's dashboard is open: the event arrives over the live stream.
  const adaToken = await adaSignsInToTheClient(t, baseUrl, client)
  t.equal(await mcpStatus(baseUrl, adaToken), 200, 'Ada\'s token works')
  const live = page.locator('#feed-rows tr[data-event="login.succeeded"]', { hasText: ADA_OID.slice(0, 8) })
  await live.first().waitFor({ timeout: 10000 })
  t.equal(await live.count(), 1, 'Ada\'s sign-in appeared on Grace\'s dashboard without a reload')
  await page.screenshot({ path: `${SCREENSHOTS}dashboard-live.png`, fullPage: true })

  await Promise.all([page.waitForURL(`${baseUrl}/admin/grants`), page.click('#nav-grants')])
  const row = page.locator('#grants tbody tr', { hasText: 'Ada Lovelace' })
  t.equal(await row.count(), 1, 'Ada\'s grant is listed')
  t.match(await row.textContent(), /Ada's Notebook/)
  await page.screenshot({ path: `${SCREENSHOTS}grants.png`, fullPage: true })

  await Promise.all([page.waitForURL(u => u.href.includes('done=grant_revoked')), row.locator('button', { hasText: /^Revoke$/ }).click()])
  t.match(await page.textContent('#flash'), /revoked/)
  t.equal(await page.locator('#grants tbody tr', { hasText: 'Ada Lovelace' }).count(), 0, 'gone from the list')
  await page.screenshot({ path: `${SCREENSHOTS}grants-after-revoke.png`, fullPage: true })
  t.equal(await mcpStatus(baseUrl, adaToken), 401, 'Ada\'s next MCP call is refused')

  await Promise.all([page.waitForURL(`${baseUrl}/admin/clients`), page.click('#nav-clients')])
  t.match(await page.textContent('#clients'), /Ada's Notebook/)
  await page.screenshot({ path: `${SCREENSHOTS}clients.png`, fullPage: true })

  await Promise.all([page.waitForURL(`${baseUrl}/admin/signed-out`), page.click('#sign-out')])
  t.equal(await page.textContent('#notice-title'), 'Signed out')
  await page.screenshot({ path: `${SCREENSHOTS}signed-out.png`, fullPage: true })
  t.same(violations, [], 'the CSP blocked nothing')
})

t.test('Ada (no admin role) gets the 403 page', async t => {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  const { page, violations } = await newPage(t)
  const answers: number[] = []
  page.on('response', r => { if (r.url().startsWith(`${baseUrl}/auth/callback`)) answers.push(r.status()) })
  await signInAt(page, baseUrl, 'ada@dev-idp.example.com')
  t.same(answers, [403])
  t.equal(await page.textContent('#notice-title'), 'Access refused')
  t.match(await page.textContent('#notice-text'), /does not hold the Gateway\.Admin role/)
  t.equal(await page.locator('#admin-name').count(), 0, 'no navigation, no name')
  await page.screenshot({ path: `${SCREENSHOTS}refused-403.png`, fullPage: true })
  t.same(violations, [])
})
