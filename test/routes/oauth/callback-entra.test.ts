// The upstream leg against a stand-in for real Entra (the Entra-shaped provider on its own port),
// with Azure settings and certificate authentication (AZURE_CLIENT_CERTIFICATE_PATH).
import t from 'tap'
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { build, freePort } from '../../helper.ts'
import { Browserless } from '../../support/browserless.ts'
import { startEntraLike, type EntraLikeServer } from '../../support/entra-like-server.ts'
import { makeCertificateFile } from '../../support/oauth-certificate.ts'
import { IdTokenError } from '../../../plugins/oauth-proxy/upstream-entra/errors.ts'
import { auditsOf, authorizeRequest, claimsOf, fullFlow, mcpStatus, registerClient, REDIRECT_URI, tokenRequest } from '../../support/oauth-flow.ts'

const TENANT = '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b'
const CLIENT = '7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e'
const OTHER_CLIENT = '8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f'

const certificate = makeCertificateFile(t)
const wrongCertificate = makeCertificateFile(t)
const idpKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey

interface Setup { app: FastifyInstance, inner: FastifyInstance, baseUrl: string, logs: string[] }

async function startApp (t: Parameters<typeof build>[0], entra: EntraLikeServer, port: number, env: Record<string, string>): Promise<Setup> {
  const baseUrl = `http://127.0.0.1:${port}`
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, {
    AZURE_TENANT_ID: TENANT,
    AZURE_CLIENT_ID: CLIENT,
    AZURE_CLIENT_CERTIFICATE_PATH: certificate.path,
    AZURE_AUTHORITY_HOST: entra.url,
    AZURE_GRAPH_SCOPES: 'User.Read',
    MCP_BASE_URL: baseUrl,
    PORT: String(port),
    RATE_LIMIT_ENABLED: 'false',
    LOG_LEVEL: 'info',
    ...env
  }, { logs, setup: i => { inner = i } })
  await app.listen({ port, host: '127.0.0.1' })
  return { app, inner: inner as FastifyInstance, baseUrl, logs }
}

const ports = { main: await freePort(), wrong: await freePort() }
const entra = await startEntraLike({
  tenantId: TENANT,
  signingKey: idpKey,
  // Entra access tokens that near expiry at once: every client refresh renews the upstream grant.
  ttl: { accessToken: 120 },
  clients: [
    { clientId: CLIENT, certificatePem: certificate.certPem, redirectUris: [`http://127.0.0.1:${ports.main}/auth/callback`] },
    { clientId: OTHER_CLIENT, certificatePem: certificate.certPem, redirectUris: [`http://127.0.0.1:${ports.wrong}/auth/callback`] }
  ]
})
t.teardown(() => entra.close())
const tokenPath = new URL(entra.endpoints.token).pathname
const hits = () => entra.hits.get(tokenPath) ?? 0

t.test('certificate credential: sign-in, code redemption, refresh and a Graph token all use the client assertion', async t => {
  const { inner, baseUrl, logs } = await startApp(t, entra, ports.main, {})
  t.equal(inner.config.entra.certificate !== undefined, true)
  const client = await registerClient(baseUrl)
  const before = hits()
  const { tokens } = await fullFlow(baseUrl, client, new Browserless(), { scope: 'tools.read graph.read' })
  t.equal(tokens.status, 200, JSON.stringify(tokens.body))
  t.equal(hits() - before, 1, 'one code redemption at Entra')
  const claims = claimsOf(tokens.body.access_token)
  t.match(claims, { tid: TENANT, name: 'Ada Lovelace', scope: 'tools.read graph.read' })
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200)
  t.match(auditsOf(logs, 'login.succeeded'), [{ tid: TENANT }])

  // Entra's access token has 120 s left (< 300 s): the client's refresh renews it server-side.
  const grantBefore = await inner.grants.readGrant(claims.sid)
  const upstreamBefore = inner.grants.openUpstream(grantBefore!)
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refreshed.status, 200)
  t.equal(hits() - before, 2, 'the Entra refresh token was used')
  const upstreamAfter = inner.grants.openUpstream((await inner.grants.readGrant(claims.sid))!)
  t.not(upstreamAfter.accessToken, upstreamBefore.accessToken, 'a new Entra access token')
  t.not(upstreamAfter.refreshToken, upstreamBefore.refreshToken, 'Entra rotated its refresh token')

  const graph = await inner.upstreamTokens.forGrant(claims.sid)
  t.equal(claimsOf(graph.accessToken).aud, 'https://graph.microsoft.com', 'a token for Microsoft Graph')
  t.ok(graph.scopes.some(s => /User\.Read/.test(s)))
  t.equal(hits() - before, 3)
})

