// The device grant (RFC 8628) over HTTP with the development identity provider: the client on one
// side (POST /device_authorization, /token polls), cookie-jar browsers on the other. Attacks first.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildListening, redisEnv, requireRedis } from '../../helper.ts'
import { Browserless, signInChoice } from '../../support/browserless.ts'
import { auditsOf, claimsOf, registerClient, tokenRequest, type TestClient } from '../../support/oauth-flow.ts'
import { DEVICE_GRANT, enterUserCode, registerDeviceClient, requestDeviceCode } from '../../support/device-flow.ts'

const GRACE_OID = '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72'

async function start (t: Parameters<typeof buildListening>[0], env: Record<string, string> = {}) {
  await requireRedis()
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const { baseUrl } = await buildListening(t, redisEnv({ RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', ...env }), { logs, setup: i => { inner = i } })
  const client = await registerDeviceClient(baseUrl)
  const device = await requestDeviceCode(baseUrl, { client_id: client.client_id, scope: 'tools.read' })
  const poll = (clientId = client.client_id, code = device.body.device_code) => tokenRequest(baseUrl, { grant_type: DEVICE_GRANT, device_code: code, client_id: clientId })
  return { baseUrl, logs, app: inner as FastifyInstance, client, device, poll }
}

t.test('a stranger\'s browser entering someone else\'s code sees the warning; its approval cannot be finished by another browser, and binds to whoever signed in there', async t => {
  const { baseUrl, device, poll } = await start(t)
  const stranger = new Browserless()
  const consent = await enterUserCode(stranger, baseUrl, device.body.user_code)
  t.equal(consent.status, 200)
  t.match(consent.body, /Continue only if you started this sign-in yourself/)
  t.match(consent.body, /id="request-ip">127\.0\.0\.1</, 'where the request came from')
  t.match(consent.body, /id="requested-at">\d{4}-\d\d-\d\d \d\d:\d\d UTC</)
  t.match(consent.body, /id="client-name">Headless CLI</)

  // The stranger's consent form, carried to the device owner's browser: refused, nothing approved.
  const owner = new Browserless()
  await owner.navigate(`${baseUrl}/device`)
  const carried = await owner.submit({ ...consent }, { name: 'decision', value: 'approve' })
  t.equal(carried.status, 403)
  t.match(carried.body, /entered in another browser/)

  // The stranger approves; the link to Entra, carried to the owner's browser, does not finish there.
  const toEntra = await stranger.submit(consent, { name: 'decision', value: 'approve' }, { stopAt: u => u.includes('/dev-idp/') })
  const signInPage = await owner.navigate(toEntra.stoppedAt as string, { stopAt: u => u.includes('/auth/callback') })
  const callbackInOwner = await owner.submit(signInPage, signInChoice('Ada Lovelace'), { stopAt: u => u.includes('/auth/callback') })
  const refused = await owner.navigate(callbackInOwner.stoppedAt as string)
  t.equal(refused.status, 403, 'the callback in another browser is refused')
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } }, 'nothing approved')

  // In the stranger's own browser, the sign-in finishes, as the person who signed in there.
  const again = await stranger.navigate(toEntra.stoppedAt as string)
  const done = await stranger.submit(again, signInChoice('Grace Hopper'))
  t.equal(done.status, 200)
  t.match(done.body, /You are signed in/)
  const tokens = await poll()
  t.equal(tokens.status, 200)
  t.equal(claimsOf(tokens.body.access_token).oid, GRACE_OID, 'the grant is the stranger\'s own sign-in, not the device owner\'s')
})

t.test('a device transaction posted to the code flow\'s consent form is refused there (it is answered at /device/consent only)', async t => {
  const { baseUrl, device, poll } = await start(t)
  const browser = new Browserless()
  const consent = await enterUserCode(browser, baseUrl, device.body.user_code)
  const elsewhere = await browser.submit({ ...consent, body: consent.body.replace('action="/device/consent"', 'action="/authorize/consent"') }, { name: 'decision', value: 'deny' })
  t.equal(elsewhere.status, 400)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } }, 'neither denied nor approved')
  const own = await browser.submit(consent, { name: 'decision', value: 'deny' })
  t.match(own.body, /Sign-in denied/, 'the transaction is still there for its own form')
})

