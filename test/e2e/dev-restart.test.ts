// What a restart of `npm run dev` (each save under tsx watch) does to sign-ins, as the README says.
import t, { type Test } from 'tap'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { freePort, redisEnv, requireRedis } from '../helper.ts'
import { startServer } from '../support/server-process.ts'
import { SIGNING_KEY_PEM } from '../support/mcp.ts'
import { fullFlow, mcpStatus, registerClient, tokenRequest } from '../support/oauth-flow.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
// The two cases share nothing (own ports, own Redis prefix) and mostly wait for server.ts to start: side by side.
t.jobs = 2

/** server.ts as a process on a fixed port, stopped and started again as tsx watch does. */
async function restartable (t: Test, env: Record<string, string> = {}) {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const start = async () => await startServer(t, {
    cwd: root,
    args: ['--import', 'tsx', 'server.ts'],
    env: { PATH: process.env.PATH, MCP_BASE_URL: baseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', RATE_LIMIT_ENABLED: 'false', ...env }
  })
  return { baseUrl, start }
}

async function signInThenRestart (t: Test, env: Record<string, string> = {}) {
  const { baseUrl, start } = await restartable(t, env)
  const first = await start()
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200, 'signed in')
  first.child.kill('SIGTERM')
  await first.exited
  await start()
  // fetch may still hold a kept-alive connection to the stopped process: let it fail on a harmless GET.
  await fetch(`${baseUrl}/health`).then(res => res.arrayBuffer(), () => undefined)
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  return { access: await mcpStatus(baseUrl, tokens.body.access_token), refreshed }
}

t.test('the development setup forgets everything on restart: tokens from before are refused, clients sign in again', async t => {
  const { access, refreshed } = await signInThenRestart(t)
  t.equal(access, 401, 'the access token was signed with the ephemeral key of the previous process')
  t.match(refreshed, { status: 401, body: { error: 'invalid_client' } }, 'the client\'s registration (and its refresh token) were in the in-memory store')
})

t.test('with REDIS_URL, TOKEN_SIGNING_KEY and TOKEN_ENCRYPTION_KEY, sign-ins outlive a restart', async t => {
  await requireRedis()
  const { access, refreshed } = await signInThenRestart(t, { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') })
  t.equal(access, 200, 'the access token is still accepted')
  t.equal(refreshed.status, 200, 'and the refresh token still refreshes')
})
