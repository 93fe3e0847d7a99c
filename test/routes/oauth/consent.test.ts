import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'
import { pkcePair } from '../../fixtures/browserless.ts'
import { auditsOf } from './oauth-flow.ts'

const REDIRECT = 'http://127.0.0.1:53682/callback'
const KEY = Buffer.alloc(32, 7).toString('base64')

async function setup (t: Parameters<typeof build>[0], env: Record<string, string> = {}) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', TOKEN_ENCRYPTION_KEY: KEY, ...env }, { logs, setup: i => { inner = i } })
  const register = async () => {
    const reg = await app.inject({ method: 'POST', url: '/register', payload: { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'Consent Test' } })
    return reg.json() as { client_id: string }
  }
  const client = await register()
  const { challenge } = await pkcePair()
  const authorize = async (opts: { clientId?: string, scope?: string, cookie?: string } = {}) => {
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: opts.clientId ?? client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'client-state',
      scope: opts.scope ?? 'tools.read'
    })
    const res = await app.inject({ url: `/authorize?${q}`, headers: opts.cookie !== undefined ? { cookie: opts.cookie } : {} })
    const tx = /name="transaction" value="([\w-]+)"/.exec(res.body)?.[1]
    const csrf = /name="csrf_token" value="([\w-]+)"/.exec(res.body)?.[1]
    return { res, tx, csrf }
  }
  const post = (fields: Record<string, string | undefined>, cookie?: string) => {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) body.set(k, v)
    return app.inject({ method: 'POST', url: '/authorize/consent', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie !== undefined ? { cookie } : {}) }, payload: body.toString() })
  }
  const audits = (event: string) => auditsOf(logs, event)
  return { app, inner: inner as FastifyInstance, client, register, authorize, post, audits }
}

const cookieOf = (setCookie: string | string[] | undefined) => String(Array.isArray(setCookie) ? setCookie[0] : setCookie).split(';')[0]

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

  const cookie = cookieOf(res.headers['set-cookie'])
  const remembered = await authorize({ scope: 'tools.read', cookie })
  t.equal(remembered.res.statusCode, 302, 'remembered approval skips the page')
  t.equal(new URL(String(remembered.res.headers.location)).origin + new URL(String(remembered.res.headers.location)).pathname, config.entra.authorizeUrl)
  const newScope = await authorize({ scope: 'tools.read graph.read', cookie })
  t.equal(newScope.res.statusCode, 200, 'a new scope asks again')
  const tampered = await authorize({ scope: 'tools.read', cookie: cookie.replace(/.$/, c => c === 'A' ? 'B' : 'A') })
  t.equal(tampered.res.statusCode, 200, 'a tampered cookie is ignored')
})

t.test('a new client asks again, even in a browser that approved another client', async t => {
  const { register, authorize, post } = await setup(t)
  const { tx, csrf } = await authorize()
  const res = await post({ transaction: tx, csrf_token: csrf, decision: 'approve' })
  const cookie = cookieOf(res.headers['set-cookie'])
  const other = await register()
  t.equal((await authorize({ clientId: other.client_id, cookie })).res.statusCode, 200)
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