t.test('the whole flow: metadata, pending, approval, the code flow\'s tokens (refresh included), single use, audited', async t => {
  const { baseUrl, logs, client, device, poll } = await start(t)
  const meta = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json() as Record<string, any>
  t.equal(meta.device_authorization_endpoint, `${baseUrl}/device_authorization`)
  t.ok(meta.grant_types_supported.includes(DEVICE_GRANT))
  t.match(client, { grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT] }, '/register keeps the device grant')

  t.equal(device.status, 200)
  t.match(device.body, { device_code: /^[\w-]{43}$/, user_code: /^[B-Z]{4}-[B-Z]{4}$/, verification_uri: `${baseUrl}/device`, expires_in: 600, interval: 5 })
  t.equal(device.body.verification_uri_complete, `${baseUrl}/device?user_code=${device.body.user_code}`)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } })

  // verification_uri_complete fills the form in; the person still confirms it.
  const browser = new Browserless()
  const form = await browser.navigate(device.body.verification_uri_complete)
  t.match(form.body, new RegExp(`name="user_code" value="${device.body.user_code}"`))
  t.match(form.headers.get('content-security-policy'), /default-src 'none'/)
  const consent = await browser.submit(form, { label: 'Continue' }, { fields: { user_code: ` ${device.body.user_code.toLowerCase().replace('-', ' ')} ` } })
  t.match(consent.body, /Sign in <span id="client-name">Headless CLI/, 'typed in lower case with a space: accepted')
  const signIn = await browser.submit(consent, { name: 'decision', value: 'approve' })
  const done = await browser.submit(signIn, signInChoice('Ada Lovelace'))
  t.match(done.body, /You are signed in/)

  const [a, b] = await Promise.all([poll(), poll()])
  const won = [a, b].filter(r => r.status === 200)
  t.equal(won.length, 1, 'two pollers at once: tokens once')
  t.match([a, b].find(r => r.status !== 200), { status: 400, body: { error: 'invalid_grant' } })
  const tokens = won[0].body
  t.match(tokens, { token_type: 'Bearer', scope: 'tools.read', refresh_token: /^[\w-]{43}$/ })
  t.equal(claimsOf(tokens.access_token).client_id, client.client_id)
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id })
  t.equal(refreshed.status, 200, 'the refresh token works as the code flow\'s')
  t.match(await enterUserCode(new Browserless(), baseUrl, device.body.user_code), { status: 400, body: /unknown, has expired or was already used/ }, 'the user code is used up')

  t.match(auditsOf(logs, 'device.requested'), [{ client_id: client.client_id, scopes: ['tools.read'] }])
  t.match(auditsOf(logs, 'device.approved'), [{ client_id: client.client_id, oid: /\w/ }])
  t.match(auditsOf(logs, 'token.issued'), [{ grant_type: 'device_code', client_id: client.client_id }])
  t.ok(logs.some(l => l.includes('/device?user_code=[Redacted]')), 'the verification_uri_complete request was logged, redacted')
  t.notOk(logs.some(l => l.includes(device.body.device_code) || l.includes(device.body.user_code)), 'neither code is in any log line')
})

/** A device-only registration (no redirect URI), then its code approved by Ada in a fresh browser: the token answer. */
async function deviceOnlySignIn (baseUrl: string, grantTypes: string[]) {
  const client = await registerClient(baseUrl, { redirect_uris: undefined, response_types: undefined, grant_types: grantTypes, client_name: 'CI runner' }) as TestClient & { grant_types: string[], response_types: string[] }
  const device = await requestDeviceCode(baseUrl, { client_id: client.client_id, scope: 'tools.read' })
  const browser = new Browserless()
  const consent = await enterUserCode(browser, baseUrl, device.body.user_code)
  await browser.submit(await browser.submit(consent, { name: 'decision', value: 'approve' }), signInChoice('Ada Lovelace'))
  const tokens = await tokenRequest(baseUrl, { grant_type: DEVICE_GRANT, device_code: device.body.device_code, client_id: client.client_id })
  return { client, device, consent, tokens }
}

