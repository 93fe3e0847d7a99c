import { test } from 'tap'
import { startLoopbackListener } from '../../client/auth/loopback.ts'
import { browserCommand } from '../../client/auth/browser.ts'
import { requiredScopes, mayCall } from '../../client/auth/tool-scopes.ts'
import { argumentsFromPairs, checkArgumentNames, parseJsonArguments } from '../../client/commands/tools.ts'
import { rewriteJsonArguments } from '../../client/run.ts'
import { SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client'
import { toCliError, networkErrorCode, CliError } from '../../client/ui/errors.ts'
import { parseArguments, resultText } from '../../client/agents/loop.ts'
import { cacheFor, runCli, seedCache, tempConfigHome } from '../support/cli.ts'
import { freePort } from '../helper.ts'

/** The kind of the CliError `fn` throws. */
function kindOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as CliError).kind
  }
  return undefined
}

test('loopback listener: 127.0.0.1, random port, checks state and iss, returns the code', async (t) => {
  const listener = await startLoopbackListener({ timeoutMs: 5000 })
  t.teardown(listener.close)
  t.match(listener.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
  const waiting = listener.waitForCode({ state: 'S1', issuer: 'http://as.example', issRequired: true })
  const other = await fetch(`${listener.redirectUri}?code=evil&state=WRONG&iss=http://as.example`)
  t.equal(other.status, 400, 'a response for another request is refused and ignored')
  t.equal((await fetch(listener.redirectUri.replace('/callback', '/other'))).status, 404)
  const ok = await fetch(`${listener.redirectUri}?code=C1&state=S1&iss=${encodeURIComponent('http://as.example')}`)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('referrer-policy'), 'no-referrer')
  t.equal(ok.headers.get('cache-control'), 'no-store')
  t.match(await ok.text(), /signed in/i)
  t.same(await waiting, { code: 'C1', iss: 'http://as.example' }, 'the code, and the iss for auth() to check again (RFC 9207)')
})

test('loopback listener: a response from another issuer, or without the promised iss, is refused (mix-up)', async (t) => {
  for (const query of ['code=C&state=S&iss=http://evil.example', 'code=C&state=S']) {
    const listener = await startLoopbackListener({ timeoutMs: 5000 })
    t.teardown(listener.close)
    const waiting = listener.waitForCode({ state: 'S', issuer: 'http://as.example', issRequired: true })
    waiting.catch(() => {})
    const res = await fetch(`${listener.redirectUri}?${query}`)
    t.equal(res.status, 400)
    await t.rejects(waiting, { kind: 'signin_failed', message: /unexpected authorization server/ })
    await waiting.catch((err: Error) => t.notMatch(err.message, /evil/, 'the received iss is not echoed'))
  }
})

test('loopback listener: access_denied means cancelled; a code that arrived early is kept', async (t) => {
  const listener = await startLoopbackListener({ timeoutMs: 5000 })
  t.teardown(listener.close)
  const waiting = listener.waitForCode({ state: 'S' })
  waiting.catch(() => {})
  await fetch(`${listener.redirectUri}?error=access_denied&error_description=user+said+no&state=S`)
  await t.rejects(waiting, { kind: 'signin_cancelled', message: /cancelled.*user said no/ })

  const early = await startLoopbackListener({ timeoutMs: 5000 })
  t.teardown(early.close)
  await fetch(`${early.redirectUri}?code=FAST&state=S2`)
  t.same(await early.waitForCode({ state: 'S2' }), { code: 'FAST' })
})

test('loopback listener: times out with a clear message', async (t) => {
  const listener = await startLoopbackListener({ timeoutMs: 30 })
  t.teardown(listener.close)
  await t.rejects(listener.waitForCode({ state: 'S' }), { kind: 'signin_timeout', message: /timed out/ })
})

test('browser command per platform; none without a display', async (t) => {
  const url = 'http://127.0.0.1:1/authorize?a=1&b=2'
  t.same(browserCommand(url, 'linux', { DISPLAY: ':0' }), { cmd: 'xdg-open', args: [url] })
  t.same(browserCommand(url, 'linux', { WAYLAND_DISPLAY: 'wayland-0' }), { cmd: 'xdg-open', args: [url] })
  t.equal(browserCommand(url, 'linux', {}), undefined, 'headless Linux: print the URL only')
  t.same(browserCommand(url, 'darwin', {}), { cmd: 'open', args: [url] })
  t.same(browserCommand(url, 'win32', {}), { cmd: 'rundll32', args: ['url.dll,FileProtocolHandler', url] }, 'no cmd.exe: the & stays in the URL')
  t.same(browserCommand(url, 'linux', { BROWSER: 'firefox', DISPLAY: ':0' }), { cmd: 'firefox', args: [url] })
  t.equal(browserCommand(url, 'darwin', { BROWSER: 'none' }), undefined)
})

