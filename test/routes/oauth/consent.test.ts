import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'
import { pkcePair } from '../../support/browserless.ts'
import { auditsOf } from '../../support/oauth-flow.ts'

const REDIRECT = 'http://127.0.0.1:53682/callback'
const KEY = Buffer.alloc(32, 7).toString('base64')

async function setup (t: Parameters<typeof build>[0], env: Record<string, string> = {}, metadata: Record<string, unknown> = {}) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', TOKEN_ENCRYPTION_KEY: KEY, ...env }, { logs, setup: i => { inner = i } })
  const redirect = (metadata.redirect_uris as string[] | undefined)?.[0] ?? REDIRECT
  const register = async (extra: Record<string, unknown> = {}) => {
    const reg = await app.inject({ method: 'POST', url: '/register', payload: { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'Consent Test', ...metadata, ...extra } })
    return reg.json() as { client_id: string }
  }
  const client = await register()
  const { challenge } = await pkcePair()
  // One browser: the cookies of every answer are kept and sent again, as a browser does. A test
  // speaks for another browser by passing `cookie` itself ('' for one with no cookie at all).
  const jar = new Map<string, string>()
  const keep = (setCookie: string | string[] | undefined) => {
    for (const line of [setCookie ?? []].flat()) {
      const pair = line.split(';')[0]
      jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1))
    }
  }
  const cookies = (cookie?: string) => cookie ?? [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
  const authorize = async (opts: { clientId?: string, scope?: string, cookie?: string, redirectUri?: string, challenge?: string } = {}) => {
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: opts.clientId ?? client.client_id,
      redirect_uri: opts.redirectUri ?? redirect,
      code_challenge: opts.challenge ?? challenge,
      code_challenge_method: 'S256',
      state: 'client-state',
      scope: opts.scope ?? 'tools.read'
    })
    const res = await app.inject({ url: `/authorize?${q}`, headers: { cookie: cookies(opts.cookie) } })
    if (opts.cookie === undefined) keep(res.headers['set-cookie'])
    const tx = /name="transaction" value="([\w-]+)"/.exec(res.body)?.[1]
    const csrf = /name="csrf_token" value="([\w-]+)"/.exec(res.body)?.[1]
    return { res, tx, csrf }
  }
  const post = async (fields: Record<string, string | undefined>, cookie?: string, headers: Record<string, string> = {}) => {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, v)
    const res = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies(cookie), ...headers }, payload: body.toString() })
    if (cookie === undefined) keep(res.headers['set-cookie'])
    return res
  }
  const audits = (event: string) => auditsOf(logs, event)
  return { app, inner: inner as FastifyInstance, client, register, authorize, post, audits, jar }
}

