import t from 'tap'
import { stat } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { buildListening } from '../helper.ts'
import { auditEvents, cacheFor, headlessBrowser, runCli, tempConfigHome } from '../support/cli.ts'
import { startFakeOpenAI, FAKE_OPENAI_KEY } from '../support/fake-openai.ts'

// One service (development identity provider inside) for the whole sign-in story, in order.
const logs: string[] = []
const { baseUrl } = await buildListening(t, {}, { logs })
const server = `${baseUrl}/mcp`
const xdg = await tempConfigHome(t)
const env = { XDG_CONFIG_HOME: xdg }
const cache = cacheFor(xdg)
const browser = headlessBrowser({ user: 'Ada Lovelace' })
const deps = { env, openUrl: browser.openUrl }

t.test('login: discovery, registration, PKCE S256, loopback redirect, browser step, tokens cached 0600', async (t) => {
  const res = await runCli(['login', '--server', server], deps)
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /Signed in to .* as Ada Lovelace \(ada@/)
  t.match(res.stderr, /Opening the browser to sign in/)
  t.equal(browser.opened.length, 1, 'the browser was opened once')
  const url = browser.opened[0]
  t.equal(url.origin + url.pathname, `${baseUrl}/authorize`)
  t.equal(url.searchParams.get('code_challenge_method'), 'S256')
  t.match(url.searchParams.get('code_challenge'), /^[\w-]{43}$/)
  t.match(url.searchParams.get('redirect_uri'), /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
  t.equal(url.searchParams.get('resource'), server)
  t.ok(url.searchParams.get('state'))

  t.equal((await stat(cache.file)).mode & 0o777, 0o600, 'credentials file is 0600')
  t.equal((await stat(cache.dir)).mode & 0o777, 0o700, 'its folder is 0700')
  const entry = await cache.get(server)
  t.ok(entry?.client?.client_id, 'the registration is cached')
  t.ok(entry?.tokens?.access_token)
  t.ok(entry?.tokens?.refresh_token)
  t.ok(entry?.expiresAt !== undefined && entry.expiresAt > Date.now())
  t.equal(auditEvents(logs, 'client.registered').length, 1)
  t.equal(auditEvents(logs, 'authorize.started').length, 1)
  t.equal(auditEvents(logs, 'token.issued').length, 1)
})

t.test('a second command reuses the cache: no new authorize request, no browser', async (t) => {
  const res = await runCli(['whoami', '--json', '--server', server], deps)
  t.equal(res.code, 0, res.stderr)
  const me = JSON.parse(res.stdout)
  t.equal(me.name, 'Ada Lovelace')
  t.ok(me.oid)
  const tools = await runCli(['tools', '--json', '--server', server], deps)
  t.equal(tools.code, 0, tools.stderr)
  const list = JSON.parse(tools.stdout).tools
  t.same(list.find((x: any) => x.name === 'whoami').requiredScopes, ['tools.read'], 'tools are listed with their required scopes')
  t.equal(browser.opened.length, 1, 'no browser')
  t.equal(auditEvents(logs, 'authorize.started').length, 1, 'the server saw no new authorize request')
  t.equal(auditEvents(logs, 'client.registered').length, 1, 'no new registration')
})

t.test('agent with the sign-in from login: the model gets the tool result for the signed-in user', async (t) => {
  const model = await startFakeOpenAI()
  t.teardown(model.close)
  const called = auditEvents(logs, 'tool.called').length
  const me = JSON.parse((await runCli(['whoami', '--json', '--server', server], deps)).stdout)
  const res = await runCli(['agent', '--provider', 'openai', '--server', server, 'Who am I?'], { ...deps, env: { ...env, OPENAI_API_KEY: FAKE_OPENAI_KEY, OPENAI_BASE_URL: model.baseURL } })
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /→ tool call: whoami/)
  const toolMessage = model.requests[1].body.messages.find((m: any) => m.role === 'tool')
  t.match(toolMessage.content, me.oid, 'the tool ran as the signed-in user')
  t.equal(auditEvents(logs, 'tool.called').length, called + 2, 'whoami by hand, then by the model')
  t.equal(browser.opened.length, 1, 'no browser')
})

