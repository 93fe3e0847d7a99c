// Server-side use of Entra's tokens against a scripted token endpoint: Graph tokens for a grant
// (upstreamTokens.forGrant), the on-behalf-of exchange, and renewal at a client refresh.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helper.ts'
import { makeCertificateFile } from '../../support/oauth-certificate.ts'
import { UpstreamTokenError } from '../../../plugins/oauth-proxy.ts'
import { graphScopesFor } from '../../../plugins/oauth-proxy/upstream-entra/graph.ts'
import type { AuthorizeTransaction } from '../../../plugins/oauth-proxy/authorize/transactions.ts'
import { claimsOf, registerClient, tokenRequest } from '../../support/oauth-flow.ts'

const TENANT = '4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d'
const CLIENT = '5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e'

type Answer = { status: number, body: Record<string, unknown> }
const requests: URLSearchParams[] = []
let answer: (form: URLSearchParams) => Answer = () => ({ status: 200, body: { access_token: 'at', expires_in: 3600 } })
const server = createServer((req, res) => {
  let data = ''
  req.on('data', c => { data += c })
  req.on('end', () => {
    const form = new URLSearchParams(data)
    requests.push(form)
    const { status, body } = answer(form)
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  })
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
const authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const tokenUrl = `${authority}/${TENANT}/oauth2/v2.0/token`
const certificate = makeCertificateFile(t)

async function setup (t: Parameters<typeof build>[0], env: Record<string, string> = {}) {
  let inner: FastifyInstance | undefined
  const app = await build(t, {
    AZURE_TENANT_ID: TENANT,
    AZURE_CLIENT_ID: CLIENT,
    AZURE_CLIENT_SECRET: 's3cret value',
    AZURE_AUTHORITY_HOST: authority,
    MCP_BASE_URL: 'http://127.0.0.1:9',
    RATE_LIMIT_ENABLED: 'false',
    ...env
  }, { setup: i => { inner = i } })
  const api = inner as FastifyInstance
  const grantFor = async (clientId: string, tokens: { refresh_token?: string, expires_in?: number } = {}) => {
    const tx: AuthorizeTransaction = { id: 'x'.repeat(43), clientId, redirectUri: 'http://127.0.0.1:1/cb', codeChallenge: 'c'.repeat(43), scopes: ['tools.read', 'graph.read'], resource: api.config.resource, csrf: 'c', browser: 'b', createdAt: 0 }
    return await api.grants.createGrant({ tx, user: { sub: 's', oid: 'o', tid: TENANT, name: 'N' }, tokens: { access_token: 'entra-at', expires_in: tokens.expires_in ?? 3600, refresh_token: tokens.refresh_token } })
  }
  return { app, api, grantFor }
}

t.test('graph scopes: configured names become Graph scopes, else .default', async t => {
  t.same(graphScopesFor([]), ['https://graph.microsoft.com/.default'])
  t.same(graphScopesFor(['User.Read', 'https://graph.microsoft.com/Mail.Read']), ['https://graph.microsoft.com/User.Read', 'https://graph.microsoft.com/Mail.Read'])
})

t.test('forGrant: a Graph token from the Entra refresh token, cached, with the rotated refresh token kept', async t => {
  const { api, grantFor } = await setup(t)
  const { grant } = await grantFor('c1', { refresh_token: 'entra-rt-1' })
  requests.length = 0
  answer = () => ({ status: 200, body: { access_token: 'graph-at', expires_in: 3600, refresh_token: 'entra-rt-2', scope: 'https://graph.microsoft.com/User.Read' } })
  const first = await api.upstreamTokens.forGrant(grant.sid)
  t.same(first, { accessToken: 'graph-at', scopes: ['https://graph.microsoft.com/User.Read'] })
  t.equal(requests.length, 1)
  const form = requests[0]
  t.equal(form.get('grant_type'), 'refresh_token')
  t.equal(form.get('refresh_token'), 'entra-rt-1')
  t.equal(form.get('scope'), 'https://graph.microsoft.com/.default')
  t.equal(form.get('client_id'), CLIENT)
  t.equal(form.get('client_secret'), 's3cret value', 'client secret in the body (simple-oauth2, authorizationMethod body)')
  t.equal(form.get('resource'), null)
  const again = await api.upstreamTokens.forGrant(grant.sid)
  t.equal(again.accessToken, 'graph-at')
  t.equal(requests.length, 1, 'served from the sealed cache in the grant')
  const upstream = api.grants.openUpstream((await api.grants.readGrant(grant.sid))!)
  t.equal(upstream.refreshToken, 'entra-rt-2')
})

t.test('forGrant errors are clear: no consent for Graph, Entra down, no refresh token, grant gone', async t => {
  const { api, grantFor } = await setup(t)
  const { grant } = await grantFor('c1', { refresh_token: 'rt' })
  answer = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'AADSTS65001: The user or administrator has not consented to use the application.\r\nTrace ID: x' } })
  const consent = await api.upstreamTokens.forGrant(grant.sid).catch(e => e)
  t.type(consent, UpstreamTokenError)
  t.equal(consent.code, 'graph_consent_required')
  t.match(consent.message, /no consent for Microsoft Graph.*AADSTS65001/)
  t.notMatch(consent.message, /Trace ID/)
  answer = () => ({ status: 503, body: {} })
  t.equal((await api.upstreamTokens.forGrant(grant.sid).catch(e => e)).code, 'upstream_unavailable')
  const { grant: noRefresh } = await grantFor('c1', {})
  t.equal((await api.upstreamTokens.forGrant(noRefresh.sid).catch(e => e)).code, 'no_refresh_token')
  t.equal((await api.upstreamTokens.forGrant('no-such-grant').catch(e => e)).code, 'grant_not_found')
})

