// Issue #16 §2: Conditional Access and continuous access evaluation. The service declares the CP1
// client capability upstream; a claims challenge from Entra ends the grant with an answer a person
// understands, is audited, and the next sign-in of that user with that client passes the challenge
// to Entra, so the user is asked for exactly what the policy requires. "Entra" is the development
// identity provider on its own port; its user Margaret Hamilton needs MFA, the others do not.
import t from 'tap'
import { Browserless } from '../../support/browserless.ts'
import { serviceWithEntraLike } from '../../support/entra-like-server.ts'
import { MFA_CHALLENGE } from '../../../dev-idp/conditional-access.ts'
import { REDIRECT_URI, auditsOf, authorizeRequest, claimsOf, fullFlow, mcpStatus, registerClient, tokenRequest } from '../../support/oauth-flow.ts'

const TENANT = '7e8f9a0b-b1c2-4d3e-9f4a-6b7c8d9e0f1a'
const CLIENT = 'a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d'
const SECRET = 'the app secret'
const MARGARET = 'Margaret Hamilton'
const ADA = 'Ada Lovelace'
const oidOf = (name: string) => entra.idp.users.find(u => u.name === name)?.oid as string

// Entra access tokens that near expiry at once: every client refresh renews the upstream grant.
const { entra, api, baseUrl, logs } = await serviceWithEntraLike(t, { tenantId: TENANT, clientId: CLIENT, secret: SECRET, accessTokenTtl: 120 })

const claimsOfRequest = (form: URLSearchParams | undefined) => JSON.parse(form?.get('claims') ?? 'null')
const authorizeRequests = () => entra.requests.filter(r => r.method === 'GET' && r.url.pathname.endsWith('/oauth2/v2.0/authorize'))
const tokenForms = () => entra.requests.filter(r => r.form !== undefined && r.url.pathname.endsWith('/oauth2/v2.0/token')).map(r => r.form as URLSearchParams)

async function signedIn (user: string, client?: Awaited<ReturnType<typeof registerClient>>) {
  client ??= await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client, new Browserless(), { scope: 'tools.read graph.read' }, { user })
  if (tokens.status !== 200) throw new Error(JSON.stringify(tokens.body))
  const refresh = () => tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  return { client, tokens, refresh, sid: claimsOf(tokens.body.access_token).sid as string }
}

t.test('every upstream request declares the CP1 client capability, so Entra sends claims challenges instead of letting tokens run on', async t => {
  const before = { authorize: authorizeRequests().length, token: tokenForms().length }
  const { refresh } = await signedIn(ADA)
  t.equal((await refresh()).status, 200)
  const authorize = authorizeRequests().slice(before.authorize)
  const forms = tokenForms().slice(before.token)
  t.ok(authorize.length >= 1 && forms.length >= 2, 'a sign-in, a code redemption and a renewal reached Entra')
  for (const request of authorize) t.same(claimsOfRequest(request.url.searchParams), { access_token: { xms_cc: { values: ['CP1'] } } }, 'authorize')
  for (const form of forms) t.same(claimsOfRequest(form).access_token.xms_cc, { values: ['CP1'] }, `token request (${form.get('grant_type')})`)
})

t.test('a claims challenge on a renewal ends the grant with an answer a person understands, and is audited', async t => {
  entra.idp.demands.demand(oidOf(ADA))
  const { refresh, tokens, sid } = await signedIn(ADA)
  const res = await refresh()
  t.equal(res.status, 400)
  t.equal(res.body.error, 'invalid_grant')
  t.match(res.body.error_description, /sign-in policy \(Conditional Access\) requires you to sign in again \(AADSTS50076\)/)
  t.match(auditsOf(logs, 'upstream.claims_challenge').at(-1), { operation: 'refresh', aadsts: 'AADSTS50076', claims_challenge: true, upstream_error: 'interaction_required' })
  t.match(auditsOf(logs, 'token.revoked').at(-1), { reason: 'upstream_ended', token_type: 'grant' })
  t.equal(await api.grants.readGrant(sid), null, 'the grant is gone')
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 401, 'its access token is refused at once')
})

t.test('the next sign-in of that user with that client passes the challenge to Entra; the user does MFA and the new grant renews', async t => {
  const first = await signedIn(MARGARET)
  const ended = await first.refresh()
  t.equal(ended.status, 400, 'Margaret needs MFA: her renewal is challenged')
  const before = authorizeRequests().length
  const again = await signedIn(MARGARET, first.client)
  const legs = authorizeRequests().slice(before)
  t.equal(legs.length, 2, 'a plain leg, then a second leg for the challenge')
  const second = legs[1].url.searchParams
  t.same(claimsOfRequest(second), { ...MFA_CHALLENGE, access_token: { ...MFA_CHALLENGE.access_token, xms_cc: { values: ['CP1'] } } }, 'the challenge, with CP1, as the claims parameter')
  t.equal(second.get('login_hint'), 'margaret@dev-idp.example.com', 'for the same user')
  t.match(auditsOf(logs, 'upstream.claims_challenge').at(-1), { operation: 'sign_in', passed_to_entra: true, client_id: first.client.client_id })
  t.equal(entra.idp.demands.pending(claimsOf(again.tokens.body.access_token).oid), undefined, 'Entra saw the policy satisfied')
  t.equal((await again.refresh()).status, 200, 'and the new grant renews')
})

t.test('a challenge waits only for the same user and client: another client signs in with one leg', async t => {
  const margaret = oidOf(MARGARET)
  entra.idp.demands.demand(margaret)
  const first = await signedIn(MARGARET)
  t.equal((await first.refresh()).status, 400)
  entra.idp.demands.satisfy(margaret, JSON.stringify(MFA_CHALLENGE))
  const before = authorizeRequests().length
  await signedIn(MARGARET)
  t.equal(authorizeRequests().length - before, 1, 'no second leg for another client')
})

t.test('the second leg stays bound to the browser that started the sign-in: its callback carried to another browser is refused, and the first browser still finishes', async t => {
  const margaret = oidOf(MARGARET)
  entra.idp.demands.demand(margaret)
  const first = await signedIn(MARGARET)
  t.equal((await first.refresh()).status, 400, 'the renewal is challenged: a challenge waits for the next sign-in')
  const request = await authorizeRequest(baseUrl, first.client, { scope: 'tools.read graph.read' })
  const victim = new Browserless()
  let callbacks = 0
  const secondCallback = await victim.authorize(request.url, { user: MARGARET, stopAt: u => u.startsWith(`${baseUrl}/auth/callback`) && ++callbacks === 2 })
  t.equal(callbacks, 2, 'stopped before the second leg\'s callback')
  const stranger = await new Browserless().navigate(secondCallback.url)
  t.equal(stranger.status, 403, 'another browser cannot finish it')
  t.match(stranger.body, /started in another browser/)
  const finished = await victim.navigate(secondCallback.url, { stopAt: u => u.startsWith(REDIRECT_URI) })
  const params = new URL(finished.stoppedAt as string).searchParams
  t.ok(params.get('code'), 'the browser that started it finishes the sign-in')
  t.equal(params.get('state'), request.state)
})
