// `npm run dev -- --tls`: the real server.ts over https with its self-signed development certificate,
// and one whole sign-in through it by a Node client that trusts the certificate via NODE_EXTRA_CA_CERTS.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from '../helper.ts'
import { startServer } from '../support/server-process.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** server.ts --tls on a free port, its certificate made in a folder of its own. */
async function devTlsServer (t: Parameters<typeof startServer>[0], env: Record<string, string> = {}) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'emg-dev-tls-'))
  await startServer(t, {
    cwd: root,
    args: ['--import', 'tsx', 'server.ts', '--tls'],
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', DEV_TLS_DIR: dir, LOG_LEVEL: 'info', ...env }
  })
  return { port, dir }
}

t.test('with --tls a whole sign-in works over https, with __Host- cookies and HSTS as in production', async t => {
  const { port, dir } = await devTlsServer(t, { RATE_LIMIT_ENABLED: 'false' })
  const baseUrl = `https://localhost:${port}`
  const run = promisify(execFile)
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'test/support/sign-in-over-https.ts'), baseUrl], {
    cwd: root, env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') }, timeout: 60_000
  })
  const seen = JSON.parse(stdout)
  t.equal(seen.issuer, baseUrl, 'MCP_BASE_URL defaults to https://localhost:PORT')
  t.match(seen.hsts, /max-age=\d+/, 'HSTS on https answers')
  t.equal(seen.tokenStatus, 200, 'the code was exchanged for tokens')
  t.equal(seen.mcpStatus, 200, 'the access token is accepted at /mcp')
  t.notOk(seen.graphMe.result?.isError, 'graph_me is not an error')
  t.match(seen.graphMe.result?.content?.[0]?.text, /ada@dev-idp\.example\.com/, 'graph_me reached the Graph stand-in over the service\'s own outgoing https')
  const ours = seen.cookies.filter((c: { domain: string }) => c.domain === 'localhost').map((c: { name: string }) => c.name)
  t.ok(ours.some((name: string) => name.startsWith('__Host-')), `the sign-in cookies carry the __Host- prefix (${ours.join(', ')})`)
  t.ok(seen.cookies.filter((c: { name: string }) => c.name.startsWith('__Host-')).every((c: { secure: boolean }) => c.secure), 'and are Secure')
})

t.test('a Node client that does not trust the development certificate is refused by TLS', async t => {
  const { port } = await devTlsServer(t)
  const err = await fetch(`https://localhost:${port}/health`).then(() => undefined, (e: Error & { cause?: { code?: string } }) => e)
  t.equal(err?.cause?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT')
})
