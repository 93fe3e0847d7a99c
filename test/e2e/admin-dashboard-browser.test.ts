// The dashboard in real Chromium (playwright-core, /usr/bin/chromium) with a test guard: events
// triggered over HTTP (refused tokens at /mcp, rate-limit hits, a sign-in, a failed callback) appear
// live in the feed and the charts draw them; hostile values stay text; the CSP blocks nothing.
import t from 'tap'
import type { Page } from 'playwright-core'
import { SCREENSHOTS, browserForFile } from '../support/chromium.ts'
import { listenDashboard } from '../support/admin-dashboard.ts'
import { TOOLS_LIST, fullFlow, registerClient } from '../support/oauth-flow.ts'

const browser = browserForFile(t)

async function openDashboard (t: Parameters<typeof listenDashboard>[0], baseUrl: string, path = '/admin') {
  const context = await browser().newContext({ viewport: { width: 1400, height: 900 } })
  t.teardown(() => context.close())
  await context.addCookies([{ name: 'test_admin', value: 'yes', url: baseUrl }])
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', m => { if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()) })
  page.on('pageerror', err => { problems.push(err.message) })
  await page.goto(`${baseUrl}${path}`)
  await page.waitForSelector('#feed-status.status-ok')
  return { page, problems }
}

const chartTotal = async (page: Page, id: string, dataset: number) =>
  await page.evaluate(([id, i]) => {
    const chart = (globalThis as any).Chart.getChart(id)
    return (chart?.data.datasets[i]?.data ?? []).reduce((a: number, b: number) => a + b, 0)
  }, [id, dataset] as const)

const mcp = async (baseUrl: string, token: string) => {
  const res = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...TOOLS_LIST.headers, authorization: `Bearer ${token}` }, body: TOOLS_LIST.body })
  await res.arrayBuffer()
  return res.status
}

t.test('events appear live and the charts draw them; no CSP violation, no script error', async t => {
  const { baseUrl } = await listenDashboard(t, { RATE_LIMIT_MCP_PER_IP: '4/60' })
  const { page, problems } = await openDashboard(t, baseUrl)
  t.equal(await page.title(), 'Audit dashboard · Gateway admin')

  // Four refused tokens, then the address is over its /mcp limit.
  const statuses = []
  for (let i = 0; i < 6; i++) statuses.push(await mcp(baseUrl, i % 2 === 0 ? 'not-a-jwt' : 'a.b.c'))
  t.same(statuses, [401, 401, 401, 401, 429, 429])
  const client = await registerClient(baseUrl, { client_name: 'Dashboard Test Client' })
  const flow = await fullFlow(baseUrl, client)
  t.equal(flow.tokens.status, 200, 'a sign-in through the development identity provider')
  t.equal((await fetch(`${baseUrl}/auth/callback?state=forged&code=x`, { redirect: 'manual' })).status >= 400, true, 'a forged callback fails')

  await page.waitForSelector('#feed-rows tr[data-event="login.succeeded"]')
  await page.waitForSelector('#feed-rows tr[data-event="login.failed"]')
  await page.waitForSelector('#feed-rows tr[data-event="rate_limit.exceeded"]')
  t.ok(await page.locator('#feed-rows tr[data-event="token.rejected"]').count() >= 4, 'the refused tokens are listed')
  const row = page.locator('#feed-rows tr[data-event="login.succeeded"]').first()
  t.match(await row.textContent(), client.client_id, 'the sign-in row names the client')

  await page.waitForFunction(() => (globalThis as any).Chart.getChart('chart-sign-ins')?.data.datasets[1].data.some((n: number) => n > 0))
  t.equal(await chartTotal(page, 'chart-sign-ins', 0), 1, 'one sign-in succeeded')
  t.equal(await chartTotal(page, 'chart-sign-ins', 1), 1, 'one failed')
  await page.waitForFunction(() => (globalThis as any).Chart.getChart('chart-denials')?.data.datasets[1].data.some((n: number) => n > 0))
  t.equal(await chartTotal(page, 'chart-denials', 1), 1, 'one rate-limit hit (the rate limiter audits the first refusal of a window)')
  const reasons = await page.evaluate(() => (globalThis as any).Chart.getChart('chart-rejections').data.datasets.map((d: any) => d.label))
  t.ok(reasons.includes('malformed'), 'rejections by reason')
  t.match(await page.textContent('#top-clients tbody'), client.client_id, 'the client is in the top clients')
  const drawn = await page.evaluate(() => {
    const canvas = document.getElementById('chart-sign-ins') as HTMLCanvasElement
    const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? []
    let painted = 0
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++
    return painted
  })
  t.ok(drawn > 1000, 'the sign-ins canvas has pixels drawn')
  await page.screenshot({ path: `${SCREENSHOTS}/admin-dashboard.png`, fullPage: true })
  t.same(problems, [], 'no CSP violation or script error in the console')
})

t.test('hostile values in events and filters stay text; the 24 h view and a filtered feed', async t => {
  const { baseUrl, inner } = await listenDashboard(t)
  const hostile = '<img src=x id=injected onerror="document.title=\'owned\'">'
  const { page, problems } = await openDashboard(t, baseUrl, `/admin?chart=24h&event=login.*&client=${encodeURIComponent(hostile)}`)
  t.equal(await page.inputValue('#filter-client'), hostile, 'the filter is shown as typed')
  inner.audit('login.failed', { outcome: 'failure', reason: '<b>bold</b>', client_id: hostile, oid: 'u-1' })
  inner.audit('token.rejected', { outcome: 'failure', reason: 'expired', client_id: hostile })
  await page.waitForSelector('#feed-rows tr[data-event="login.failed"]')
  t.equal(await page.locator('#injected').count(), 0, 'no element was made from the value')
  t.equal(await page.locator('#feed-rows b').count(), 0)
  t.equal(await page.locator('#feed-rows tr').count(), 1, 'the filtered feed shows the sign-in failure only')
  t.match(await page.textContent('#feed-rows'), '<b>bold</b>')
  t.not(await page.title(), 'owned')
  await page.waitForFunction(() => (globalThis as any).Chart.getChart('chart-sign-ins')?.data.labels.length === 96)
  await page.waitForFunction(() => (globalThis as any).Chart.getChart('chart-sign-ins')?.data.datasets[1].data.some((n: number) => n > 0))
  await page.screenshot({ path: `${SCREENSHOTS}/admin-dashboard-24h-filtered.png`, fullPage: true })
  t.same(problems, [], 'no CSP violation or script error in the console')
})