t.test('call refuses an argument the tool does not take, and shows the tool\'s input schema', async (t) => {
  const called = auditEvents(logs, 'tool.called').length
  const res = await runCli(['call', 'whoami', 'x=1', '--server', server], deps)
  t.equal(res.code, 2, 'a usage error')
  t.match(res.stderr, /whoami has no argument "x"; it takes none\. Input schema: \{.*"type":"object"/)
  t.equal(auditEvents(logs, 'tool.called').length, called, 'the tool was not called')
})

t.test('an expired access token is refreshed silently before the call', async (t) => {
  const before = await cache.get(server)
  await cache.update(server, e => ({ ...e, expiresAt: Date.now() - 1000 }))
  const res = await runCli(['call', 'whoami', '--server', server], deps)
  t.equal(res.code, 0, res.stderr)
  const after = await cache.get(server)
  t.not(after?.tokens?.access_token, before?.tokens?.access_token, 'new access token')
  t.not(after?.tokens?.refresh_token, before?.tokens?.refresh_token, 'rotated refresh token')
  t.ok(after?.expiresAt !== undefined && after.expiresAt > Date.now())
  t.equal(auditEvents(logs, 'token.refreshed').length, 1)
  t.equal(browser.opened.length, 1, 'no browser')
  t.equal(auditEvents(logs, 'authorize.started').length, 1)
})

t.test('two commands at once with an expired token refresh once (no refresh-token reuse)', async (t) => {
  await cache.update(server, e => ({ ...e, expiresAt: Date.now() - 1000 }))
  const refreshed = auditEvents(logs, 'token.refreshed').length
  const [a, b] = await Promise.all([
    runCli(['whoami', '--server', server], deps),
    runCli(['tools', '--server', server], deps)
  ])
  t.equal(a.code, 0, a.stderr)
  t.equal(b.code, 0, b.stderr)
  t.equal(auditEvents(logs, 'token.refreshed').length, refreshed + 1, 'one refresh')
  t.equal(auditEvents(logs, 'token.refresh_reused').length, 0, 'no reuse detected (the grant survives)')
})

t.test('the program entry (client/cli.ts, what the bin runs) reads its environment, prints, and exits (no handle left open)', async (t) => {
  const entry = fileURLToPath(new URL('../../client/cli.ts', import.meta.url))
  const result = await new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', entry, 'whoami', '--json', '--server', server], {
      env: { PATH: process.env.PATH, HOME: xdg, XDG_CONFIG_HOME: xdg },
      timeout: 60_000
    }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, stdout, stderr }))
  })
  t.equal(result.code, 0, result.stderr)
  t.equal(JSON.parse(result.stdout).name, 'Ada Lovelace')
})

t.test('an access token the server refuses (401) is refreshed and the call retried', async (t) => {
  await cache.update(server, e => ({ ...e, tokens: { ...e.tokens!, access_token: 'not-a-valid-token' } }))
  const res = await runCli(['whoami', '--server', server], deps)
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /name: Ada Lovelace/)
  t.equal(auditEvents(logs, 'token.refreshed').length, 3)
  t.equal(browser.opened.length, 1)
})

t.test('a grant revoked elsewhere: the failed refresh says so (exit 3) and no browser opens', async (t) => {
  const other = await tempConfigHome(t)
  const otherCache = cacheFor(other)
  const otherBrowser = headlessBrowser({ user: 'Grace Hopper' })
  const login = await runCli(['login', '--server', server], { env: { XDG_CONFIG_HOME: other }, openUrl: otherBrowser.openUrl })
  t.equal(login.code, 0, login.stderr)
  const entry = await otherCache.get(server)
  const revoked = await fetch(`${baseUrl}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: entry!.tokens!.refresh_token!, token_type_hint: 'refresh_token', client_id: entry!.client!.client_id }).toString()
  })
  t.equal(revoked.status, 200)
  await otherCache.update(server, e => ({ ...e, expiresAt: Date.now() - 1000 }))
  const res = await runCli(['whoami', '--server', server], { env: { XDG_CONFIG_HOME: other }, openUrl: otherBrowser.openUrl })
  t.equal(res.code, 3)
  t.match(res.stderr, /has expired or was revoked.*login/)
  t.equal(otherBrowser.opened.length, 1, 'only the login opened the browser')
  t.equal((await otherCache.get(server))?.tokens, undefined, 'the dead tokens are dropped')
})

t.test('logout revokes at the server (the old refresh token is refused) and deletes the cache', async (t) => {
  const entry = await cache.get(server)
  const refreshToken = entry!.tokens!.refresh_token!
  const res = await runCli(['logout', '--server', server], deps)
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /Signed out/)
  await t.rejects(stat(cache.file), { code: 'ENOENT' }, 'the credentials file is gone')
  t.ok(auditEvents(logs, 'token.revoked').length >= 1)

  const token = await fetch(`${baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: entry!.client!.client_id }).toString()
  })
  t.equal(token.status, 400)
  t.equal((await token.json()).error, 'invalid_grant', 'the old refresh token is refused')

  const again = await runCli(['whoami', '--server', server], deps)
  t.equal(again.code, 3)
  t.match(again.stderr, /Not logged in/)
})

