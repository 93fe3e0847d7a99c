// The official MCP Inspector CLI (@modelcontextprotocol/inspector, a client that is not part of this
// repository) against a listening server in development mode, through the whole OAuth flow:
// it discovers the protected resource and authorization server metadata from the 401, registers
// itself, prints the authorization URL and waits on its loopback callback; Browserless stands in for
// the user's browser (consent page, development sign-in) and delivers the redirect to that callback.
//
// The Inspector runs on Node 22 from .tools/conformance (installed on first use, see
// test/support/node22-tools.ts), pinned to one version: its CLI's prompts and exit codes are what
// this file reads. Every run gets its own HOME, in-memory secret store and callback port.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildListening, freePort } from '../helper.ts'
import { Browserless } from '../support/browserless.ts'
import { auditsOf } from '../support/oauth-flow.ts'
import { INSTALL_TIMEOUT_MS, NODE22, ensureNode22Tools, node22ToolsInstalled, toolPath } from '../support/node22-tools.ts'

const LAUNCHER = toolPath('@modelcontextprotocol/inspector', 'clients', 'launcher', 'build', 'index.js')
/** One Inspector run, OAuth included, normally takes a few seconds. */
const RUN_TIMEOUT_MS = 45_000
/** The Inspector's exit code for "authentication required" (EXIT_CODES.AUTH_REQUIRED). */
const EXIT_AUTH_REQUIRED = 3
const DEV_USERS = {
  ada: { id: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61', displayName: 'Ada Lovelace', userPrincipalName: 'ada@dev-idp.example.com' },
  grace: { id: '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72', displayName: 'Grace Hopper', userPrincipalName: 'grace@dev-idp.example.com' }
}

// The first run on a fresh machine installs Node 22 and the Inspector (or waits for the
// conformance test to do it): give that run the install's time on top of its own.
if (!node22ToolsInstalled()) t.setTimeout(INSTALL_TIMEOUT_MS + 120_000)
t.before(async () => {
  await ensureNode22Tools(line => t.comment(line))
})
// Each case has its own server, Inspector HOME and callback port, and mostly waits on the Inspector's
// Node 22 process: side by side.
t.jobs = 3

interface Authorization {
  /** The authorization URL the Inspector printed. */
  url: URL
  /** Every URL Browserless went through, the callback included. */
  chain: string[]
  /** The redirect back to the Inspector (code or error), and how its callback server answered. */
  callback: URL
  callbackStatus: number
}

interface InspectorRun {
  code: number | null
  stdout: string
  stderr: string
  authorizations: Authorization[]
  /** Set when the run went wrong on our side (timeout, a page Browserless could not handle). */
  problems: string[]
}

interface RunOptions {
  /** The dev sign-in user Browserless picks. */
  user?: string
  /** The answer typed at the step-up prompt ("Proceed with step-up authorization? [y/N]"); none: stdin is closed. */
  stepUp?: 'y' | 'n'
  /** Files for --config, written into the run's HOME. */
  files?: Record<string, string>
}

function stripEscapes (text: string): string {
  // eslint-disable-next-line no-control-regex -- terminal colours and OSC 8 links are exactly what is removed
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]|\u001b\]8;[^\u0007\u001b]*(?:\u0007|\u001b\\)/g, '')
}

/**
 * Runs `mcp-inspector --cli <args>` (Node 22) and plays the user: each authorization URL it prints is
 * driven through consent and sign-in by one Browserless "browser", whose final redirect is delivered
 * to the Inspector's callback; a step-up prompt gets `stepUp`. `{home}` in `args` is the run's HOME.
 */
