import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort, redisEnv } from './helper.ts'
import { startServer } from './support/server-process.ts'
import { compiledBuild } from './support/compiled-build.ts'
import { compose, dockerfile, dockerfileEnv, gatewayEnv } from './support/containers.ts'
import { ensureNode22Tools, INSTALL_TIMEOUT_MS, node22ToolsInstalled, NODE22, PINNED } from './support/node22-tools.ts'
import { Browserless } from './support/browserless.ts'
import { authorizeRequest, registerClient, signIn, tokenRequest } from './support/oauth-flow.ts'
import { connectClient } from './support/mcp.ts'

// No container engine runs here, so this does what the image does: the runtime stage's production
// install into a folder of its own (outside the project: no node_modules above it to fall back on, so
// a runtime import of a development dependency fails as it would in the image), the compiled dist/,
// the image's Node version and CMD, and the environment docker-compose gives the gateway.

const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
// The first run installs Node 22 into .tools/ (shared with the Inspector and conformance tests).
if (!node22ToolsInstalled()) t.setTimeout(INSTALL_TIMEOUT_MS + 120_000)

t.test('the production image: its install, build, Node and compose environment serve /health/ready and a full sign-in', async t => {
  const started = Date.now()
  const { runtime } = dockerfile()

  const from = runtime[0].match(/^FROM node:(\S+?)-slim\b/i)
  t.ok(from, 'the runtime stage is a node slim image pinned to a version')
  t.equal(from?.[1], PINNED.node, 'the image runs the Node this test runs (test/support/node22-tools.ts)')
  const install = runtime.find(line => /^RUN npm ci\b/.test(line))?.slice('RUN '.length).split('&&')[0].trim().split(/\s+/) ?? []
  t.match(install.join(' '), /^npm ci .*--omit=dev/, 'the runtime stage installs production dependencies only')
  const cmd = JSON.parse(runtime.find(line => line.startsWith('CMD '))?.slice('CMD '.length) ?? '[]') as string[]
  t.equal(cmd[0], 'node')

  const image = mkdtempSync(join(tmpdir(), 'emg-image-'))
  t.teardown(() => rmSync(image, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(root, file), join(image, file))
  // Under `npm test`, npm exports its settings to this process: a child npm must not take the project's prefix.
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_(local_prefix|allow_scripts)$/i.test(key)))
  // The build stage's `npm run build` (--noCheck: types are the typecheck step's business; the build is shared
  // with server-build.test.ts) runs while npm installs.
  const [, build] = await Promise.all([
    run(install[0], [...install.slice(1), '--prefer-offline'], { cwd: image, env: npmEnv, maxBuffer: 16 * 1024 * 1024 }),
    compiledBuild()
  ])
  t.notOk(existsSync(join(image, 'node_modules', 'openai')), 'the model SDKs are not in the production install')
  t.notOk(existsSync(join(image, 'node_modules', 'tsx')), 'nor any development tool')
  cpSync(build, join(image, 'dist'), { recursive: true })
  await ensureNode22Tools(line => t.comment(line))

  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const env: Record<string, string | undefined> = {
    ...gatewayEnv(await compose(['config'], '')),
    ...dockerfileEnv(runtime),
    // What docker's port mapping and the compose network change: the published address and Redis's host.
    PORT: String(port),
    HOST: '127.0.0.1',
    MCP_BASE_URL: baseUrl,
    ...redisEnv(),
    PATH: process.env.PATH
  }
  t.equal(env.NODE_ENV, 'production', 'the Dockerfile\'s environment is applied')
  const server = await startServer(t, { node: NODE22, cwd: image, args: cmd.slice(1), env })

  const ready = await fetch(`${baseUrl}/health/ready`)
  t.equal(ready.status, 200, 'ready')
  t.match(await ready.json(), { status: 'ready', checks: { store: { ok: true } } })

  const client = await registerClient(baseUrl)
  const request = await authorizeRequest(baseUrl, client)
  const callback = await signIn(new Browserless(), request.url)
  const tokens = await tokenRequest(baseUrl, { grant_type: 'authorization_code', code: callback.get('code') ?? '', redirect_uri: client.redirect_uris[0], client_id: client.client_id, code_verifier: request.verifier })
  t.equal(tokens.status, 200, 'the sign-in ends with tokens')
  const mcp = await connectClient(t, baseUrl, tokens.body.access_token)
  const whoami = await mcp.callTool({ name: 'whoami', arguments: {} }) as { structuredContent?: { name?: string } }
  t.equal(whoami.structuredContent?.name, 'Ada Lovelace', 'the signed-in user calls a tool')

  t.notMatch(server.output(), /Unsupported runtime/, 'oidc-provider supports the image\'s Node')
  t.notMatch(server.output(), /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/)

  // The CLI is in dist/ too; its agent says why it cannot run without the model SDKs.
  const agent = await run(NODE22, ['dist/client/cli.js', 'agent', '--provider', 'openai', 'hello'], {
    cwd: image,
    env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-unused', XDG_CONFIG_HOME: image }
  }).then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => err)
  t.equal(agent.code, 1)
  t.match(agent.stderr, /needs the "openai" package, which is not installed here/)
  t.comment(`image test took ${Math.round((Date.now() - started) / 1000)} s`)
})
