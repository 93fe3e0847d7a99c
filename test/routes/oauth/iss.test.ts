import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildListening } from '../../helper.ts'
import { Browserless } from '../../support/browserless.ts'
import { REDIRECT_URI, authorizeRequest, registerClient } from '../../support/oauth-flow.ts'

// RFC 9207 / MCP 2026-07-28 SEP-2468: every authorization response, success or error, carries
// `iss` = the issuer of the metadata. One walk through every branch that sends the browser back
// to the client; the branches' own tests check the rest of each answer.

t.test('every redirect back to the client carries iss = the issuer, and the client\'s state', async t => {
  let inner: FastifyInstance | undefined
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' }, { setup: i => { inner = i } })
  const issuer = (inner as FastifyInstance).config.issuer
  t.equal(issuer, baseUrl)
  const metadata = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>
  t.equal(metadata.issuer, issuer)
  t.equal(metadata.authorization_response_iss_parameter_supported, true, 'advertised, so it must be on every response')

  const client = await registerClient(baseUrl)
  const toClient = (u: string) => u.startsWith(REDIRECT_URI)
  const seen: string[] = []
  const check = (branch: string, location: string | null, state: string, expected: { code?: boolean, error?: string }) => {
    t.ok(location?.startsWith(REDIRECT_URI), `${branch}: back at the client's redirect URI`)
    const params = new URL(location ?? 'http://invalid.example/').searchParams
    t.same(params.getAll('iss'), [issuer], `${branch}: one iss, the issuer`)
    t.equal(params.get('state'), state, `${branch}: the client's state`)
    if (expected.code === true) t.match(params.get('code'), /^[\w-]{43}$/, `${branch}: a code`)
    if (expected.error !== undefined) t.equal(params.get('error'), expected.error, `${branch}: ${expected.error}`)
    seen.push(branch)
  }

  // Success via /auth/callback; this browser has now approved the client.
  const browser = new Browserless()
  const ok = await authorizeRequest(baseUrl, client)
  check('callback success', (await browser.authorize(ok.url, { stopAt: toClient })).url, ok.state, { code: true })

  // Entra answers with an error (the user cancels at the sign-in page).
  const cancelled = await authorizeRequest(baseUrl, client)
  check('callback, Entra error', (await new Browserless().authorize(cancelled.url, { user: 'cancel', stopAt: toClient })).url, cancelled.state, { error: 'access_denied' })

  // A callback failure of the service's own (Entra's answer without a code).
  const noCode = await authorizeRequest(baseUrl, client)
  const other = new Browserless()
  const atEntra = await other.authorize(noCode.url, { stopAt: u => u.includes('/oauth2/v2.0/authorize') })
  const upstreamState = atEntra.params.get('state') as string
  const callback = await other.request(`${baseUrl}/auth/callback?state=${encodeURIComponent(upstreamState)}`)
  t.equal(callback.status, 302)
  check('callback, no code', callback.headers.get('location'), noCode.state, { error: 'server_error' })

  // The user denies on the consent page.
  const denied = await authorizeRequest(baseUrl, client)
  check('consent denied', (await new Browserless().authorize(denied.url, { consent: 'deny', stopAt: toClient })).url, denied.state, { error: 'access_denied' })

  // /authorize errors after the redirect URI is verified: a page with a link for a browser that has
  // not approved the client, a redirect for one that has.
  for (const [name, params, error] of [
    ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['unknown scope', { scope: 'admin.everything' }, 'invalid_scope'],
    ['resource mismatch', { resource: 'https://other.example/mcp' }, 'invalid_target'],
    ['implicit flow', { response_type: 'token' }, 'unsupported_response_type']
  ] as const) {
    const bad = await authorizeRequest(baseUrl, client, params)
    const page = await new Browserless().request(bad.url)
    t.equal(page.status, 400, `${name}: a page for a new browser`)
    const link = (/id="return-link" href="([^"]+)"/.exec(await page.text())?.[1] ?? '').replace(/&amp;/g, '&')
    check(`/authorize ${name}, link`, link, bad.state, { error })
    const redirect = await browser.request(bad.url)
    t.equal(redirect.status, 302, `${name}: a redirect for the approving browser`)
    check(`/authorize ${name}, redirect`, redirect.headers.get('location'), bad.state, { error })
  }
  t.equal(seen.length, 12, 'every branch walked')
})
