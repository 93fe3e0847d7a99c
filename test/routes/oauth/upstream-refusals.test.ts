// Issue #11 §7: Entra refusing a renewal for good (the service's secret expired, its registration
// broken, a scope it asks for gone) is told from a passing failure. Permanent: logged at error level
// with the AADSTS code (throttled), audited upstream.error, shown by /health/ready when it concerns
// the service's own credentials, and answered so that the client stops retrying.
import t from 'tap'
import { Browserless } from '../../support/browserless.ts'
import { serviceWithEntraLike } from '../../support/entra-like-server.ts'
import { auditsOf, authorizeRequest, claimsOf, fullFlow, registerClient, signIn, tokenRequest } from '../../support/oauth-flow.ts'

const TENANT = '6d7e8f90-a1b2-4c3d-8e4f-5a6b7c8d9e0f'
const CLIENT = '9e0f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b'
const SECRET = 'the app secret'

const EXPIRED_SECRET = { status: 401, body: { error: 'invalid_client', error_description: `AADSTS7000222: The provided client secret keys for app '${CLIENT}' are expired.\r\nTrace ID: 1 Correlation ID: 2` } }
const THROTTLED = { status: 400, body: { error: 'invalid_request', error_description: 'AADSTS50196: The server terminated an operation because it encountered a client request loop.' } }
const UNKNOWN_SCOPE = { status: 400, body: { error: 'invalid_scope', error_description: 'AADSTS70011: The provided value for the input parameter \'scope\' is not valid.' } }

// Entra access tokens that near expiry at once: every client refresh renews the upstream grant.
const { entra, app, api, baseUrl, logs } = await serviceWithEntraLike(t, { tenantId: TENANT, clientId: CLIENT, secret: SECRET, accessTokenTtl: 120 })

async function signedIn () {
  entra.refuseTokenRequests()
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client, new Browserless(), { scope: 'tools.read graph.read' })
  if (tokens.status !== 200) throw new Error(JSON.stringify(tokens.body))
  const refresh = (refreshToken = tokens.body.refresh_token as string) => tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id })
  return { client, tokens, refresh, sid: claimsOf(tokens.body.access_token).sid as string }
}

const ready = async () => (await app.inject('/health/ready')).json()
const errorLines = () => logs.map(l => JSON.parse(l)).filter(l => l.level === 'error' && l.upstream_error !== undefined)

t.test('the service\'s client secret expired: non-retryable server_error, logged once, audited, readiness says so, then recovers', async t => {
  const { client, refresh, sid, tokens } = await signedIn()
  t.same((await ready()).checks.upstream_credentials, { ok: true, detail: 'not refused by Microsoft Entra ID' })
  const errorsBefore = errorLines().length

  entra.refuseTokenRequests(EXPIRED_SECRET)
  const refused = await refresh()
  t.equal(refused.status, 500, 'not 503: retrying cannot help')
  t.equal(refused.body.error, 'server_error')
  t.match(refused.body.error_description, /AADSTS7000222/)
  t.match(refused.body.error_description, /operator/)
  t.notMatch(refused.body.error_description, /retry shortly/i)
  t.notMatch(refused.body.error_description, /Trace ID|client secret keys/, 'Entra\'s own text (app id, trace) is not passed on')
  t.equal(refused.headers.get('retry-after'), null, 'no Retry-After')
  await refresh()
  await t.rejects(api.upstreamTokens.forGrant(sid), { code: 'upstream_refused' }, 'the Graph token path: the same refusal, its code unchanged')

  const logged = errorLines().slice(errorsBefore)
  t.equal(logged.length, 1, 'logged at error level once for three refusals (throttled)')
  t.match(logged[0], { upstream_error: 'invalid_client', aadsts: 'AADSTS7000222', failure: 'credentials' })
  t.notMatch(JSON.stringify(logged[0]), new RegExp(tokens.body.refresh_token), 'no token in the log')
  const audits = auditsOf(logs, 'upstream.error').filter(a => a.aadsts === 'AADSTS7000222')
  t.match(audits, [
    { operation: 'refresh', failure: 'credentials', upstream_error: 'invalid_client', outcome: 'failure', client_id: client.client_id },
    { operation: 'refresh' },
    { operation: 'graph_token', failure: 'credentials' }
  ])

  const notReady = await app.inject('/health/ready')
  t.equal(notReady.statusCode, 503)
  t.match(notReady.json().checks.upstream_credentials, { ok: false, detail: /AADSTS7000222/ })

  entra.refuseTokenRequests()
  const again = await refresh()
  t.equal(again.status, 200, 'the grant was kept: once the operator renews the secret, the same refresh token works')
  t.same((await ready()).checks.upstream_credentials, { ok: true, detail: 'not refused by Microsoft Entra ID' }, 'readiness recovers after a success')
})

t.test('transient refusals (throttling, Entra down) stay 503 temporarily_unavailable with Retry-After, and leave readiness alone', async t => {
  const { refresh } = await signedIn()
  for (const answer of [THROTTLED, { status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' } }]) {
    entra.refuseTokenRequests(answer)
    const res = await refresh()
    t.equal(res.status, 503, answer.body.error_description)
    t.equal(res.body.error, 'temporarily_unavailable')
    t.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After')
  }
  t.equal((await ready()).checks.upstream_credentials.ok, true)
  entra.refuseTokenRequests()
  t.equal((await refresh()).status, 200, 'the refresh token survived')
})

t.test('a scope Entra no longer knows: server_error for the operator, audited as configuration, readiness unaffected', async t => {
  const { refresh } = await signedIn()
  entra.refuseTokenRequests(UNKNOWN_SCOPE)
  const res = await refresh()
  t.equal(res.status, 500)
  t.equal(res.body.error, 'server_error')
  t.match(res.body.error_description, /AADSTS70011/)
  t.equal(res.headers.get('retry-after'), null)
  t.match(auditsOf(logs, 'upstream.error').at(-1), { operation: 'refresh', failure: 'configuration', upstream_error: 'invalid_scope', aadsts: 'AADSTS70011' })
  t.equal((await ready()).checks.upstream_credentials.ok, true)
  entra.refuseTokenRequests()
})

t.test('the user must sign in again (interaction_required): invalid_grant, audited as sign_in_ended', async t => {
  const { refresh } = await signedIn()
  entra.refuseTokenRequests({ status: 400, body: { error: 'interaction_required', error_description: 'AADSTS50058: A silent sign-in request was sent but no user is signed in.' } })
  const res = await refresh()
  t.equal(res.status, 400)
  t.equal(res.body.error, 'invalid_grant')
  t.match(auditsOf(logs, 'upstream.error').at(-1), { operation: 'refresh', failure: 'sign_in_ended', aadsts: 'AADSTS50058' })
  entra.refuseTokenRequests()
})

t.test('code redemption refused for the service\'s credentials: the client gets server_error, readiness shows it', async t => {
  entra.refuseTokenRequests()
  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  const browser = new Browserless()
  // Sign-in at Entra works (no token request); only the redemption at /auth/callback is refused.
  entra.refuseTokenRequests({ status: 401, body: { error: 'invalid_client', error_description: 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.' } })
  const back = await signIn(browser, request.url)
  t.equal(back.get('error'), 'server_error')
  t.match(back.get('error_description'), /AADSTS700027/)
  t.match(auditsOf(logs, 'upstream.error').at(-1), { operation: 'code_redemption', failure: 'credentials', aadsts: 'AADSTS700027', client_id: client.client_id })
  t.match((await ready()).checks.upstream_credentials, { ok: false, detail: /AADSTS700027/ })
  entra.refuseTokenRequests()
})
