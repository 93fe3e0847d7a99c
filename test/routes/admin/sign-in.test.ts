// The administrators' sign-in through the development identity provider (shaped like Entra), with a
// cookie-jar client: the role decides, every step is bound to the browser that started it, and the
// session is a new one whatever the browser brought.
import t from 'tap'
import { buildListening } from '../../helper.ts'
import { Browserless, signInChoice } from '../../support/browserless.ts'
import { auditsOf, authorizeRequest, claimsOf, registerClient, signIn, tokenRequest } from '../../support/oauth-flow.ts'

async function start (t: Parameters<typeof buildListening>[0]) {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }, { logs })
  return { baseUrl, audits: (event: string) => auditsOf(logs, event) }
}

/** /admin/login in `browser` up to the identity provider's sign-in page, then the user's button. */
async function adminSignIn (baseUrl: string, browser: Browserless, user: string, path = '/admin/login') {
  const signInPage = await browser.navigate(`${baseUrl}${path}`)
  return await browser.submit(signInPage, signInChoice(user))
}

t.test('Grace (who holds Gateway.Admin) signs in: a session cookie, the admin page, admin.signed_in', async t => {
  const { baseUrl, audits } = await start(t)
  const browser = new Browserless()
  const page = await adminSignIn(baseUrl, browser, 'Grace Hopper', '/admin/login?return=/admin')
  t.equal(page.status, 200)
  t.equal(page.url, `${baseUrl}/admin`)
  t.match(page.body, /<span id="admin-name"[^>]*>Grace Hopper<\/span>/)
  t.ok(page.chain.some(u => u.startsWith(`${baseUrl}/auth/callback?`) && new URL(u).searchParams.get('state')?.startsWith('admin.')), 'through the one redirect URI of the app registration')
  const session = browser.jar.cookies.find(c => c.name === 'emg_admin')
  t.match(session, { httpOnly: true, path: '/' })
  t.match(String(session?.sameSite), /lax/i)
  t.notOk(browser.jar.cookies.some(c => c.name === 'emg_admin_login' && c.value !== ''), 'the sign-in cookie is cleared')
  t.match(audits('admin.signed_in'), [{ admin_oid: '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72', outcome: 'success' }])
  t.same(audits('login.succeeded'), [], 'no MCP grant was made')
})

t.test('Ada (no app role) gets a 403 page and no session; audited admin.refused', async t => {
  const { baseUrl, audits } = await start(t)
  const browser = new Browserless()
  const page = await adminSignIn(baseUrl, browser, 'Ada Lovelace')
  t.equal(page.status, 403)
  t.match(page.body, /Ada Lovelace, who does not hold the Gateway\.Admin role/)
  t.notOk(browser.jar.cookies.some(c => c.name === 'emg_admin'), 'no session cookie')
  t.match(audits('admin.refused'), [{ reason: 'missing_role', admin_oid: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61' }])
  const again = await browser.navigate(`${baseUrl}/admin`)
  t.ok(again.chain.some(u => u.startsWith(`${baseUrl}/admin/login`)), '/admin sends her to sign in again')
  t.equal(again.status, 403, 'and her sign-in is refused again')
})

t.test('login CSRF: the identity provider\'s answer carried to another browser opens no session there, and leaves the sign-in to its browser', async t => {
  const { baseUrl, audits } = await start(t)
  const attacker = new Browserless()
  const victim = new Browserless()
  // The attacker starts a sign-in and stops at the callback URL (as Grace, the admin).
  const signInPage = await attacker.navigate(`${baseUrl}/admin/login`)
  const stopped = await attacker.submit(signInPage, signInChoice('Grace Hopper'), { stopAt: u => u.startsWith(`${baseUrl}/auth/callback`) })
  const callback = stopped.stoppedAt as string
  t.ok(callback, 'the attacker holds the callback URL')
  const there = await victim.navigate(callback)
  t.equal(there.status, 403)
  t.match(there.body, /started in another browser/)
  t.notOk(victim.jar.cookies.some(c => c.name === 'emg_admin'))
  t.match(audits('admin.refused'), [{ reason: 'no_browser_cookie' }])
  const own = await attacker.navigate(callback)
  t.equal(own.url, `${baseUrl}/admin`, 'the browser that started it still finishes')
  t.equal((await attacker.navigate(callback)).status, 400, 'once')
})

t.test('session fixation: an id planted before the sign-in is no session, and the sign-in sets a new one', async t => {
  const { baseUrl } = await start(t)
  const browser = new Browserless()
  const planted = 'P'.repeat(43)
  browser.jar.store(`${baseUrl}/`, [`emg_admin=${planted}; Path=/; HttpOnly`])
  const page = await adminSignIn(baseUrl, browser, 'Grace Hopper', '/admin/login?return=/admin')
  t.equal(page.url, `${baseUrl}/admin`)
  const now = browser.jar.cookies.find(c => c.name === 'emg_admin')?.value
  t.ok(now !== undefined && now !== planted, 'a new id')
  const other = new Browserless()
  other.jar.store(`${baseUrl}/`, [`emg_admin=${planted}; Path=/; HttpOnly`])
  t.ok((await other.navigate(`${baseUrl}/admin`)).chain.some(u => u.startsWith(`${baseUrl}/admin/login`)), 'the planted id opens nothing')
})

t.test('RFC 8707: a token for the admin API carries the user\'s roles; an MCP token for the same user does not', async t => {
  const { baseUrl } = await start(t)
  const client = await registerClient(baseUrl)
  const tokenFor = async (resource: string, user: string) => {
    const request = await authorizeRequest(baseUrl, client, { resource })
    const code = (await signIn(new Browserless(), request.url, { user })).get('code') as string
    return await tokenRequest(baseUrl, { grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0], code_verifier: request.verifier, client_id: client.client_id, resource })
  }
  const admin = await tokenFor(`${baseUrl}/admin/api`, 'Grace Hopper')
  t.match(claimsOf(admin.body.access_token), { aud: `${baseUrl}/admin/api`, roles: ['Gateway.Admin'], name: 'Grace Hopper' })
  const mcp = await tokenFor(`${baseUrl}/mcp`, 'Grace Hopper')
  t.equal(claimsOf(mcp.body.access_token).aud, `${baseUrl}/mcp`)
  t.notOk('roles' in claimsOf(mcp.body.access_token))
  const ada = await tokenFor(`${baseUrl}/admin/api`, 'Ada Lovelace')
  t.same(claimsOf(ada.body.access_token).roles, [], 'Ada: an admin API token without roles')
})

t.test('the consent page for the admin API says so and is shown every time', async t => {
  const { baseUrl } = await start(t)
  const client = await registerClient(baseUrl, { token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example/cb'] })
  const browser = new Browserless()
  const request = await authorizeRequest(baseUrl, client, { resource: `${baseUrl}/admin/api` })
  const first = await browser.navigate(request.url)
  t.match(first.body, /id="admin-api-warning"/)
  await browser.authorize(request.url, { user: 'Grace Hopper', stopAt: u => u.startsWith('https://app.example/cb') })
  const again = await browser.navigate((await authorizeRequest(baseUrl, client, { resource: `${baseUrl}/admin/api` })).url)
  t.match(again.body, /name="decision"/, 'asked again: an approval for the admin API is not remembered')
})
