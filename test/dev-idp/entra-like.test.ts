import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { startEntraLike, type EntraLikeServer } from '../support/entra-like-server.ts'
import { Browserless, pkcePair } from '../support/browserless.ts'
import { createEntraLikeProvider } from '../../dev-idp/provider.ts'
import { DEFAULT_USERS } from '../../dev-idp/users.ts'
import { verifyJwt, decodeJwt } from '../support/verify-jwt.ts'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const SECRET_CLIENT = 'a1b2c3d4-0000-4000-8000-000000000001'
const CERT_CLIENT = 'a1b2c3d4-0000-4000-8000-000000000002'
const REDIRECT = 'http://127.0.0.1:9/auth/callback'

/** A self-signed certificate made by openssl (node:crypto cannot make X.509 certificates). */
function makeCertificate (): { certPem: string, key: KeyObject, x5t: string, x5tS256: string } {
  const dir = mkdtempSync(join(tmpdir(), 'entra-like-cert-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=entra-like-test', '-days', '2'], { stdio: 'pipe' })
    const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8')
    const der = new X509Certificate(certPem).raw
    return {
      certPem,
      key: createPrivateKey(readFileSync(join(dir, 'key.pem'))),
      x5t: createHash('sha1').update(der).digest('base64url'),
      x5tS256: createHash('sha256').update(der).digest('base64url')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function assertion (key: KeyObject, header: Record<string, string>, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000)
  const h = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header })).toString('base64url')
  const p = Buffer.from(JSON.stringify({ jti: randomUUID(), iat: now, nbf: now, exp: now + 600, ...claims })).toString('base64url')
  return `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), key).toString('base64url')}`
}

const cert = makeCertificate()
let server: EntraLikeServer
t.before(async () => {
  server = await startEntraLike({
    tenantId: TENANT,
    clients: [
      { clientId: SECRET_CLIENT, clientSecret: 'secret-value', redirectUris: [REDIRECT], postLogoutRedirectUris: ['http://127.0.0.1:9/'] },
      { clientId: CERT_CLIENT, certificatePem: cert.certPem, redirectUris: [REDIRECT] }
    ]
  })
})
t.teardown(() => server.close())

function authorizeUrl (clientId: string, extra: Record<string, string> = {}, challenge?: string): string {
  const url = new URL(server.endpoints.authorize)
  url.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: `api://${clientId}/tools.read openid profile offline_access`,
    state: 's-123',
    nonce: 'n-123',
    ...(challenge !== undefined ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
    ...extra
  }).toString()
  return url.href
}

async function token (form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(server.endpoints.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form)
  })
  return { status: res.status, body: await res.json() as Record<string, string> }
}

async function signIn (clientId: string, user = 'Ada Lovelace', extra: Record<string, string> = {}, browser = new Browserless()) {
  const { verifier, challenge } = await pkcePair()
  const result = await browser.authorize(authorizeUrl(clientId, extra, challenge), { user, stopAt: u => u.startsWith(REDIRECT) })
  return { ...result, verifier, browser }
}

const jwks = async () => await (await fetch(server.endpoints.jwks)).json()

const SECRET_AUTH = { client_id: SECRET_CLIENT, client_secret: 'secret-value' }

/** Redeems a sign-in's code with its PKCE verifier at the token endpoint, with the given client authentication. */
async function redeem (signedIn: { params: URLSearchParams, verifier: string }, auth: Record<string, string>, headers: Record<string, string> = {}) {
  return await token({ grant_type: 'authorization_code', code: signedIn.params.get('code') as string, redirect_uri: REDIRECT, code_verifier: signedIn.verifier, ...auth }, headers)
}

/** private_key_jwt client authentication with the given assertion. */
const byAssertion = (jwt: string) => ({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt })

/** A client assertion of the certificate client for the token endpoint, signed with its key. */
const certAssertion = (header: Record<string, string> = { x5t: cert.x5t }, claims: Record<string, unknown> = {}, key: KeyObject = cert.key) =>
  assertion(key, header, { iss: CERT_CLIENT, sub: CERT_CLIENT, aud: server.endpoints.token, ...claims })

