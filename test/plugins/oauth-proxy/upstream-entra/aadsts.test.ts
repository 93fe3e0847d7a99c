// The one reading of Entra's refusals (plugins/oauth-proxy/upstream-entra/aadsts.ts), without Fastify.
import t from 'tap'
import { aadstsOf, clientErrorFor, consentMissing, graphConsentMissing, readableDescription, upstreamFailure } from '../../../../plugins/oauth-proxy/upstream-entra/aadsts.ts'
import { UpstreamError, upstreamErrorFrom } from '../../../../plugins/oauth-proxy/upstream-entra/errors.ts'

t.test('Entra errors map to client errors with readable descriptions', async t => {
  t.same(clientErrorFor('access_denied', 'AADSTS65004: User declined'), { error: 'access_denied', description: 'Microsoft Entra ID: AADSTS65004: User declined' })
  t.equal(clientErrorFor('interaction_required', 'AADSTS50076: MFA').error, 'access_denied')
  t.equal(clientErrorFor('temporarily_unavailable', 'x').error, 'temporarily_unavailable')
  t.same(clientErrorFor('invalid_client', 'AADSTS7000215: Invalid client secret provided.'), { error: 'server_error', description: 'Microsoft Entra ID: AADSTS7000215: Invalid client secret provided. (invalid_client)' })
  t.equal(readableDescription('AADSTS50011: The redirect URI does not match.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024'), 'AADSTS50011: The redirect URI does not match.')
  t.equal(readableDescription(undefined), 'Microsoft Entra ID gave no description')
  t.equal(readableDescription('x'.repeat(1000)).length, 400)
})

t.test('upstreamFailure tells the kinds apart', async t => {
  const kind = (error: string, description: string, transient = false) => upstreamFailure(new UpstreamError(error, description, transient))
  t.equal(kind('invalid_client', 'AADSTS7000222: expired secret'), 'credentials')
  t.equal(kind('invalid_client', 'AADSTS7000215: Invalid client secret provided.'), 'credentials')
  t.equal(kind('unauthorized_client', 'AADSTS700016: Application not found in the directory'), 'credentials')
  t.equal(kind('invalid_request', 'AADSTS700027: bad certificate assertion'), 'credentials', 'by AADSTS code whatever the error name')
  t.equal(kind('invalid_grant', 'AADSTS50173: The provided grant has expired'), 'sign_in_ended')
  t.equal(kind('interaction_required', 'AADSTS50076: MFA'), 'sign_in_ended')
  t.equal(kind('invalid_scope', 'AADSTS70011: bad scope'), 'configuration')
  t.equal(kind('temporarily_unavailable', 'Microsoft Entra ID could not be reached', true), 'transient')
  t.equal(kind('invalid_request', 'AADSTS50196: client request loop'), 'transient')
  t.equal(kind('server_error', 'Microsoft Entra ID answered HTTP 500', true), 'transient')
})

t.test('the AADSTS code is read from a description', async t => {
  t.equal(aadstsOf('AADSTS65001: The user or administrator has not consented'), 'AADSTS65001')
  t.equal(aadstsOf('no code here'), undefined)
  t.equal(aadstsOf(undefined), undefined)
  t.equal(new UpstreamError('invalid_grant', 'AADSTS50173: expired').aadsts, 'AADSTS50173')
})

t.test('missing consent: for on-behalf-of by AADSTS65001 or consent_required; for Graph also an unknown scope', async t => {
  const err = (error: string, description: string) => new UpstreamError(error, description)
  t.ok(consentMissing(err('invalid_grant', 'AADSTS65001: not consented')))
  t.ok(consentMissing(err('consent_required', 'x')))
  t.notOk(consentMissing(err('invalid_scope', 'AADSTS70011: bad scope')))
  t.ok(graphConsentMissing(err('invalid_scope', 'x')))
  t.ok(graphConsentMissing(err('invalid_request', 'AADSTS70011: bad scope')))
  t.notOk(graphConsentMissing(err('invalid_grant', 'AADSTS50173: expired')))
})

t.test('Entra error bodies and transport failures become UpstreamErrors', async t => {
  t.match(upstreamErrorFrom(400, { error: 'invalid_grant', error_description: 'AADSTS50173: gone\r\nTrace ID: 1' }), { error: 'invalid_grant', message: 'AADSTS50173: gone', transient: false, aadsts: 'AADSTS50173' })
  t.match(upstreamErrorFrom(503, { error: 'temporarily_unavailable' }), { transient: true })
  t.match(upstreamErrorFrom(undefined, undefined), { error: 'temporarily_unavailable', transient: true })
  t.match(upstreamErrorFrom(429, 'not json'), { error: 'temporarily_unavailable', transient: true })
  t.match(upstreamErrorFrom(401, undefined), { error: 'server_error', transient: false, message: 'Microsoft Entra ID answered HTTP 401' })
  const err = upstreamErrorFrom(undefined, undefined)
  t.type(err, UpstreamError)
  t.equal(err.name, 'UpstreamError')
  t.equal(err.code, 'FST_UPSTREAM_ENTRA_REFUSED')
})