test('required scopes come from the tool _meta, else from the description', async (t) => {
  t.same(requiredScopes({ _meta: { 'io.github.entra-mcp-gateway/scopes': ['tools.read'] } }), ['tools.read'])
  t.same(requiredScopes({ _meta: { requiredScopes: 'a b' } }), ['a', 'b'])
  t.same(requiredScopes({ description: 'Reads mail. Requires scope: graph.read.' }), ['graph.read'])
  t.equal(requiredScopes({ description: 'No scopes here' }), undefined)
  t.ok(mayCall({ _meta: { scopes: ['tools.read'] } }, 'tools.read graph.read'))
  t.notOk(mayCall({ _meta: { scopes: ['graph.read'] } }, 'tools.read'))
  t.ok(mayCall({}, ''), 'a tool that names no scope is offered')
})

test('call arguments: key=value typed by the input schema, or a JSON object', async (t) => {
  const tool = { inputSchema: { type: 'object' as const, properties: { n: { type: 'integer' }, b: { type: 'boolean' }, s: { type: 'string' }, o: { type: 'object' }, u: {} } } }
  t.same(argumentsFromPairs(['n=42', 'b=true', 's=007', 'o={"x":1}', 'u=a=b'], tool), { n: 42, b: true, s: '007', o: { x: 1 }, u: 'a=b' })
  t.throws(() => argumentsFromPairs(['n=abc'], tool), { message: /n must be a number/ })
  t.equal(kindOf(() => argumentsFromPairs(['b=yes'], tool)), 'usage')
  t.throws(() => argumentsFromPairs(['novalue'], tool), { message: /key=value/ })
  t.doesNotThrow(() => checkArgumentNames('t', { n: 1, u: 'x' }, tool))
  t.throws(() => checkArgumentNames('t', { n: 1, nn: 2 }, tool), { message: /^t has no argument "nn"; it takes n, b, s, o, u\. Input schema: \{/ })
  t.doesNotThrow(() => checkArgumentNames('t', { any: 1 }, { inputSchema: { type: 'object', additionalProperties: true } }), 'a schema open to other properties')
  t.same(parseJsonArguments('{"a":[1]}'), { a: [1] })
  t.equal(kindOf(() => parseJsonArguments('[1]')), 'usage')
  t.equal(kindOf(() => parseJsonArguments('{oops')), 'usage')
  t.same(rewriteJsonArguments(['call', 'x', '--json', '{"a":1}', '--json']), ['call', 'x', '--args', '{"a":1}', '--json'])
  t.same(rewriteJsonArguments(['call', 'x', '--json={"a":1}']), ['call', 'x', '--args={"a":1}'])
})

test('errors name the cause: unreachable, refused scope, expired sign-in', async (t) => {
  const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) })
  t.equal(networkErrorCode(refused), 'ECONNREFUSED')
  t.equal(toCliError(refused, 'http://x/mcp').kind, 'server_unreachable')
  t.equal(toCliError(refused, 'http://x/mcp').exitCode, 4)
  const invalidScope = Object.assign(new Error('unknown scope'), { errorCode: 'invalid_scope' })
  t.equal(toCliError(invalidScope, 's').kind, 'scope_refused')
  t.equal(toCliError(Object.assign(new Error('used'), { errorCode: 'invalid_grant' }), 's').kind, 'session_expired')
  const refusedAgain = new SdkHttpError(SdkErrorCode.ClientHttpAuthentication, 'Server returned 401 after re-authentication', { status: 401, statusText: 'Unauthorized' })
  t.match(toCliError(refusedAgain, 'http://x/mcp'), { kind: 'session_expired', exitCode: 3, message: /refused the sign-in for http:\/\/x\/mcp; run `login` again/ }, 'a 401 after the refresh: sign in again')
  const kept = new CliError('usage', 'x')
  t.equal(toCliError(kept, 's'), kept)
  t.equal(toCliError(new Error('line one\n    at stack'), 's').message, 'line one')
})

