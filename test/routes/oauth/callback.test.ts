import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildListening, redisEnv, requireRedis } from '../../helper.ts'
import { Browserless } from '../../support/browserless.ts'
import { REDIRECT_URI, auditsOf, authorizeRequest, claimsOf, registerClient, tokenRequest } from '../../support/oauth-flow.ts'

const KEY = randomBytes(32).toString('base64')

t.test('callback: code, state and iss to the client; code stored hashed for 60 s; Entra tokens sealed in the grant', async t => {
  await requireRedis()
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const env = redisEnv({ RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info', TOKEN_ENCRYPTION_KEY: KEY })
  const { baseUrl } = await buildListening(t, env, { logs, setup: i => { inner = i } })
  const app = inner as FastifyInstance
  const redis = app.redis!
  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  const result = await new Browserless().authorize(request.url, { stopAt: u => u.startsWith(REDIRECT_URI) })
  const callbackUrl = result.chain.find(u => u.startsWith(`${baseUrl}/auth/callback?`)) as string
  t.ok(callbackUrl, 'Entra sent the browser to /auth/callback')
  t.same([...result.params.keys()].sort(), ['code', 'iss', 'state'])
  t.equal(result.params.get('state'), request.state)
  t.equal(result.params.get('iss'), baseUrl)
  const code = result.params.get('code') as string
  t.match(code, /^[\w-]{43}$/)

  const keys = await redis.keys(`${env.REDIS_KEY_PREFIX}*`)
  t.notOk(keys.some(k => k.includes(code)), 'the code itself is no key')
  const codeKey = `${env.REDIS_KEY_PREFIX}code:${createHash('sha256').update(code).digest('base64url')}`
  t.ok(keys.includes(codeKey), 'stored as code:{sha256}')
  const ttl = await redis.ttl(codeKey)
  t.ok(ttl > 0 && ttl <= 60, `code ttl ${ttl} s`)
  const record = JSON.parse(await redis.get(codeKey) as string)
  t.match(record, { clientId: client.client_id, redirectUri: REDIRECT_URI, codeChallenge: request.challenge, scopes: ['tools.read', 'tools.write'] })
  t.notOk(keys.some(k => k.includes(':tx:')), 'the transaction was taken')

  const grantKey = `${env.REDIS_KEY_PREFIX}grant:${record.sid}`
  const grantJson = await redis.get(grantKey) as string
  const grant = JSON.parse(grantJson)
  t.match(grant, { sid: record.sid, clientId: client.client_id, scopes: ['tools.read', 'tools.write'], user: { name: 'Ada Lovelace', preferred_username: 'ada@dev-idp.example.com', oid: /^[0-9a-f-]{36}$/, tid: app.config.entra.tenant } })
  t.match(grant.upstream, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/, 'Entra tokens sealed')
  t.notMatch(grantJson, /eyJ/, 'no JWT in the clear')
  const upstream = app.grants.openUpstream(grant)
  t.match(upstream, { accessToken: /^eyJ/, refreshToken: /.+/, accessTokenExpiresAt: Number })
  t.notMatch(grantJson, upstream.refreshToken as string, 'the Entra refresh token is not in the clear')
  const grantTtl = await redis.ttl(grantKey)
  t.ok(grantTtl > 2591000, 'grant lives REFRESH_TOKEN_TTL')

  const replay = await fetch(callbackUrl, { redirect: 'manual' })
  t.equal(replay.status, 400, 'state replay: error page')
  t.equal(replay.headers.get('location'), null, 'no redirect')
  t.match(await replay.text(), /already used/)

  const tokens = await tokenRequest(baseUrl, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200)
  t.equal(claimsOf(tokens.body.access_token).sid, record.sid)
  t.match(auditsOf(logs, 'login.succeeded'), [{ client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid }])
  const all = logs.join('\n')
  t.notMatch(all, code, 'the code is in no log line')
  t.notMatch(all, upstream.accessToken as string, 'no Entra token in logs')
})

t.test('the user cancels at Entra: access_denied with the AADSTS description, state and iss', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }, { logs })
  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  const { params } = await new Browserless().authorize(request.url, { user: 'cancel', stopAt: u => u.startsWith(REDIRECT_URI) })
  t.equal(params.get('error'), 'access_denied')
  t.match(params.get('error_description'), /^Microsoft Entra ID: AADSTS65004/)
  t.equal(params.get('state'), request.state)
  t.equal(params.get('iss'), baseUrl)
  t.equal(params.get('code'), null)
  t.match(auditsOf(logs, 'login.failed'), [{ reason: 'upstream_error', aadsts: 'AADSTS65004', client_id: client.client_id, outcome: 'failure' }])
})

t.test('unknown, missing or forged state: error page, never a redirect', async t => {
  const { baseUrl } = await buildListening(t, { RATE_LIMIT_ENABLED: 'false' })
  for (const query of ['', '?code=abc', `?state=${'A'.repeat(43)}&code=abc`, '?state=short&code=x', '?state=a&state=b', '?error=access_denied']) {
    const res = await fetch(`${baseUrl}/auth/callback${query}`, { redirect: 'manual' })
    t.equal(res.status, 400, query)
    t.equal(res.headers.get('location'), null)
    t.match(res.headers.get('content-type'), /text\/html/)
    t.match(res.headers.get('content-security-policy'), /frame-ancestors 'none'/)
  }
})