t.test('private_key_jwt with a certificate (x5t header, aud = token endpoint) is accepted', async t => {
  const res = await redeem(await signIn(CERT_CLIENT, 'Alan Turing'), { client_id: CERT_CLIENT, ...byAssertion(certAssertion()) })
  t.equal(res.status, 200, JSON.stringify(res.body))
  const at = verifyJwt(res.body.access_token, await jwks(), { issuer: server.issuer, audience: CERT_CLIENT })
  t.equal(at.payload.azpacr, '2', 'certificate-authenticated client')
  t.equal(at.payload.oid, DEFAULT_USERS[2].oid)
  t.equal(at.payload.scp, 'tools.read')
})

t.test('private_key_jwt with x5t#S256 only is accepted', async t => {
  const res = await redeem(await signIn(CERT_CLIENT), byAssertion(certAssertion({ 'x5t#S256': cert.x5tS256 })))
  t.equal(res.status, 200, JSON.stringify(res.body))
})

t.test('client assertions that Entra would refuse are refused with invalid_client', async t => {
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const cases: Array<[string, string]> = [
    ['unknown thumbprint', certAssertion({ x5t: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA' })],
    ['no thumbprint header', certAssertion({})],
    ['signed by another key', certAssertion(undefined, {}, other)],
    ['aud is the issuer, not the token endpoint', certAssertion(undefined, { aud: server.issuer })],
    ['expired', certAssertion(undefined, { exp: Math.floor(Date.now() / 1000) - 3600 })]
  ]
  for (const [name, jwt] of cases) {
    const res = await redeem(await signIn(CERT_CLIENT), byAssertion(jwt))
    t.equal(res.status, 401, name)
    t.equal(res.body.error, 'invalid_client', name)
  }
  const bySecret = await redeem(await signIn(CERT_CLIENT), { client_id: CERT_CLIENT, client_secret: 'guess' })
  t.equal(bySecret.body.error, 'invalid_client', 'a certificate client cannot use a secret')
})

t.test('client_secret_basic and client_secret_post both work; a wrong secret is invalid_client', async t => {
  for (const style of ['basic', 'post', 'wrong'] as const) {
    const signedIn = await signIn(SECRET_CLIENT)
    const secret = style === 'wrong' ? 'nope' : 'secret-value'
    const res = style === 'basic'
      ? await redeem(signedIn, {}, { authorization: `Basic ${Buffer.from(`${SECRET_CLIENT}:${secret}`).toString('base64')}` })
      : await redeem(signedIn, { client_id: SECRET_CLIENT, client_secret: secret })
    if (style === 'wrong') {
      t.equal(res.status, 401)
      t.equal(res.body.error, 'invalid_client')
    } else {
      t.equal(res.status, 200, style)
      t.ok(res.body.access_token, style)
    }
  }
})

t.test('cancel on the sign-in page returns access_denied with an AADSTS description', async t => {
  const browser = new Browserless()
  const result = await browser.authorize(authorizeUrl(SECRET_CLIENT), { user: 'cancel', stopAt: u => u.startsWith(REDIRECT) })
  t.equal(result.params.get('error'), 'access_denied')
  t.match(result.params.get('error_description'), /^AADSTS65004/)
  t.equal(result.params.get('state'), 's-123')
  t.notOk(result.params.get('code'))
})

t.test('code exchange checks PKCE and is single use', async t => {
  const { params, verifier } = await signIn(SECRET_CLIENT)
  const wrong = await redeem({ params, verifier: 'x'.repeat(43) }, SECRET_AUTH)
  t.equal(wrong.body.error, 'invalid_grant', 'wrong verifier')

  const second = await signIn(SECRET_CLIENT)
  const ok = await redeem(second, SECRET_AUTH)
  t.equal(ok.status, 200)
  const replay = await redeem(second, SECRET_AUTH)
  t.equal(replay.body.error, 'invalid_grant', 'code replay')
  t.ok(verifier)
})

t.test('no refresh token without offline_access', async t => {
  const res = await redeem(await signIn(SECRET_CLIENT, 'Ada Lovelace', { scope: `api://${SECRET_CLIENT}/tools.read openid profile` }), SECRET_AUTH)
  t.equal(res.status, 200)
  t.notOk(res.body.refresh_token)
  t.ok(res.body.id_token)
})

t.test('a refresh token gets a Microsoft Graph token for Graph scopes (bare or full names)', async t => {
  const first = await redeem(await signIn(SECRET_CLIENT, 'Grace Hopper'), SECRET_AUTH)
  t.equal(first.status, 200)
  const keys = await jwks()
  let refresh = first.body.refresh_token
  for (const scope of ['User.Read', 'https://graph.microsoft.com/User.Read offline_access']) {
    const res = await token({ grant_type: 'refresh_token', refresh_token: refresh, scope, ...SECRET_AUTH })
    t.equal(res.status, 200, JSON.stringify(res.body))
    const graph = verifyJwt(res.body.access_token, keys, { issuer: server.issuer, audience: 'https://graph.microsoft.com' })
    t.equal(graph.payload.scp, 'User.Read')
    t.equal(graph.payload.oid, DEFAULT_USERS[1].oid)
    t.not(res.body.refresh_token, refresh)
    refresh = res.body.refresh_token
  }
  const api = await token({ grant_type: 'refresh_token', refresh_token: refresh, scope: `api://${SECRET_CLIENT}/tools.read`, ...SECRET_AUTH })
  t.equal(api.status, 200)
  t.equal(decodeJwt(api.body.access_token).payload.aud, SECRET_CLIENT, 'back to the API audience')
})

t.test('scopes of an unknown API are refused like AADSTS500011', async t => {
  const browser = new Browserless()
  const page = await browser.navigate(authorizeUrl(SECRET_CLIENT, { scope: 'api://not-registered/x openid' }), { stopAt: u => u.startsWith(REDIRECT) })
  t.ok(page.stoppedAt)
  const back = new URL(page.stoppedAt as string)
  t.equal(back.searchParams.get('error'), 'invalid_target')
  t.match(back.searchParams.get('error_description'), /AADSTS500011/)
})

t.test('a second sign-in in the same browser is silent (SSO); prompt=login shows the page again', async t => {
  const browser = new Browserless()
  const first = await signIn(SECRET_CLIENT, 'Alan Turing', {}, browser)
  t.ok(first.params.get('code'))
  const silent = await browser.navigate(authorizeUrl(SECRET_CLIENT), { stopAt: u => u.startsWith(REDIRECT) })
  t.ok(silent.stoppedAt?.includes('code='), 'no sign-in page')
  const again = await browser.navigate(authorizeUrl(SECRET_CLIENT, { prompt: 'login' }), { stopAt: u => u.startsWith(REDIRECT) })
  t.equal(again.status, 200)
  t.match(again.body, 'Sign in as Ada Lovelace')
})

t.test('logout ends the session and returns to the post-logout URI', async t => {
  const browser = new Browserless()
  const tokens = await redeem(await signIn(SECRET_CLIENT, 'Ada Lovelace', {}, browser), SECRET_AUTH)
  const url = new URL(server.endpoints.logout)
  url.search = new URLSearchParams({ id_token_hint: tokens.body.id_token, post_logout_redirect_uri: 'http://127.0.0.1:9/', state: 'bye' }).toString()
  const confirm = await browser.navigate(url.href)
  t.equal(confirm.status, 200)
  const done = await browser.submit(confirm, { name: 'logout', value: 'yes' }, { stopAt: u => u.startsWith('http://127.0.0.1:9/') })
  t.equal(done.stoppedAt, 'http://127.0.0.1:9/?state=bye')
  const after = await browser.navigate(authorizeUrl(SECRET_CLIENT), { stopAt: u => u.startsWith(REDIRECT) })
  t.equal(after.status, 200, 'signed out: the sign-in page shows again')
  t.match(after.body, 'Pick an account')
})

t.test('the signing key id is derived from the key, so it is stable across restarts', async t => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const a = createEntraLikeProvider({ origin: 'http://127.0.0.1:1', tenantId: TENANT, clients: [], signingKey: key })
  const b = createEntraLikeProvider({ origin: 'http://127.0.0.1:2', tenantId: TENANT, clients: [], signingKey: key })
  const c = createEntraLikeProvider({ origin: 'http://127.0.0.1:1', tenantId: TENANT, clients: [] })
  t.equal(a.jwks.keys[0].kid, b.jwks.keys[0].kid)
  t.not(a.jwks.keys[0].kid, c.jwks.keys[0].kid)
  t.notOk('d' in a.jwks.keys[0])
})

t.test('the standalone server counts hits per path', async t => {
  const before = server.hits.get(`/${TENANT}/discovery/v2.0/keys`) ?? 0
  await jwks()
  t.equal(server.hits.get(`/${TENANT}/discovery/v2.0/keys`), before + 1)
})
