// The landing page as a person sees it: headless Chromium (playwright-core), its strict CSP, a screenshot.
import t from 'tap'
import { SCREENSHOTS, launchChromium } from '../support/chromium.ts'
import { buildListening } from '../helper.ts'

t.test('GET / in a browser: the MCP URL, working links, sample users; nothing loaded from elsewhere, nothing blocked', async t => {
  const { baseUrl } = await buildListening(t)
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const requested: string[] = []
  const violations: string[] = []
  page.on('request', request => requested.push(request.url()))
  page.on('console', message => { if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text()) })

  const res = await page.goto(`${baseUrl}/`)
  t.equal(res?.status(), 200)
  t.equal(await page.title(), 'entra-mcp-gateway')
  t.equal(await page.textContent('#mcp-url'), `${baseUrl}/mcp`)
  t.match(await page.textContent('#sample-users'), /Ada Lovelace/)
  t.match(await page.textContent('#inspector-command'), /^npx -y @modelcontextprotocol\/inspector@[\d.]+ --cli http:\/\/127\.0\.0\.1:\d+\/mcp --method tools\/list$/)
  t.ok(await page.evaluate(() => getComputedStyle(document.querySelector('main') as Element).maxWidth !== 'none'), 'the inline style applies')
  await page.screenshot({ path: `${SCREENSHOTS}/landing-page.png`, fullPage: true })

  await Promise.all([page.waitForURL(`${baseUrl}/health/ready`), page.click('a[href="/health/ready"]')])
  t.match(await page.textContent('body'), /"status":"ready"/, 'a link followed in the browser')
  t.same(violations, [], 'the CSP blocked nothing')
  t.same(requested.filter(url => !url.startsWith(`${baseUrl}/`)), [], 'every request went to this service')
})
