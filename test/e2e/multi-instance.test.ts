// Scale-out without affinity: any instance may see any step of a sign-in. Two app instances share one
// Redis and one public URL (a path router stands in for the load balancer), and three behind a real
// round-robin balancer at the public URL; Entra is the Entra-shaped
// stand-in with Azure settings. On one Redis node and on a Redis Cluster (three primaries, started
// for this file). Also: the app restarted between authorize and callback.
import t, { type Test } from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { build, freePort, redisEnv, requireRedis } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { startEntraLike } from '../support/entra-like-server.ts'
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster.ts'
import { REDIRECT_URI, authorizeRequest, claimsOf, mcpStatus, registerClient, revokeRequest, tokenRequest } from '../support/oauth-flow.ts'

await requireRedis()

const TENANT = '6d7e8f9a-0b1c-4d2e-8f3a-4b5c6d7e8f9a'
const CLIENT = '7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b'
const SECRET = 'entra-like-secret'
const WEB_APP = 'https://app.example/cb'
const front = `http://127.0.0.1:${await freePort()}`
const entra = await startEntraLike({ tenantId: TENANT, clients: [{ clientId: CLIENT, clientSecret: SECRET, redirectUris: [`${front}/auth/callback`] }] })
t.teardown(() => entra.close())

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
const env: Record<string, string> = {
  ...redisEnv(),
  AZURE_TENANT_ID: TENANT,
  AZURE_CLIENT_ID: CLIENT,
  AZURE_CLIENT_SECRET: SECRET,
  AZURE_AUTHORITY_HOST: entra.url,
  MCP_BASE_URL: front,
  TOKEN_SIGNING_KEY: signingKey,
  TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  RATE_LIMIT_ENABLED: 'false',
  // Reuse of a rotated refresh token must be seen as a replay at once, on the other instance.
  REFRESH_TOKEN_REUSE_GRACE: '0'
}

async function instance (t: Parameters<typeof build>[0], redis: Record<string, string> = {}): Promise<{ app: FastifyInstance, origin: string }> {
  const app = await build(t, { ...env, ...redis })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

/** A load balancer in a fetch: requests to the public URL go to the instance `pick` names for the path. */
function router (pick: (path: string) => string): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.origin === front) return await fetch(`${pick(url.pathname)}${url.pathname}${url.search}`, init)
    return await fetch(url, init)
  }
}