t.test('a device-only client (no redirect URI) signs in with a code and refreshes, and cannot use the code flow', async t => {
  const { baseUrl } = await start(t)
  const { client: headless, device, consent, tokens } = await deviceOnlySignIn(baseUrl, [DEVICE_GRANT, 'refresh_token'])
  t.match(headless, { redirect_uris: [], response_types: [], grant_types: ['refresh_token', DEVICE_GRANT] })
  t.equal(device.status, 200)
  t.match(consent.body, /Sign in <span id="client-name">CI runner/)
  t.match(tokens, { status: 200, body: { token_type: 'Bearer', scope: 'tools.read', refresh_token: /^[\w-]{43}$/ } })
  t.equal(claimsOf(tokens.body.access_token).client_id, headless.client_id)
  await t.resolveMatch(tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: headless.client_id }), { status: 200, body: { access_token: /\w/ } })
  await t.resolveMatch(tokenRequest(baseUrl, { grant_type: 'authorization_code', code: 'x'.repeat(43), code_verifier: 'v'.repeat(43), redirect_uri: `${baseUrl}/device`, client_id: headless.client_id }), { status: 400, body: { error: 'unauthorized_client' } }, 'no code grant at /token either')
  const authorize = await fetch(`${baseUrl}/authorize?${new URLSearchParams({ response_type: 'code', client_id: headless.client_id, redirect_uri: 'https://evil.example.com/cb', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`, { redirect: 'manual' })
  t.equal(authorize.status, 400)
  t.equal(authorize.headers.get('location'), null, '/authorize sends it nowhere')
  t.match(await authorize.text(), '<code id="error-code">unauthorized_client</code>')
})

t.test('a device-only client that did not register refresh_token gets no refresh token', async t => {
  const { baseUrl } = await start(t)
  const { client, tokens } = await deviceOnlySignIn(baseUrl, [DEVICE_GRANT])
  t.same(client.grant_types, [DEVICE_GRANT])
  t.equal(tokens.status, 200)
  t.match(tokens.body, { access_token: /\w/ })
  t.notOk('refresh_token' in tokens.body)
})

t.test('a device code polled by another client is refused, and the owner still gets its tokens', async t => {
  const { baseUrl, client, device, poll } = await start(t)
  const other = await registerDeviceClient(baseUrl, { client_name: 'Other' })
  const browser = new Browserless()
  const consent = await enterUserCode(browser, baseUrl, device.body.user_code)
  await browser.submit(await browser.submit(consent, { name: 'decision', value: 'approve' }), signInChoice('Ada Lovelace'))
  await t.resolveMatch(poll(other.client_id), { status: 400, body: { error: 'invalid_grant', error_description: /another client/ } })
  await t.resolveMatch(poll(client.client_id), { status: 200 })
})

t.test('denial: the client hears access_denied, audited device.denied', async t => {
  const { baseUrl, logs, device, poll } = await start(t)
  const browser = new Browserless()
  const consent = await enterUserCode(browser, baseUrl, device.body.user_code)
  const denied = await browser.submit(consent, { name: 'decision', value: 'deny' })
  t.match(denied.body, /Sign-in denied/)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'access_denied' } })
  t.match(auditsOf(logs, 'device.denied'), [{ reason: 'user_denied' }])
})

t.test('a cancelled sign-in at the identity provider denies the device code', async t => {
  const { baseUrl, device, poll } = await start(t)
  const browser = new Browserless()
  const consent = await enterUserCode(browser, baseUrl, device.body.user_code)
  const signInPage = await browser.submit(consent, { name: 'decision', value: 'approve' })
  const cancelled = await browser.submit(signInPage, signInChoice('cancel'))
  t.equal(cancelled.status, 400)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'access_denied' } })
})

