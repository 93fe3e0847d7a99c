// The login-CSRF / consent-hijack attacks of the outside attack run, played with two browsers
// (two cookie jars): an attacker, and a victim already signed in at the development identity
// provider, so that Entra-style single sign-on would let the victim through without a page.
// The attacker's client has a redirect URI he controls; he must never receive a code.
import t, { type Test } from 'tap'
import { buildListening } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { auditsOf, authorizeRequest, fullFlow, registerClient } from '../support/oauth-flow.ts'

const ATTACKER_REDIRECT = 'https://attacker.example/cb'
const reachesAttacker = (url: string) => url.startsWith(ATTACKER_REDIRECT)

async function scene (t: Test) {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }, { logs })
  // The victim signs in once to a client of their own: the identity provider now knows them.
  const victim = new Browserless()
  const own = await registerClient(baseUrl)
  const signedIn = await fullFlow(baseUrl, own, victim)
  t.equal(signedIn.tokens.status, 200, 'the victim has an identity provider session')

  const attacker = new Browserless()
  const evil = await registerClient(baseUrl, { redirect_uris: [ATTACKER_REDIRECT], client_name: 'Totally Legit' })
  const request = await authorizeRequest(baseUrl, evil)
  const consentPage = await attacker.navigate(request.url)
  const tx = /name="transaction" value="([\w-]+)"/.exec(consentPage.body)?.[1] ?? ''
  const csrf = /name="csrf_token" value="([\w-]+)"/.exec(consentPage.body)?.[1] ?? ''
  t.ok(tx !== '' && csrf !== '', 'the attacker has his consent page\'s transaction and CSRF token')
  const audits = (event: string) => auditsOf(logs, event)
  return { baseUrl, victim, attacker, tx, csrf, audits }
}

t.test('form variant: the attacker\'s consent form posted from the victim\'s browser approves nothing', async t => {
  const { baseUrl, victim, tx, csrf, audits } = await scene(t)
  const form = new URLSearchParams({ transaction: tx, csrf_token: csrf, decision: 'approve' }).toString()
  const variants: Array<[string, Record<string, string>]> = [
    ['a cross-site auto-submitting page', { origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' }],
    ['a browser that sends neither Origin nor Sec-Fetch-Site', {}]
  ]
  for (const [name, headers] of variants) {
    const page = await victim.navigate(`${baseUrl}/authorize/consent`, { stopAt: reachesAttacker }, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form
    })
    t.equal(page.stoppedAt, undefined, `${name}: nothing goes to the attacker's redirect URI`)
    t.equal(page.status, 403, name)
    t.notOk(page.chain.some(u => u.includes('/dev-idp/')), `${name}: the victim is not sent to sign in`)
    t.match(page.body, /nothing was approved/, `${name}: the victim sees what happened`)
  }
  t.same(audits('consent.refused').map(a => a.reason), ['cross_site', 'other_browser'])
  t.equal(audits('consent.granted').length, 1, 'only the victim\'s own earlier approval')
  t.equal(audits('login.succeeded').length, 1, 'only the victim\'s own earlier sign-in')
})

t.test('link variant: the upstream URL of the attacker\'s approved sign-in ends on an error page in the victim\'s browser', async t => {
  const { baseUrl, victim, attacker, tx, csrf, audits } = await scene(t)
  // The attacker approves his own transaction and keeps the identity provider URL from the 303.
  const approved = await attacker.request(`${baseUrl}/authorize/consent`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: baseUrl, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ transaction: tx, csrf_token: csrf, decision: 'approve' }).toString()
  })
  t.equal(approved.status, 303)
  const upstreamUrl = approved.headers.get('location') ?? ''
  t.equal(new URL(upstreamUrl).searchParams.get('state'), tx, 'the link carries the attacker\'s transaction')

  // The victim follows the link: single sign-on at the identity provider, then our callback.
  const page = await victim.navigate(upstreamUrl, { stopAt: reachesAttacker })
  t.equal(page.stoppedAt, undefined, 'no code goes to the attacker\'s redirect URI')
  t.ok(page.chain.some(u => u.startsWith(`${baseUrl}/auth/callback?`)), 'the identity provider answered to the callback without a page (SSO)')
  t.equal(page.status, 403)
  t.match(page.body, /started in another browser/)
  t.match(page.body, /Nothing was sent to the application/)
  t.match(audits('login.failed').at(-1), { reason: 'other_browser', outcome: 'denied' })
  t.equal(audits('login.succeeded').length, 1, 'only the victim\'s own earlier sign-in')
  t.equal(audits('token.issued').length, 1, 'and only the victim\'s own tokens')
})

t.test('a callback from another browser does not burn the sign-in of the browser that started it', async t => {
  const { baseUrl, victim } = await scene(t)
  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  // The user's browser runs the flow up to Entra's answer, which is not fetched yet.
  const started = await victim.authorize(request.url, { stopAt: u => u.startsWith(`${baseUrl}/auth/callback`) })
  const callbackUrl = started.url
  t.match(callbackUrl, /\/auth\/callback\?.*code=/)

  const stranger = await new Browserless().navigate(callbackUrl)
  t.equal(stranger.status, 403, 'the same callback URL in another browser is refused')
  const forged = await new Browserless().navigate(callbackUrl.replace(/code=[^&]+/, 'code=forged'))
  t.equal(forged.status, 403)

  const own = await victim.navigate(callbackUrl, { stopAt: u => u.startsWith(client.redirect_uris[0]) })
  const params = new URL(own.stoppedAt ?? 'http://x/').searchParams
  t.ok(params.get('code'), 'the browser that started the sign-in still finishes it')
  t.equal(params.get('state'), request.state)
})