t.test('approve: remembered in a signed cookie, then straight to Entra with our own state, PKCE S256 and nonce, without resource', async t => {
  const { inner, client, authorize, post, audits } = await setup(t)
  const { tx, csrf } = await authorize({ scope: 'tools.read tools.write' })
  const res = await post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  t.equal(res.statusCode, 303)
  const entra = new URL(String(res.headers.location))
  const config = inner.config
  t.equal(`${entra.origin}${entra.pathname}`, config.entra.authorizeUrl)
  const p = entra.searchParams
  t.equal(p.get('client_id'), config.entra.clientId)
  t.equal(p.get('response_type'), 'code')
  t.equal(p.get('redirect_uri'), config.redirectUri)
  t.equal(p.get('state'), tx, 'the upstream state is the transaction id')
  t.equal(p.get('code_challenge_method'), 'S256')
  t.match(p.get('code_challenge'), /^[\w-]{43}$/)
  t.match(p.get('nonce'), /^[\w-]{16,}$/)
  t.equal(p.get('scope'), config.entra.upstreamScopes.join(' '))
  t.match(p.get('scope'), /api:\/\/[\w-]+\/tools\.read .*openid profile offline_access/)
  t.equal(p.get('resource'), null, 'no resource parameter upstream (Entra rejects it)')
  const stored = JSON.parse(await inner.store.get(`tx:${tx}`) as string)
  t.match(stored.upstream, { verifier: /^[\w-]{43}$/, nonce: p.get('nonce') }, 'verifier and nonce kept server-side')
  t.notMatch(String(res.headers['set-cookie']), stored.upstream.verifier, 'the verifier never reaches the browser')

  const setCookie = String(res.headers['set-cookie'])
  t.match(setCookie, /^emg_consent=[\w-]+\.[\w+/=-]+;/, 'plain name over http, signed value')
  t.match(setCookie, /HttpOnly/)
  t.match(setCookie, /SameSite=Lax/)
  t.notMatch(setCookie, /Secure/)
  t.match(setCookie, /Path=\//)
  t.equal(audits('consent.granted').length, 1)
  t.match(audits('consent.granted')[0], { client_id: client.client_id, scopes: ['tools.read', 'tools.write'] })

  const again = await post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  t.equal(again.statusCode, 400, 'a form posted twice acts once')
  t.equal(again.headers.location, undefined)
  t.ok(await inner.store.get(`tx:${tx}`), 'and the sign-in under way is left alone')
  const denyAfter = await post({ transaction: tx, csrf_token: csrf, decision: 'deny' })
  t.equal(denyAfter.statusCode, 400, 'no deny after an approval')
  t.ok(await inner.store.get(`tx:${tx}`))

  const remembered = await authorize({ scope: 'tools.read' })
  t.equal(remembered.res.statusCode, 200, 'a public loopback client is asked again, even in the browser that approved it (RFC 8252 §8.6)')
  t.match(remembered.res.body, /id="remembered">This application cannot prove its identity/, 'and the page says so')
  // RFC 8252 §8.6: another local app on another loopback port, with its own PKCE challenge.
  const otherApp = await authorize({ scope: 'tools.read', redirectUri: 'http://127.0.0.1:40000/callback', challenge: (await pkcePair()).challenge })
  t.equal(otherApp.res.statusCode, 200, 'another loopback port and another PKCE challenge: the page again, not straight to Entra')
})

t.test('remembered consent skips the page only for a client that proves who it is at an https redirect URI', async t => {
  const confidential = { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'client_secret_post' }
  const { inner, authorize, post, register, jar } = await setup(t, {}, confidential)
  const first = await authorize({ scope: 'tools.read' })
  t.match(first.res.body, /id="remembered">Your approval is remembered in this browser for 30 days/, 'the page says how long an approval lasts')
  const res = await post({ transaction: first.tx, csrf_token: first.csrf, decision: 'approve' })
  t.equal(res.statusCode, 303)
  const consentCookie = `emg_consent=${jar.get('emg_consent') ?? ''}`

  const remembered = await authorize({ scope: 'tools.read' })
  t.equal(remembered.res.statusCode, 302, 'remembered approval skips the page')
  const location = new URL(String(remembered.res.headers.location))
  t.equal(location.origin + location.pathname, inner.config.entra.authorizeUrl)
  const stored = JSON.parse(await inner.store.get(`tx:${location.searchParams.get('state') ?? ''}`) as string)
  t.match(stored.browser, /^[\w-]{43}$/, 'the skipped page still binds the sign-in to this browser')
  t.match(String(remembered.res.headers['set-cookie']), /^emg_browser=[\w-]{43};/)

  const newScope = await authorize({ scope: 'tools.read graph.read' })
  t.equal(newScope.res.statusCode, 200, 'a new scope asks again')
  const tampered = await authorize({ scope: 'tools.read', cookie: consentCookie.replace(/.$/, c => c === 'A' ? 'B' : 'A') })
  t.equal(tampered.res.statusCode, 200, 'a tampered cookie is ignored')

  // The same browser, a public client with the same https redirect: asked every time.
  const publicClient = await register({ token_endpoint_auth_method: 'none' })
  const q = await authorize({ clientId: publicClient.client_id, scope: 'tools.read' })
  const approved = await post({ transaction: q.tx, csrf_token: q.csrf, decision: 'approve' })
  t.equal(approved.statusCode, 303)
  t.equal((await authorize({ clientId: publicClient.client_id, scope: 'tools.read' })).res.statusCode, 200, 'a public client is asked again')
})

t.test('a new client asks again, even in a browser that approved another client', async t => {
  const { register, authorize, post } = await setup(t, {}, { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'client_secret_post' })
  const { tx, csrf } = await authorize()
  await post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  const other = await register()
  t.equal((await authorize({ clientId: other.client_id })).res.statusCode, 200)
})

t.test('deny: access_denied with state and iss back to the client', async t => {
  const { authorize, post, audits } = await setup(t)
  const { tx, csrf } = await authorize()
  const res = await post({ transaction: tx, csrf_token: csrf, decision: 'deny' })
  t.equal(res.statusCode, 303)
  const url = new URL(String(res.headers.location))
  t.equal(`${url.origin}${url.pathname}`, REDIRECT)
  t.equal(url.searchParams.get('error'), 'access_denied')
  t.equal(url.searchParams.get('state'), 'client-state')
  t.equal(url.searchParams.get('iss'), 'http://localhost:8000')
  t.equal(res.headers['set-cookie'], undefined, 'nothing remembered')
  t.equal(audits('consent.denied').length, 1)
})

t.test('CSRF: missing, wrong, or of another transaction is refused and leaves the transaction usable', async t => {
  const { authorize, post } = await setup(t)
  const a = await authorize()
  const b = await authorize()
  for (const [name, csrf] of [['missing', undefined], ['wrong', 'x'.repeat(32)], ['of another transaction', b.csrf]] as const) {
    const res = await post({ transaction: a.tx, csrf_token: csrf, decision: 'approve' })
    t.equal(res.statusCode, 403, name)
    t.equal(res.headers.location, undefined, `${name}: no redirect`)
    t.match(res.body, '<code id="error-code">invalid_request</code>', name)
  }
  const ok = await post({ transaction: a.tx, csrf_token: a.csrf, decision: 'approve' })
  t.equal(ok.statusCode, 303, 'the real form still works')
})

t.test('unknown transaction, bad decision, malformed and oversized bodies never 500', async t => {
  const { app, authorize, post } = await setup(t)
  t.equal((await post({ transaction: 'nope', csrf_token: 'x', decision: 'approve' })).statusCode, 400)
  t.equal((await post({})).statusCode, 400)
  const { tx, csrf } = await authorize()
  t.equal((await post({ transaction: tx, csrf_token: csrf, decision: 'maybe' })).statusCode, 400)
  t.equal((await post({ transaction: tx, csrf_token: csrf })).statusCode, 400)
  const big = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'transaction=' + 'a'.repeat(20000) })
  t.equal(big.statusCode, 413)
  const json = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { 'content-type': 'application/json' }, payload: '{"transaction":' })
  t.equal(json.statusCode, 400)
  const text = await app.inject({ method: 'POST', url: '/authorize/consent', headers: { 'content-type': 'text/plain' }, payload: 'hello' })
  t.equal(text.statusCode, 400, 'a text body is not a form')
  const repeated = await post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  t.equal(repeated.statusCode, 303, 'the transaction survived the bad posts')
})