t.test('a certificate Entra does not know: the client gets server_error naming the refusal', async t => {
  const { baseUrl, logs } = await startApp(t, entra, ports.wrong, { AZURE_CLIENT_ID: OTHER_CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: wrongCertificate.path })
  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  const { params } = await new Browserless().authorize(request.url, { stopAt: u => u.startsWith(REDIRECT_URI) })
  t.equal(params.get('error'), 'server_error')
  // (real Entra adds AADSTS700027 to the description; the stand-in says only "client authentication failed")
  t.match(params.get('error_description'), /^Microsoft Entra ID: .*\(invalid_client\)$/)
  t.equal(params.get('state'), request.state)
  t.match(auditsOf(logs, 'login.failed'), [{ reason: 'code_redemption', upstream_error: 'invalid_client' }])
})

function idToken (key: KeyObject, kid: string, claims: Record<string, unknown>, alg = 'RS256'): string {
  const now = Math.floor(Date.now() / 1000)
  const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid })).toString('base64url')
  const payload = Buffer.from(JSON.stringify({
    iss: `${entra.url}/${TENANT}/v2.0`, aud: CLIENT, tid: TENANT, sub: 'pairwise-sub', oid: '11111111-2222-4333-8444-555555555555', nonce: 'n-1', iat: now, nbf: now, exp: now + 600, ver: '2.0', name: 'Test', ...claims
  })).toString('base64url')
  return `${header}.${payload}.${sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key).toString('base64url')}`
}

t.test('id token checks: signature via Entra JWKS, iss, aud, nonce, tenant, expiry', async t => {
  const { inner } = await startApp(t, entra, await freePort(), {})
  const kid = entra.idp.jwks.keys[0].kid as string
  const verify = (token: string, nonce = 'n-1') => inner.entra.verifyIdToken(token, nonce)
  const good = await verify(idToken(idpKey, kid, {}))
  t.match(good, { sub: 'pairwise-sub', tid: TENANT, oid: '11111111-2222-4333-8444-555555555555', name: 'Test' })
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const cases: Array<[string, string, string?]> = [
    ['wrong nonce', idToken(idpKey, kid, {}), 'n-2'],
    ['no nonce', idToken(idpKey, kid, { nonce: undefined })],
    ['wrong audience', idToken(idpKey, kid, { aud: OTHER_CLIENT })],
    ['wrong issuer', idToken(idpKey, kid, { iss: `https://login.microsoftonline.com/${TENANT}/v2.0` })],
    ['tenant not allowed', idToken(idpKey, kid, { tid: '99999999-2222-4333-8444-555555555555', iss: `${entra.url}/99999999-2222-4333-8444-555555555555/v2.0` })],
    ['expired', idToken(idpKey, kid, { exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['signed by another key', idToken(otherKey, kid, {})],
    ['unknown kid', idToken(otherKey, 'no-such-kid', {})],
    ['HS256', idToken(idpKey, kid, {}, 'HS256')],
    ['garbage', 'not.a.jwt']
  ]
  for (const [name, token, nonce] of cases) {
    await t.rejects(verify(token, nonce), IdTokenError, name)
  }
})
