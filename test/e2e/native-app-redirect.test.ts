// A native app with a private-use redirect scheme (RFC 8252 §7.1), registered the way Cursor does it:
// three redirect URIs in one request, one of them cursor://. The whole flow goes through against a
// listening server with the development identity provider, and the code comes back on cursor://.
import t from 'tap'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { authorizeRequest, mcpStatus, tokenRequest } from '../support/oauth-flow.ts'

const CURSOR = 'cursor://anysphere.cursor-mcp/oauth/callback'
// What Cursor sends to /register (its redirect URIs, public client, refresh tokens).
const CURSOR_REGISTRATION = {
  client_name: 'Cursor',
  redirect_uris: [CURSOR, 'https://www.cursor.com/agents/mcp/oauth/callback', 'http://localhost:8787/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none'
}
const ENV = { RATE_LIMIT_ENABLED: 'false' }

async function register (baseUrl: string, body: unknown) {
  const res = await fetch(`${baseUrl}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as Record<string, any> }
}

t.test('Cursor registers with its three redirect URIs, signs in, and gets the code on cursor://', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const registration = await register(baseUrl, CURSOR_REGISTRATION)
  t.equal(registration.status, 201, 'registered')
  t.same(registration.body.redirect_uris, CURSOR_REGISTRATION.redirect_uris, 'every redirect URI kept')
  const client = { client_id: registration.body.client_id as string, redirect_uris: [CURSOR] }

  const request = await authorizeRequest(baseUrl, client)
  const browser = new Browserless()
  const consent = await browser.navigate(request.url)
  t.equal(consent.status, 200, 'the consent page')
  t.match(consent.body, /<code id="redirect-host">cursor:\/\/anysphere\.cursor-mcp<\/code>/, 'names the app scheme that receives the answer')
  t.match(consent.body, /id="app-scheme-warning"/, 'and warns that an app on this computer gets it')
  t.notMatch(consent.body, /id="loopback-warning"/)

  const flow = await browser.authorize(request.url, { stopAt: u => u.startsWith('cursor:') })
  const back = new URL(flow.url)
  t.equal(`${back.protocol}//${back.host}${back.pathname}`, CURSOR, 'redirected to the app')
  t.equal(back.searchParams.get('state'), request.state)
  t.equal(back.searchParams.get('iss'), baseUrl)
  const code = back.searchParams.get('code')
  t.ok(code, 'with a code')

  const tokens = await tokenRequest(baseUrl, { grant_type: 'authorization_code', code: code ?? '', redirect_uri: CURSOR, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200, 'the code is redeemed with the cursor:// redirect URI and the verifier')
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200, 'and the token works at /mcp')

  const other = await authorizeRequest(baseUrl, { ...client, redirect_uris: ['cursor://anysphere.cursor-mcp/oauth/other'] })
  const mismatch = await fetch(other.url, { redirect: 'manual' })
  t.equal(mismatch.status, 400, 'another cursor:// path is not registered: error page, never a redirect')
  t.equal(mismatch.headers.get('location'), null)
})

t.test('errors after the redirect URI is verified go back to the app scheme with state and iss: by link first, by redirect once approved', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const registration = await register(baseUrl, CURSOR_REGISTRATION)
  const client = { client_id: registration.body.client_id, redirect_uris: [CURSOR] }
  const request = await authorizeRequest(baseUrl, client, { code_challenge_method: 'plain' })
  const browser = new Browserless()
  const page = await browser.navigate(request.url)
  t.equal(page.status, 400, 'a browser that never approved the app gets a page, not a redirect')
  t.match(page.body, /<code id="redirect-host">cursor:\/\/anysphere\.cursor-mcp<\/code>/)
  const link = new URL((/id="return-link" href="([^"]+)"/.exec(page.body)?.[1] ?? '').replace(/&amp;/g, '&'))

  await browser.authorize((await authorizeRequest(baseUrl, client)).url, { stopAt: u => u.startsWith('cursor:') })
  const res = await browser.request(request.url)
  t.equal(res.status, 302, 'once approved in this browser, the error is redirected to the app')
  const location = new URL(res.headers.get('location') ?? '')
  for (const url of [link, location]) {
    t.equal(`${url.protocol}//${url.host}${url.pathname}`, CURSOR)
    t.equal(url.searchParams.get('error'), 'invalid_request')
    t.equal(url.searchParams.get('state'), request.state)
    t.equal(url.searchParams.get('iss'), baseUrl)
  }
})

t.test('ALLOWED_REDIRECT_SCHEMES decides which app schemes may register', async t => {
  const { baseUrl: off } = await buildListening(t, { ...ENV, ALLOWED_REDIRECT_SCHEMES: 'none' })
  const refused = await register(off, CURSOR_REGISTRATION)
  t.equal(refused.status, 400, 'none: Cursor\'s registration is refused')
  t.equal(refused.body.error, 'invalid_redirect_uri')
  t.match(refused.body.error_description, /"cursor:" scheme is not allowed/)

  const { baseUrl: byDefault } = await buildListening(t, ENV)
  const other = await register(byDefault, { ...CURSOR_REGISTRATION, redirect_uris: ['com.example.app:/oauth2redirect'] })
  t.equal(other.status, 400, 'a scheme not listed is refused')
  t.match(other.body.error_description, /an app scheme this server accepts: cursor/)
  for (const uri of ['javascript://x/%0aalert(1)', 'data:text/html,x', 'file:///etc/passwd']) {
    const bad = await register(byDefault, { ...CURSOR_REGISTRATION, redirect_uris: [uri] })
    t.equal(bad.body.error, 'invalid_redirect_uri', `${uri} refused`)
  }

  const { baseUrl: listed } = await buildListening(t, { ...ENV, ALLOWED_REDIRECT_SCHEMES: 'com.example.app' })
  t.equal((await register(listed, { ...CURSOR_REGISTRATION, redirect_uris: ['com.example.app:/oauth2redirect'] })).status, 201, 'a listed scheme is accepted')
  t.equal((await register(listed, CURSOR_REGISTRATION)).status, 400, 'and cursor is then no longer listed')
})