t.test('slow_down: a poll sooner than the interval', async t => {
  const { poll } = await start(t)
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } })
  await t.resolveMatch(poll(), { status: 400, body: { error: 'slow_down', error_description: /10 seconds/ } })
})

t.test('the code form refuses another site\'s post and a post without its browser-bound token', async t => {
  const { baseUrl, device, poll } = await start(t)
  const crossSite = await fetch(`${baseUrl}/device`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body: `user_code=${device.body.user_code}` })
  t.equal(crossSite.status, 403)
  const browser = new Browserless()
  await browser.navigate(`${baseUrl}/device`)
  const noToken = await browser.navigate(`${baseUrl}/device`, {}, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user_code=${device.body.user_code}&csrf_token=forged` })
  t.equal(noToken.status, 403)
  t.notMatch(noToken.body, /Approve/, 'no consent page')
  await t.resolveMatch(poll(), { status: 400, body: { error: 'authorization_pending' } })
})

t.test('/device_authorization: client authentication, the device grant registered, scopes and resource checked', async t => {
  const { baseUrl, client } = await start(t)
  const codeOnly = await registerClient(baseUrl)
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: codeOnly.client_id }), { status: 400, body: { error: 'unauthorized_client' } })
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: 'nobody' }), { status: 401, body: { error: 'invalid_client' } })
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: client.client_id, scope: 'admin' }), { status: 400, body: { error: 'invalid_scope' } })
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: client.client_id, resource: 'https://elsewhere.example/mcp' }), { status: 400, body: { error: 'invalid_target' } })
  const confidential = await registerDeviceClient(baseUrl, { token_endpoint_auth_method: 'client_secret_post' })
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: confidential.client_id }), { status: 401, body: { error: 'invalid_client' } }, 'a confidential client without its secret')
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: confidential.client_id, client_secret: confidential.client_secret }), { status: 200, body: { user_code: /-/ } })
  await t.resolveMatch(requestDeviceCode(baseUrl, { client_id: client.client_id, resource: `${baseUrl}/mcp` }), { status: 200, body: { device_code: /\w/ } })
  await t.resolveMatch(tokenRequest(baseUrl, { grant_type: DEVICE_GRANT, client_id: client.client_id }), { status: 400, body: { error: 'invalid_request' } }, 'no device_code')
  await t.resolveMatch(tokenRequest(baseUrl, { grant_type: DEVICE_GRANT, client_id: codeOnly.client_id, device_code: 'x'.repeat(43) }), { status: 400, body: { error: 'unauthorized_client' } })
})

t.test('brute force: code guesses are throttled per address, and one code can be entered only a few times', async t => {
  const { baseUrl, logs, client } = await start(t, { RATE_LIMIT_ENABLED: 'true' })
  const device = await requestDeviceCode(baseUrl, { client_id: client.client_id })
  const browser = new Browserless()
  for (let i = 0; i < 5; i++) t.equal((await enterUserCode(browser, baseUrl, device.body.user_code)).status, 200, `entry ${i + 1} of the real code`)
  const sixth = await enterUserCode(browser, baseUrl, device.body.user_code)
  t.equal(sixth.status, 429, 'the sixth entry of one code is refused')

  const guesses: number[] = []
  for (let i = 0; i < 15; i++) guesses.push((await enterUserCode(browser, baseUrl, 'BCDF-GHJK')).status)
  t.same(guesses, [...Array(14).fill(400), 429], 'twenty entries from one address, then refused')
  const another = await requestDeviceCode(baseUrl, { client_id: client.client_id })
  const blocked = await enterUserCode(browser, baseUrl, another.body.user_code)
  t.equal(blocked.status, 429, 'even a right guess is refused once the address is throttled')
  t.match(blocked.body, /Too many codes/)
  t.ok(auditsOf(logs, 'rate_limit.exceeded').some(a => a.family === 'device_code' && a.key_kind === 'ip'))
})