t.test('over https the cookie is __Host- prefixed and Secure; CONSENT_TTL=0 remembers nothing', async t => {
  const https = await setup(t, { MCP_BASE_URL: 'https://mcp.example.com' })
  const { tx, csrf } = await https.authorize()
  const res = await https.post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  const setCookie = String(res.headers['set-cookie'])
  t.match(setCookie, /^__Host-emg_consent=/)
  t.match(setCookie, /Secure/)
  t.match(setCookie, /Path=\//)
  t.notMatch(setCookie, /Domain=/)

  const never = await setup(t, { CONSENT_TTL: '0' })
  const n = await never.authorize()
  const r = await never.post({ transaction: n.tx, csrf_token: n.csrf, decision: 'approve' })
  t.equal(r.statusCode, 303)
  t.equal(r.headers['set-cookie'], undefined)
})

t.test('login CSRF: the consent form of one browser cannot be posted from another, with no cookie, a forged one or its own', async t => {
  const { authorize, post, audits, inner } = await setup(t)
  // The attacker opens /authorize in his browser and copies transaction and csrf_token from his page.
  const attacker = await authorize({ cookie: '' })
  const attackerBinding = /^emg_browser=([\w-]{43});/.exec(String(attacker.res.headers['set-cookie']))?.[1]
  t.ok(attackerBinding, 'the attacker\'s browser was given its binding cookie')
  // The victim's browser has a binding cookie of its own, from a sign-in it started itself.
  const own = await authorize()
  t.ok(own.tx)

  const forms = { transaction: attacker.tx, csrf_token: attacker.csrf, decision: 'approve' }
  const cases: Array<[string, string | undefined, string]> = [
    ['no cookie', '', 'no_browser_cookie'],
    ['a forged cookie', `emg_browser=${'A'.repeat(43)}`, 'other_browser'],
    ['the victim\'s own binding cookie', undefined, 'other_browser']
  ]
  for (const [name, cookie, reason] of cases) {
    const res = await post(forms, cookie)
    t.equal(res.statusCode, 403, name)
    t.equal(res.headers.location, undefined, `${name}: not sent on to Entra`)
    t.match(res.body, /started in another browser/, `${name}: the page says what happened`)
    t.equal(audits('consent.refused').at(-1)?.reason, reason, `${name}: audited as consent.refused`)
  }
  t.ok(await inner.store.get(`tx:${attacker.tx ?? ''}`), 'the refused posts consumed nothing')
  const real = await post(forms, `emg_browser=${attackerBinding ?? ''}`)
  t.equal(real.statusCode, 303, 'the browser that opened /authorize can still answer')

  // A cross-site auto-submitting page: refused before anything is read, whatever its cookies.
  const mine = await authorize()
  const crossSite: Array<Record<string, string>> = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }, { origin: 'null' }]
  for (const headers of crossSite) {
    const res = await post({ transaction: mine.tx, csrf_token: mine.csrf, decision: 'approve' }, undefined, headers)
    t.equal(res.statusCode, 403, JSON.stringify(headers))
    t.match(res.body, /sent from another website/)
    t.match(audits('consent.refused').at(-1), { reason: 'cross_site', detail: /Sec-Fetch-Site|Origin/ })
  }
  const sameOrigin = await post({ transaction: mine.tx, csrf_token: mine.csrf, decision: 'approve' }, undefined, { 'sec-fetch-site': 'same-origin', origin: 'http://localhost:8000' })
  t.equal(sameOrigin.statusCode, 303, 'the service\'s own page posts with Sec-Fetch-Site same-origin and its Origin')
})