async function acrossInstances (t: Test, redis: Record<string, string>) {
  const a = await instance(t, redis)
  const b = await instance(t, redis)
  const client = await registerClient(a.origin)
  // /authorize and the consent form on A, the callback on B.
  const browser = new Browserless({ fetch: router(path => path === '/auth/callback' ? b.origin : a.origin) })
  const request = await authorizeRequest(front, client)
  const result = await browser.authorize(request.url, { stopAt: u => u.startsWith(REDIRECT_URI) })
  const code = result.params.get('code') as string
  t.ok(code, `code from B (${result.params.get('error_description') ?? ''})`)
  t.equal(result.params.get('iss'), front)

  const tokens = await tokenRequest(b.origin, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200, 'B redeems the code')
  t.equal(claimsOf(tokens.body.access_token).iss, front)
  t.equal(await mcpStatus(a.origin, tokens.body.access_token), 200, 'A accepts the token B issued')
  const refreshed = await tokenRequest(a.origin, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refreshed.status, 200, 'A refreshes the grant B made')
  const reuse = await tokenRequest(b.origin, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(reuse.body.error, 'invalid_grant', 'reuse detected on the other instance')
  t.equal(await mcpStatus(a.origin, refreshed.body.access_token), 401, 'and the grant is revoked everywhere')

  // Consent remembered on A is honoured by B (same store, cookie signed with a key both derive),
  // for a client whose approval may skip the page: confidential, with an https redirect URI.
  const webApp = await registerClient(a.origin, { redirect_uris: [WEB_APP], token_endpoint_auth_method: 'client_secret_post' })
  const first = await browser.authorize((await authorizeRequest(front, webApp)).url, { stopAt: u => u.startsWith(WEB_APP) })
  t.ok(first.chain.some(u => u.endsWith('/authorize/consent')), 'the consent page the first time, on A')
  const onB = new Browserless({ jar: browser.jar, fetch: router(() => b.origin) })
  const again = await authorizeRequest(front, webApp)
  const second = await onB.authorize(again.url, { stopAt: u => u.startsWith(WEB_APP) })
  t.notOk(second.chain.some(u => u.endsWith('/authorize/consent')), 'no consent page the second time, on B')
  const tokens2 = await tokenRequest(a.origin, { grant_type: 'authorization_code', code: second.params.get('code') as string, redirect_uri: WEB_APP, code_verifier: again.verifier, client_id: webApp.client_id, client_secret: webApp.client_secret })
  t.equal(tokens2.status, 200)
  const revoked = await revokeRequest(b.origin, { token: tokens2.body.access_token, client_id: webApp.client_id, client_secret: webApp.client_secret })
  t.equal(revoked.status, 200)
  t.equal(await mcpStatus(a.origin, tokens2.body.access_token), 401, 'an access token revoked on B is refused on A')
}

/**
 * A round-robin load balancer without affinity, listening at the public URL: request n goes to
 * instance n mod 3. `served` lists, per request, the path and the instance that answered it.
 */
async function roundRobin (t: Test, origins: string[]): Promise<Array<{ path: string, instance: number }>> {
  const served: Array<{ path: string, instance: number }> = []
  let next = 0
  const proxy: Server = createServer((req, res) => {
    const instance = next++ % origins.length
    served.push({ path: (req.url ?? '/').split('?')[0], instance })
    const upstream = httpRequest(`${origins[instance]}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { res.writeHead(502).end() })
    req.pipe(upstream)
  })
  await new Promise<void>(resolve => proxy.listen(Number(new URL(front).port), '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { proxy.closeAllConnections(); proxy.close(() => resolve()) }))
  return served
}

async function threeInstancesRoundRobin (t: Test, redis: Record<string, string>) {
  const instances = [await instance(t, redis), await instance(t, redis), await instance(t, redis)]
  const served = await roundRobin(t, instances.map(i => i.origin))
  const client = await registerClient(front)
  const request = await authorizeRequest(front, client, { scope: 'tools.read' })
  const result = await new Browserless().authorize(request.url, { stopAt: u => u.startsWith(REDIRECT_URI) })
  const code = result.params.get('code') as string
  t.ok(code, `signed in through the balancer (${result.params.get('error_description') ?? ''})`)
  const tokens = await tokenRequest(front, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200, 'the code redeemed')
  const call = async (accessToken: string, id: number) => await (await fetch(`${front}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } })
  })).json() as { result?: { isError?: boolean } }
  const answered = (answer: { result?: { isError?: boolean } }) => answer.result !== undefined && answer.result.isError !== true
  for (const id of [1, 2, 3]) t.ok(answered(await call(tokens.body.access_token, id)), `tool call ${id} answered`)
  let refreshToken = tokens.body.refresh_token as string
  for (const round of [1, 2, 3]) {
    const refreshed = await tokenRequest(front, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.client_id })
    t.equal(refreshed.status, 200, `refresh ${round}`)
    refreshToken = refreshed.body.refresh_token
    t.ok(answered(await call(refreshed.body.access_token, 10 + round)), `tool call with the token of refresh ${round}`)
  }
  const ours = served.filter(s => s.path !== '/favicon.ico')
  t.ok(ours.length >= 12, `${ours.length} requests went through the balancer`)
  t.ok(ours.every((s, i) => i === 0 || s.instance !== ours[i - 1].instance), 'each request landed on another instance than the one before')
  t.same([...new Set(ours.map(s => s.instance))].sort(), [0, 1, 2], 'all three instances served steps')
  const steps = (path: string) => new Set(ours.filter(s => s.path === path).map(s => s.instance))
  t.ok(steps('/token').size >= 2 && steps('/mcp').size >= 2, 'token and tool calls spread over instances')
}

t.test('three instances behind a round-robin balancer: sign-in, tool calls and refreshes, each request on another instance (one Redis)', async t => {
  await threeInstancesRoundRobin(t, {})
})

t.test('started on one instance, finished on another; tokens, refresh, consent memory and revocation shared', async t => {
  await acrossInstances(t, {})
})

let cluster: RedisClusterHandle | undefined
t.teardown(async () => { await cluster?.stop() })

t.test('the same on a Redis Cluster (REDIS_CLUSTER=true)', async t => {
  cluster = await startRedisCluster({ primaries: 3 })
  await acrossInstances(t, { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true' })
})

t.test('three instances behind a round-robin balancer on the Redis Cluster', async t => {
  if (cluster === undefined) throw new Error('the cluster test above did not start the cluster')
  await threeInstancesRoundRobin(t, { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true' })
})

t.test('the app restarts between authorize and callback', async t => {
  let current = await instance(t)
  const client = await registerClient(current.origin)
  const browser = new Browserless({ fetch: router(() => current.origin) })
  const request = await authorizeRequest(front, client)
  const consent = await browser.navigate(request.url)
  const signIn = await browser.submit(consent, { name: 'decision', value: 'approve' })
  t.match(signIn.url, entra.url, 'at the sign-in page')
  const toCallback = await browser.submit(signIn, b => b.name === 'user', { stopAt: u => u.startsWith(`${front}/auth/callback`) })
  t.ok(toCallback.stoppedAt, 'stopped before the callback')

  await current.app.close()
  current = await instance(t)

  const back = await browser.navigate(toCallback.stoppedAt as string, { stopAt: u => u.startsWith(REDIRECT_URI) })
  const params = new URL(back.stoppedAt as string).searchParams
  t.equal(params.get('state'), request.state)
  const tokens = await tokenRequest(current.origin, { grant_type: 'authorization_code', code: params.get('code') as string, redirect_uri: REDIRECT_URI, code_verifier: request.verifier, client_id: client.client_id })
  t.equal(tokens.status, 200, 'the restarted instance finishes the sign-in')
  t.equal(await mcpStatus(current.origin, tokens.body.access_token), 200)
})
