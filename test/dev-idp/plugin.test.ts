import t from 'tap'
import Fastify from 'fastify'
import { verifyJwt, decodeJwt } from '../support/verify-jwt.ts'
import { buildListening, build } from '../helper.ts'
import { Browserless, pkcePair } from '../support/browserless.ts'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID } from '../../config/dev-identity.ts'
import { DEFAULT_USERS } from '../../dev-idp/users.ts'
import devIdentityProvider, { devIdpRefusal } from '../../dev-idp/plugin.ts'
import configPlugin from '../../config/plugin.ts'
import { loadConfig } from '../../config/index.ts'

const authority = (baseUrl: string) => `${baseUrl}/dev-idp/${DEV_TENANT_ID}`

t.test('discovery under /dev-idp advertises Entra-shaped URLs and issuer', async t => {
  const { baseUrl } = await buildListening(t)
  const res = await fetch(`${authority(baseUrl)}/v2.0/.well-known/openid-configuration`)
  t.equal(res.status, 200)
  const meta = await res.json() as Record<string, unknown>
  t.equal(meta.issuer, `${authority(baseUrl)}/v2.0`)
  t.equal(meta.authorization_endpoint, `${authority(baseUrl)}/oauth2/v2.0/authorize`)
  t.equal(meta.token_endpoint, `${authority(baseUrl)}/oauth2/v2.0/token`)
  t.equal(meta.jwks_uri, `${authority(baseUrl)}/discovery/v2.0/keys`)
  t.equal(meta.end_session_endpoint, `${authority(baseUrl)}/oauth2/v2.0/logout`)
  t.same(meta.code_challenge_methods_supported, ['S256'])
  t.ok((meta.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt'))
  t.match(res.headers.get('content-security-policy'), /default-src 'none'/)

  const keys = await (await fetch(meta.jwks_uri as string)).json() as { keys: Array<Record<string, string>> }
  t.equal(keys.keys.length, 1)
  t.equal(keys.keys[0].kty, 'RSA')
  t.notOk('d' in keys.keys[0], 'no private part in the JWKS')
  t.match(keys.keys[0].kid, /^[\w-]{43}$/, 'kid is a key thumbprint')
})

t.test('paths outside the tenant answer like Entra (AADSTS90002), not with the app 404', async t => {
  const { baseUrl } = await buildListening(t)
  const res = await fetch(`${baseUrl}/dev-idp/common/v2.0/.well-known/openid-configuration`)
  t.equal(res.status, 400)
  t.match(await res.json(), { error: 'invalid_tenant', error_description: /^AADSTS90002/ })
  const bare = await fetch(`${baseUrl}/dev-idp/.well-known/openid-configuration`)
  t.equal(bare.status, 400)
})

t.test('full code flow with PKCE through the sign-in page gives Entra-shaped tokens; refresh rotates', async t => {
  const { baseUrl } = await buildListening(t)
  const base = authority(baseUrl)
  const redirectUri = `${baseUrl}/auth/callback`
  const { verifier, challenge } = await pkcePair()
  const api = `api://${DEV_CLIENT_ID}`
  const url = new URL(`${base}/oauth2/v2.0/authorize`)
  url.search = new URLSearchParams({
    client_id: DEV_CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: `${api}/tools.read ${api}/tools.write openid profile offline_access`,
    state: 'state-1',
    nonce: 'nonce-1',
    code_challenge: challenge,
    code_challenge_method: 'S256'
  }).toString()

  const browser = new Browserless()
  const signIn = await browser.navigate(url.href)
  t.equal(signIn.status, 200)
  t.match(signIn.headers.get('content-security-policy'), /style-src 'unsafe-inline'/)
  for (const user of DEFAULT_USERS) t.match(signIn.body, `Sign in as ${user.name}`)

  const result = await browser.submit(signIn, { name: 'user', label: 'Grace Hopper' }, { stopAt: u => u.startsWith(redirectUri) })
  t.ok(result.stoppedAt, 'redirected back to the client')
  const back = new URL(result.stoppedAt as string)
  t.equal(back.searchParams.get('state'), 'state-1')
  t.equal(back.searchParams.get('iss'), `${base}/v2.0`)
  const code = back.searchParams.get('code') as string
  t.ok(code)

  const token = await fetch(`${base}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${DEV_CLIENT_ID}:${DEV_CLIENT_SECRET}`).toString('base64')}`
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })
  })
  t.equal(token.status, 200)
  const body = await token.json() as Record<string, string>
  t.ok(body.refresh_token, 'refresh token without prompt=consent (offline_access asked)')

  const jwks = await (await fetch(`${base}/discovery/v2.0/keys`)).json()
  const grace = DEFAULT_USERS[1]
  const id = verifyJwt(body.id_token, jwks, { issuer: `${base}/v2.0`, audience: DEV_CLIENT_ID })
  t.match(id.payload, { tid: DEV_TENANT_ID, oid: grace.oid, name: grace.name, preferred_username: grace.preferredUsername, email: grace.email, ver: '2.0', nonce: 'nonce-1' })
  t.type(id.payload.sub, 'string')
  t.not(id.payload.sub, grace.oid, 'sub is pairwise, not the oid')

  t.equal(decodeJwt(body.access_token).header.typ, 'JWT')
  const at = verifyJwt(body.access_token, jwks, { issuer: `${base}/v2.0`, audience: DEV_CLIENT_ID })
  t.match(at.payload, { tid: DEV_TENANT_ID, oid: grace.oid, scp: 'tools.read tools.write', azp: DEV_CLIENT_ID, ver: '2.0', name: grace.name, preferred_username: grace.preferredUsername })
  t.notOk('scope' in at.payload)
  t.notOk('client_id' in at.payload)

  const refreshed = await fetch(`${base}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: DEV_CLIENT_ID, client_secret: DEV_CLIENT_SECRET, scope: `${api}/tools.read offline_access` })
  })
  t.equal(refreshed.status, 200)
  const again = await refreshed.json() as Record<string, string>
  t.not(again.refresh_token, body.refresh_token, 'refresh token rotated')
  const at2 = verifyJwt(again.access_token, jwks, { issuer: `${base}/v2.0`, audience: DEV_CLIENT_ID })
  t.equal(at2.payload.scp, 'tools.read')

  const reused = await fetch(`${base}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: DEV_CLIENT_ID, client_secret: DEV_CLIENT_SECRET })
  })
  t.equal(reused.status, 400)
  t.equal((await reused.json() as Record<string, string>).error, 'invalid_grant')
})

t.test('the plugin is absent when Azure settings are configured', async t => {
  const app = await build(t, {
    AZURE_TENANT_ID: '11111111-2222-3333-4444-555555555555',
    AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555556',
    AZURE_CLIENT_SECRET: 'x',
    MCP_BASE_URL: 'https://mcp.example.com'
  })
  const res = await app.inject(`/dev-idp/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`)
  t.equal(res.statusCode, 404)
})

t.test('a loud warning says the provider is for development only', async t => {
  const logs: string[] = []
  await build(t, { LOG_LEVEL: 'warn' }, { logs })
  const line = logs.map(l => JSON.parse(l)).find(l => /DEVELOPMENT IDENTITY PROVIDER/.test(l.msg))
  t.ok(line, 'warning logged')
  t.equal(line.level, 'warn')
  t.match(line.msg, /development only/i)
  t.notMatch(JSON.stringify(logs), DEV_CLIENT_SECRET)
})

t.test('the plugin itself refuses to run next to Azure settings', async t => {
  const dev = loadConfig({ LOG_LEVEL: 'silent' })
  t.equal(devIdpRefusal(dev), undefined)
  const azure = loadConfig({
    LOG_LEVEL: 'silent',
    AZURE_TENANT_ID: '11111111-2222-3333-4444-555555555555',
    AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555556',
    AZURE_CLIENT_SECRET: 'x',
    MCP_BASE_URL: 'https://mcp.example.com'
  })
  t.match(devIdpRefusal(azure), /not enabled/)
  // A configuration forced into dev mode while naming a real tenant (config refuses it already; the plugin checks again).
  const forged = Object.freeze({ ...azure, devIdentityProvider: true })
  t.match(devIdpRefusal(forged), /Azure settings are present/)
  const fastify = Fastify({ logger: false })
  t.teardown(() => fastify.close())
  await t.rejects(async () => {
    await fastify.register(configPlugin, { config: forged })
    await fastify.register(devIdentityProvider)
    await fastify.ready()
  }, /Refusing to start the development identity provider/)
})

t.test('the mounted sign-in page: CSP of its own, no scripts, cancel gives access_denied', async t => {
  const { baseUrl } = await buildListening(t)
  const redirectUri = `${baseUrl}/auth/callback`
  const { challenge } = await pkcePair()
  const url = new URL(`${authority(baseUrl)}/oauth2/v2.0/authorize`)
  url.search = new URLSearchParams({
    client_id: DEV_CLIENT_ID, response_type: 'code', redirect_uri: redirectUri, scope: 'openid profile', state: 'st', code_challenge: challenge, code_challenge_method: 'S256'
  }).toString()
  const browser = new Browserless()
  const page = await browser.navigate(url.href)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  const csp = page.headers.get('content-security-policy') ?? ''
  t.match(csp, /default-src 'none'/)
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /script-src/)
  t.notMatch(page.body, /<script/i)
  t.ok(page.headers.get('x-request-id'))
  t.ok(browser.jar.cookies.every(c => !c.secure), 'cookies work over http on 127.0.0.1')
  const denied = await browser.submit(page, { name: 'action', value: 'cancel' }, { stopAt: u => u.startsWith(redirectUri) })
  const back = new URL(denied.stoppedAt as string)
  t.equal(back.searchParams.get('error'), 'access_denied')
  t.match(back.searchParams.get('error_description'), /^AADSTS65004/)
  t.equal(back.searchParams.get('state'), 'st')
})