async function inspector (t: Test, args: string[], opts: RunOptions = {}): Promise<InspectorRun> {
  const home = mkdtempSync(join(tmpdir(), 'inspector-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const callbackUrl = `http://127.0.0.1:${await freePort()}/oauth/callback` // its own port: runs never collide
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(home, name), content)
  const argv = [...args.map(a => a.replaceAll('{home}', home)), '--callback-url', callbackUrl]

  const child = spawn(NODE22, [LAUNCHER, '--cli', ...argv], {
    cwd: home,
    // Only what the Inspector needs: nothing of the test runner's environment (NODE_OPTIONS loaders, proxies).
    env: {
      PATH: `${dirname(NODE22)}:${process.env.PATH ?? ''}`,
      HOME: home,
      NO_COLOR: '1',
      // Print the authorization URL and wait for the callback although stderr is not a terminal.
      MCP_AUTO_OPEN_ENABLED: 'true',
      MCP_INSPECTOR_SECRET_STORE: 'memory'
    },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  if (opts.stepUp === undefined) child.stdin.end()

  const result: InspectorRun = { code: null, stdout: '', stderr: '', authorizations: [], problems: [] }
  const browser = new Browserless()
  let driving: Promise<void> = Promise.resolve()
  let navigations = 0
  let answered = false
  const fail = (problem: string) => {
    result.problems.push(problem)
    child.kill('SIGKILL')
  }
  child.stdout.on('data', chunk => { result.stdout += chunk })
  child.stderr.on('data', chunk => {
    result.stderr += chunk
    const plain = stripEscapes(result.stderr)
    if (opts.stepUp !== undefined && !answered && plain.includes('[y/N]')) {
      answered = true
      child.stdin.end(`${opts.stepUp}\n`)
    }
    const urls = [...plain.matchAll(/Please navigate to: (\S+)\r?\n/g)].map(m => m[1]) // whole lines only
    for (const url of urls.slice(navigations)) {
      driving = driving.then(async () => {
        const flow = await browser.authorize(url, { user: opts.user ?? 'Ada Lovelace', stopAt: u => u.startsWith(callbackUrl) })
        const answer = await fetch(flow.url)
        await answer.arrayBuffer()
        result.authorizations.push({ url: new URL(url), chain: flow.chain, callback: new URL(flow.url), callbackStatus: answer.status })
      }).catch(err => fail(`driving ${url}: ${(err as Error).message}`))
    }
    navigations = urls.length
  })
  const timer = setTimeout(() => fail(`the Inspector did not finish within ${RUN_TIMEOUT_MS} ms`), RUN_TIMEOUT_MS)
  result.code = await new Promise<number | null>(resolve => {
    child.on('close', code => resolve(code))
    child.on('error', err => { result.problems.push(`the Inspector did not start: ${err.message}`); resolve(null) })
  })
  clearTimeout(timer)
  await driving
  result.stderr = stripEscapes(result.stderr)
  return result
}

/** What a failed assertion shows about the run (tap prints these extra fields on failure only). */
function explain (run: InspectorRun) {
  return { problems: run.problems, stderr: run.stderr.slice(-3000), stdout: run.stdout.slice(0, 1000) }
}

interface Logged { method: string, path: string, url: string, status?: number }

/** The server's requests in arrival order, with their status, read from its debug logs. */
function requests (logs: string[]): Logged[] {
  const byId = new Map<string, Logged>()
  for (const line of logs) {
    const entry = JSON.parse(line)
    if (entry.msg === 'incoming request') byId.set(entry.reqId, { method: entry.req.method, url: entry.req.url, path: entry.req.url.split('?')[0] })
    else if (entry.msg === 'request completed' && byId.has(entry.reqId)) byId.get(entry.reqId)!.status = entry.res.statusCode
  }
  return [...byId.values()]
}

/** `wanted` ("METHOD /path STATUS", status optional) appear in this order among `seen`. */
function inOrder (seen: Logged[], wanted: string[]): string[] {
  const missing: string[] = []
  let from = 0
  for (const want of wanted) {
    const [method, path, status] = want.split(' ')
    const at = seen.findIndex((r, i) => i >= from && r.method === method && r.path === path && (status === undefined || String(r.status) === status))
    if (at === -1) missing.push(want)
    else from = at + 1
  }
  return missing
}

const scopesOf = (url: URL) => (url.searchParams.get('scope') ?? '').split(' ').filter(Boolean).sort()

async function startServer (t: Test) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const { baseUrl } = await buildListening(t, {}, { logs, setup: i => { inner = i } })
  return { baseUrl, logs, app: () => inner! }
}

t.test('the Inspector discovers, registers, authorizes (consent + dev sign-in) and gets a token, then lists the tools and calls graph_me', async t => {
  const { baseUrl, logs, app } = await startServer(t)

  const list = await inspector(t, [`${baseUrl}/mcp`, '--method', 'tools/list', '--format', 'json'])
  t.equal(list.code, 0, 'the Inspector exits 0', explain(list))
  t.same(list.problems, [], 'the run went as planned')
  t.equal(list.authorizations.length, 1, 'one authorization')
  const [auth] = list.authorizations
  const clientId = auth.url.searchParams.get('client_id') ?? ''
  t.equal(auth.url.origin + auth.url.pathname, `${baseUrl}/authorize`, 'the authorization endpoint from the metadata')
  t.equal(auth.url.searchParams.get('code_challenge_method'), 'S256')
  t.equal(auth.url.searchParams.get('resource'), `${baseUrl}/mcp`, 'RFC 8707 resource: this server')
  t.same(scopesOf(auth.url), ['graph.read', 'tools.read', 'tools.write'], 'the scopes the resource metadata offers')
  t.ok(auth.chain.some(u => u.startsWith(`${baseUrl}/authorize/consent`)), 'the consent page was shown and approved')
  t.ok(auth.chain.some(u => /\/dev-idp\/[^/]+\/signin\//.test(u)), 'the user signed in at the development identity provider')
  t.ok(auth.callback.searchParams.has('code'), 'a code came back')
  t.equal(auth.callback.searchParams.get('iss'), baseUrl, 'RFC 9207 iss')
  t.equal(auth.callbackStatus, 200, 'the Inspector\'s callback took it')

  const registered = await app().clients.get(clientId)
  t.ok(registered, 'the Inspector registered itself (dynamic client registration)')
  t.same(registered?.redirect_uris, [auth.callback.origin + auth.callback.pathname], 'with its loopback callback')
  t.equal(registered?.token_endpoint_auth_method, 'none', 'as a public client')

  const seen = requests(logs)
  t.same(inOrder(seen, [
    'POST /mcp 401',
    'GET /.well-known/oauth-protected-resource/mcp 200',
    'GET /.well-known/oauth-authorization-server 200',
    'POST /register 201',
    'GET /authorize 200',
    'POST /token 200',
    'POST /mcp 200'
  ]), [], `the 401, the discovery, the registration, the flow, then MCP with a token: ${seen.map(r => `${r.method} ${r.path} ${String(r.status)}`).join(', ')}`)
  t.same(auditsOf(logs, 'token.issued').map(a => a.client_id), [clientId], 'one token, for the Inspector\'s client')

  const tools = JSON.parse(list.stdout).result.tools.map((tool: { name: string }) => tool.name)
  t.same([...tools].sort(), ['graph_me', 'revoke_my_sign_in', 'validate_token', 'whoami'], 'tools/list lists the four tools')

  const call = await inspector(t, [`${baseUrl}/mcp`, '--method', 'tools/call', '--tool-name', 'graph_me', '--format', 'json'], { user: 'Ada Lovelace' })
  t.equal(call.code, 0, 'the Inspector exits 0', explain(call))
  t.equal(call.authorizations.length, 1, 'a fresh Inspector (nothing stored) goes through the flow again')
  const result = JSON.parse(call.stdout).result
  t.notOk(result.isError, 'not an error result', { result })
  t.match(result.structuredContent, DEV_USERS.ada, 'graph_me returns the signed-in user\'s profile from the dev Graph')
  t.match(JSON.parse(result.content[0].text), DEV_USERS.ada, 'in the text content too')
})

t.test('step-up through the Inspector: it registers itself for tools.read, gets a 403 insufficient_scope on graph_me, authorizes again for tools.read graph.read, then succeeds', async t => {
  const { baseUrl, logs, app } = await startServer(t)
  // Configured to ask for tools.read only, the Inspector registers for that scope alone; the
  // registered scope is a default, not a ceiling, so its step-up is allowed (docs/oauth.md).
  const config = { mcpServers: { gateway: { type: 'http', url: `${baseUrl}/mcp`, oauth: { scopes: 'tools.read' } } } }
  const run = await inspector(t, ['--config', '{home}/mcp.json', '--server', 'gateway',
    '--method', 'tools/call', '--tool-name', 'graph_me', '--format', 'json'], { user: 'Grace Hopper', stepUp: 'y', files: { 'mcp.json': JSON.stringify(config) } })
  t.equal(run.code, 0, 'the Inspector exits 0', explain(run))
  t.same(run.problems, [], 'the run went as planned')
  t.equal(run.authorizations.length, 2, 'two authorizations')
  const [first, second] = run.authorizations
  t.same(scopesOf(first.url), ['tools.read'], 'first: tools.read only')
  const clientId = first.url.searchParams.get('client_id') ?? ''
  t.equal((await app().clients.get(clientId))?.scope, 'tools.read', 'the Inspector registered itself for the scope it was configured to ask')
  t.match(run.stderr, /needs additional scope: graph\.read/, 'the Inspector read the 403 challenge')
  t.match(run.stderr, /Proceed with step-up authorization\? \[y\/N\]/, 'and asked before stepping up')
  t.same(scopesOf(second.url), ['graph.read', 'tools.read'], 'second: the scopes the challenge named')
  t.equal(second.url.searchParams.get('client_id'), clientId, 'with the same registration')
  t.ok(second.chain.some(u => u.startsWith(`${baseUrl}/authorize/consent`)), 'the user consented to the larger scope')
  t.ok(second.callback.searchParams.has('code'), 'a code came back')
  t.equal(second.callbackStatus, 200, 'the Inspector\'s callback took it')

  t.same(inOrder(requests(logs), ['POST /token 200', 'POST /mcp 403', 'GET /authorize 200', 'POST /token 200', 'POST /mcp 200']), [], 'token, 403, authorize again, token, success')
  t.match(auditsOf(logs, 'scope.denied'), [{ tool: 'graph_me', missing: ['graph.read'] }], 'the service refused graph_me for the missing scope')
  t.same(auditsOf(logs, 'token.issued').map(a => [...a.scopes].sort()), [['tools.read'], ['graph.read', 'tools.read']], 'a token for tools.read, then one for both')

  const result = JSON.parse(run.stdout).result
  t.notOk(result.isError, 'not an error result', { result })
  t.match(result.structuredContent, DEV_USERS.grace, 'graph_me then answers with the signed-in user\'s profile')
})

t.test('with --stored-auth-only and nothing stored, the Inspector reports that authentication is required and starts no flow', async t => {
  const { baseUrl, logs } = await startServer(t)
  const run = await inspector(t, [`${baseUrl}/mcp`, '--stored-auth-only', '--method', 'tools/list', '--format', 'json'])
  t.same(run.problems, [], 'the run went as planned')
  t.equal(run.code, EXIT_AUTH_REQUIRED, 'the Inspector exits with its "authentication required" code', explain(run))
  const error = JSON.parse(run.stderr.split('\n').find(line => line.startsWith('{"error"')) ?? '{}').error
  t.equal(error?.code, 'auth_required', 'its auth_required error')
  t.match(error?.message, /needs a bearer token/, 'carrying the service\'s 401 description')
  t.notMatch(run.stderr, /Please navigate to/, 'no authorization URL')
  t.same(run.authorizations, [], 'nothing to authorize')
  t.same(requests(logs).map(r => `${r.method} ${r.path} ${String(r.status)}`), ['POST /mcp 401'], 'one MCP request, answered 401; no registration, no authorization')
})