t.test('on-behalf-of: jwt-bearer grant with the secret, or with the certificate assertion', async t => {
  const { api } = await setup(t, { AZURE_GRAPH_SCOPES: 'User.Read' })
  requests.length = 0
  answer = () => ({ status: 200, body: { access_token: 'obo-at', expires_in: 1800, scope: 'https://graph.microsoft.com/User.Read' } })
  const obo = await api.upstreamTokens.onBehalfOf('incoming.entra.token')
  t.same(obo, { accessToken: 'obo-at', scopes: ['https://graph.microsoft.com/User.Read'], expiresIn: 1800 })
  const form = requests[0]
  t.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer')
  t.equal(form.get('assertion'), 'incoming.entra.token')
  t.equal(form.get('requested_token_use'), 'on_behalf_of')
  t.equal(form.get('scope'), 'https://graph.microsoft.com/User.Read')
  t.equal(form.get('client_secret'), 's3cret value')

  const cert = await setup(t, { AZURE_CLIENT_SECRET: '', AZURE_CLIENT_CERTIFICATE_PATH: certificate.path })
  requests.length = 0
  await cert.api.upstreamTokens.onBehalfOf('incoming.entra.token', ['api://downstream/.default'])
  const certForm = requests[0]
  t.equal(certForm.get('client_secret'), null, 'no secret with a certificate')
  t.equal(certForm.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
  t.equal(certForm.get('scope'), 'api://downstream/.default')
  const assertion = certForm.get('client_assertion') as string
  const header = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString())
  t.match(header, { alg: 'RS256', x5t: /^[\w-]{27}$/, 'x5t#S256': /^[\w-]{43}$/ })
  t.match(claimsOf(assertion), { aud: tokenUrl, iss: CLIENT, sub: CLIENT })

  answer = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'AADSTS50013: Assertion failed signature validation.' } })
  const refused = await cert.api.upstreamTokens.onBehalfOf('bad').catch(e => e)
  t.equal(refused.code, 'upstream_refused')
  t.match(refused.message, /AADSTS50013/)
})

t.test('client refresh near Entra expiry: Entra ended the session -> invalid_grant and grant revoked; Entra down -> 503 and the refresh token survives', async t => {
  const { app, api, grantFor } = await setup(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const client = await registerClient(baseUrl)
  const issue = async () => {
    const { grant } = await grantFor(client.client_id, { refresh_token: 'entra-rt', expires_in: 60 })
    return await api.grants.issueTokens(grant, grant.scopes, { refreshToken: true })
  }
  const refresh = (rt: string) => tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: client.client_id })

  const down = await issue()
  answer = () => ({ status: 503, body: { error: 'temporarily_unavailable', error_description: 'AADSTS90033: A transient error has occurred.' } })
  const unavailable = await refresh(down.refresh_token as string)
  t.equal(unavailable.status, 503)
  t.equal(unavailable.body.error, 'temporarily_unavailable')
  answer = () => ({ status: 200, body: { access_token: 'entra-at-2', expires_in: 3600, refresh_token: 'entra-rt-2' } })
  const retried = await refresh(down.refresh_token as string)
  t.equal(retried.status, 200, 'the refresh token was not spent by the failed attempt')

  const ended = await issue()
  answer = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'AADSTS50173: The provided grant has expired due to it being revoked.' } })
  const res = await refresh(ended.refresh_token as string)
  t.equal(res.status, 400)
  t.equal(res.body.error, 'invalid_grant')
  t.match(res.body.error_description, /AADSTS50173/)
  t.equal(await api.grants.readGrant(claimsOf(ended.access_token).sid), null, 'grant removed')
})
