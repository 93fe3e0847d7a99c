// The device grant end to end in a real browser (headless Chromium via playwright-core) with the
// development identity provider: the client polls /token as a headless CLI does, the person's
// browser enters the code, reads the consent page and signs in. Screenshots in .tap/screenshots.
import t from 'tap'
import { SCREENSHOTS, browserForFile } from '../support/chromium.ts'
import { buildListening } from '../helper.ts'
import { claimsOf, tokenRequest } from '../support/oauth-flow.ts'
import { DEVICE_GRANT, registerDeviceClient, requestDeviceCode } from '../support/device-flow.ts'
import { cacheFor, inCheckout, tempConfigHome } from '../support/cli.ts'

const ADA_OID = '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61'

const browser = browserForFile(t)

async function start (t: Parameters<typeof buildListening>[0]) {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  const client = await registerDeviceClient(baseUrl, { client_name: 'Build Agent CLI' })
  const device = await requestDeviceCode(baseUrl, { client_id: client.client_id, scope: 'tools.read tools.write' })
  const poll = () => tokenRequest(baseUrl, { grant_type: DEVICE_GRANT, device_code: device.body.device_code, client_id: client.client_id })
  const newPage = async () => {
    const context = await browser().newContext()
    t.teardown(() => context.close())
    const page = await context.newPage()
    const violations: string[] = []
    page.on('console', message => { if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text()) })
    return { page, violations }
  }
  return { baseUrl, client, device, poll, newPage }
}

t.test('the person enters the code in a browser, reads where the request came from, signs in; the polling client gets its tokens', async t => {
  const { device, poll, newPage } = await start(t)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } })
  const { page, violations } = await newPage()

  await page.goto(device.body.verification_uri)
  t.equal(await page.title(), 'Sign in a device')
  await page.fill('#user-code', device.body.user_code.toLowerCase().replace('-', ' '))
  await page.screenshot({ path: `${SCREENSHOTS}/device-code-entry.png`, fullPage: true })
  await Promise.all([page.waitForURL(u => u.pathname === '/device'), page.click('#continue')])

  t.equal(await page.title(), 'Sign in Build Agent CLI?')
  t.ok(await page.isVisible('#device-warning'))
  t.match(await page.textContent('#device-warning'), /Continue only if you started this sign-in yourself/)
  t.equal(await page.textContent('#request-ip'), '127.0.0.1')
  t.match(await page.textContent('#requested-at'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/)
  await page.screenshot({ path: `${SCREENSHOTS}/device-consent.png`, fullPage: true })

  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  await Promise.all([page.waitForSelector('#device-done'), page.click('button[name="user"] >> nth=0')])
  t.equal(await page.textContent('#device-done'), 'You are signed in')
  await page.screenshot({ path: `${SCREENSHOTS}/device-done.png`, fullPage: true })
  t.same(violations, [], 'the CSP blocked nothing on the way')

  const tokens = await poll()
  t.equal(tokens.status, 200)
  t.match(tokens.body, { scope: 'tools.read tools.write', refresh_token: /\w/ })
  t.equal(claimsOf(tokens.body.access_token).oid, ADA_OID)
})

t.test('verification_uri_complete fills the code in but waits for the person to confirm it', async t => {
  const { device, poll, newPage } = await start(t)
  const { page } = await newPage()
  await page.goto(device.body.verification_uri_complete)
  t.equal(await page.inputValue('#user-code'), device.body.user_code)
  t.equal(await page.title(), 'Sign in a device', 'no consent and no approval from the link alone')
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } })
})

t.test('a stranger who entered the code cannot have the sign-in finished in the owner\'s browser; Deny there ends it', async t => {
  const { device, poll, newPage } = await start(t)
  const stranger = await newPage()
  await stranger.page.goto(device.body.verification_uri_complete)
  await Promise.all([stranger.page.waitForURL(u => u.pathname === '/device'), stranger.page.click('#continue')])
  let entraUrl = ''
  stranger.page.on('request', r => { if (r.url().includes('/dev-idp/') && entraUrl === '') entraUrl = r.url() })
  await Promise.all([stranger.page.waitForURL(u => u.href.includes('/dev-idp/')), stranger.page.click('#approve')])

  // The sign-in link carried to another browser: the sign-in there ends on a refusal.
  const owner = await newPage()
  await owner.page.goto(entraUrl)
  await Promise.all([owner.page.waitForURL(u => u.pathname === '/auth/callback'), owner.page.click('button[name="user"] >> nth=0')])
  t.match(await owner.page.textContent('#error-description'), /started in another browser/)
  await owner.page.screenshot({ path: `${SCREENSHOTS}/device-other-browser-refused.png`, fullPage: true })
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } }, 'nothing approved')

  // A fresh entry of the code in the owner's browser, denied: the client hears access_denied.
  await owner.page.goto(device.body.verification_uri_complete)
  await Promise.all([owner.page.waitForURL(u => u.pathname === '/device'), owner.page.click('#continue')])
  await Promise.all([owner.page.waitForSelector('#device-done'), owner.page.click('#deny')])
  t.equal(await owner.page.textContent('#device-done'), 'Sign-in denied')
  await t.resolveMatch(poll(), { status: 400, body: { error: 'access_denied' } })
})

t.test('`npm run client -- login --device` on one side, Chromium on the other: the printed code signs the CLI in', async t => {
  const { baseUrl, newPage } = await start(t)
  const server = `${baseUrl}/mcp`
  const xdg = await tempConfigHome(t)
  const cli = inCheckout(`npm run -s client -- login --device --server ${server}`, xdg)
  t.teardown(cli.stop)
  let printed = ''
  const shown = new Promise<RegExpExecArray>((resolve, reject) => {
    cli.child.stderr?.on('data', d => {
      printed += String(d)
      const found = /\n\s+(http\S+\/device)\s*\n[\s\S]*?enter the code:\s+([A-Z]{4}-[A-Z]{4})/.exec(printed)
      if (found !== null) resolve(found)
    })
    cli.child.on('close', () => reject(new Error(`the CLI ended before printing a code: ${printed}`)))
  })
  const [, address, userCode] = await shown
  t.equal(address, `${baseUrl}/device`)
  t.match(printed, new RegExp(`or open ${baseUrl}/device\\?user_code=${userCode}`))

  const { page } = await newPage()
  await page.goto(address)
  await page.fill('#user-code', userCode)
  await Promise.all([page.waitForURL(u => u.pathname === '/device'), page.click('#continue')])
  t.match(await page.textContent('#client-name'), 'Entra MCP Gateway CLI')
  await Promise.all([page.waitForURL(u => u.href.includes('/dev-idp/')), page.click('#approve')])
  await Promise.all([page.waitForSelector('#device-done'), page.click('button[name="user"] >> nth=0')])

  const result = await cli.done
  t.equal(result.code, 0, result.stderr)
  t.match(result.stdout, /Signed in to .* as Ada Lovelace/)
  t.ok((await cacheFor(xdg).get(server))?.tokens?.refresh_token, 'the tokens are cached')
})