t.test('step-up: a 403 insufficient_scope signs in again for the missing scope, then the call succeeds', async (t) => {
  const login = await runCli(['login', '--scope', 'tools.read', '--server', server, '--json'], deps)
  t.equal(login.code, 0, login.stderr)
  t.equal(JSON.parse(login.stdout).scope, 'tools.read')
  const opened = browser.opened.length
  const denied = auditEvents(logs, 'scope.denied').length
  const first = await cache.get(server)

  const res = await runCli(['call', 'graph_me', '--server', server, '--json'], deps)
  t.match(res.stderr, /needs more permissions \(graph\.read\)/)
  t.equal(auditEvents(logs, 'scope.denied').length, denied + 1, 'the server refused the first call')
  t.equal(browser.opened.length, opened + 1, 'one step-up sign-in')
  const scope = browser.opened[browser.opened.length - 1].searchParams.get('scope') ?? ''
  t.same(scope.split(' ').sort(), ['graph.read', 'tools.read'], 'asked for granted + missing scopes')
  t.match((await cache.get(server))?.scope, /graph\.read/)
  const result = JSON.parse(res.stdout)
  t.ok(Array.isArray(result.content), 'the retried call reached the tool (its result, even an error, is a tool result)')
  const called = auditEvents(logs, 'tool.called').filter(l => l.tool === 'graph_me')
  t.equal(called.length, 1, 'graph_me ran once, after the step-up')

  const reuse = await fetch(`${baseUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: first!.tokens!.refresh_token!, client_id: first!.client!.client_id }).toString()
  })
  t.equal((await reuse.json()).error, 'invalid_grant', 'the grant the step-up replaced was revoked')
})

t.test('step-up refused: consent denied ends with scope/sign-in error, exit 3', async (t) => {
  await runCli(['logout', '--server', server], deps)
  const login = await runCli(['login', '--scope', 'tools.read', '--server', server], deps)
  t.equal(login.code, 0, login.stderr)
  const denyingBrowser = headlessBrowser({ user: 'Ada Lovelace', consent: 'deny' })
  const res = await runCli(['call', 'graph_me', '--server', server], { env, openUrl: denyingBrowser.openUrl })
  t.equal(res.code, 3)
  t.match(res.stderr, /cancelled or consent was denied/)
  t.equal((await cache.get(server))?.scope, 'tools.read', 'the earlier sign-in is kept')
})

t.test('login asking for a scope the server does not offer: scope refused, exit 3, no browser', async (t) => {
  const other = await tempConfigHome(t)
  const res = await runCli(['login', '--scope', 'tools.read mail.send', '--server', server], { env: { XDG_CONFIG_HOME: other }, openUrl: async () => { throw new Error('no browser expected') } })
  t.equal(res.code, 3)
  t.match(res.stderr, /does not offer the scope mail\.send \(it offers: tools\.read/)
})

t.test('sign-in cancelled on the identity provider, and sign-in timeout: exit 3 with the cause', async (t) => {
  const other = await tempConfigHome(t)
  const cancelling = headlessBrowser({ user: 'cancel' })
  const cancelled = await runCli(['login', '--server', server], { env: { XDG_CONFIG_HOME: other }, openUrl: cancelling.openUrl })
  t.equal(cancelled.code, 3)
  t.match(cancelled.stderr, /cancelled/)

  const timedOut = await runCli(['login', '--server', server], { env: { XDG_CONFIG_HOME: other }, openUrl: async () => false, signInTimeoutMs: 300 })
  t.equal(timedOut.code, 3)
  t.match(timedOut.stderr, /No browser could be started/)
  t.match(timedOut.stderr, /Sign-in timed out/)
  t.match(timedOut.stderr, new RegExp(`${baseUrl}/authorize\\?`), 'the URL is printed for a manual sign-in')
})