test('agent helpers: model arguments and tool results', async (t) => {
  t.same(parseArguments('{"a":1}'), { a: 1 })
  t.same(parseArguments(''), {})
  t.same(parseArguments({ a: 2 }), { a: 2 })
  t.type(parseArguments('{bad'), Error)
  t.type(parseArguments('[1]'), Error)
  t.same(resultText({ content: [{ type: 'text', text: 'hi' }, { type: 'image', data: 'AA', mimeType: 'image/png' }] }), { text: 'hi\n[image content omitted]', isError: false })
  t.same(resultText({ content: [], structuredContent: { a: 1 }, isError: true }), { text: '{"a":1}', isError: true })
})

test('usage errors: exit 2 with a readable message; --help exits 0', async (t) => {
  const env = { XDG_CONFIG_HOME: await tempConfigHome(t) }
  const help = await runCli(['--help'], { env })
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: entra-mcp-client/)
  t.equal((await runCli([], { env })).code, 2)
  for (const argv of [['frob'], ['call'], ['login', '--provider', 'openai'], ['agent', 'hi'], ['agent', '--provider', 'x', 'hi'], ['agent', '--provider', 'openai', '--max-rounds', '0', 'hi'], ['tools', '--server', 'not a url'], ['whoami', '--nope']]) {
    const res = await runCli(argv, { env })
    t.equal(res.code, 2, argv.join(' '))
    t.match(res.stderr, /^Error: /)
    t.notMatch(res.stderr, /\n\s+at /, 'no stack trace')
  }
  const json = await runCli(['frob', '--json'], { env })
  t.same(JSON.parse(json.stderr), { error: { kind: 'usage', message: 'Unknown command "frob". Run with --help for usage.' } })
})

test('not logged in / unreachable: exit 3 and 4 with the cause named', async (t) => {
  const env = { XDG_CONFIG_HOME: await tempConfigHome(t) }
  const notLoggedIn = await runCli(['whoami', '--server', 'http://127.0.0.1:9/mcp'], { env })
  t.equal(notLoggedIn.code, 3)
  t.match(notLoggedIn.stderr, /Not logged in to http:\/\/127\.0\.0\.1:9\/mcp/)
  const status = await runCli(['status', '--json', '--server', 'http://127.0.0.1:9/mcp'], { env })
  t.equal(status.code, 3)
  t.equal(JSON.parse(status.stdout).loggedIn, false)
  const fromEnv = await runCli(['status', '--json'], { env: { ...env, ENTRA_MCP_SERVER: 'https://gw.example/mcp' } })
  t.equal(JSON.parse(fromEnv.stdout).server, 'https://gw.example/mcp', '$ENTRA_MCP_SERVER replaces the default server')
  t.equal(JSON.parse((await runCli(['status', '--json'], { env })).stdout).server, 'http://localhost:8000/mcp', 'default server')
  const closed = `http://127.0.0.1:${await freePort()}/mcp`
  const unreachable = await runCli(['login', '--server', closed], { env, openUrl: async () => { throw new Error('no browser expected') } })
  t.equal(unreachable.code, 4)
  t.match(unreachable.stderr, `Cannot reach the server at ${closed} (ECONNREFUSED)`)
})

test('logout with the server down: local credentials deleted anyway, exit 4 says revocation was not confirmed', async (t) => {
  const xdg = await tempConfigHome(t)
  const server = `http://127.0.0.1:${await freePort()}/mcp`
  await seedCache(xdg, server, {
    issuer: server,
    client: { client_id: 'c1' },
    tokens: { access_token: 'a', refresh_token: 'r', token_type: 'Bearer' },
    discovery: { authorizationServerUrl: server, authorizationServerMetadata: { issuer: server, authorization_endpoint: `${server}/a`, token_endpoint: `${server}/t`, response_types_supported: ['code'], revocation_endpoint: `${server.replace('/mcp', '')}/revoke` } }
  })
  const res = await runCli(['logout', '--server', server], { env: { XDG_CONFIG_HOME: xdg } })
  t.equal(res.code, 4)
  t.match(res.stderr, /Deleted the local credentials .* but the server did not confirm the revocation: Cannot reach/)
  t.equal(await cacheFor(xdg).get(server), undefined)
  const again = await runCli(['logout', '--server', server], { env: { XDG_CONFIG_HOME: xdg } })
  t.equal(again.code, 0)
  t.match(again.stdout, /Not logged in .* nothing to do/)
})
