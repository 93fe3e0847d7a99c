import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from './helper.ts'

// The optional TLS listener (TLS_CERT_PATH / TLS_KEY_PATH), for running without a TLS proxy.

const dir = mkdtempSync(join(tmpdir(), 'emg-tls-'))
const certPath = join(dir, 'cert.pem')
const keyPath = join(dir, 'key.pem')
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })
const ca = readFileSync(certPath)

async function listening (t: Parameters<typeof build>[0]) {
  const app = await build(t, { TLS_CERT_PATH: certPath, TLS_KEY_PATH: keyPath })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as { port: number }).port
}

function handshake (port: number, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', servername: 'localhost', ca, maxVersion, minVersion: 'TLSv1.2' }, () => {
      const version = socket.getProtocol() ?? 'unknown'
      socket.end()
      resolve(version)
    })
    socket.once('error', reject)
  })
}

t.test('serves https with TLS 1.3, and HSTS on its answers', async t => {
  const port = await listening(t)
  t.equal(await handshake(port, 'TLSv1.3'), 'TLSv1.3')
  const res = await new Promise<{ status?: number, hsts?: string | string[], body: string }>((resolve, reject) => {
    request({ port, host: '127.0.0.1', servername: 'localhost', path: '/health', ca }, response => {
      let body = ''
      response.on('data', chunk => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode, hsts: response.headers['strict-transport-security'], body }))
    }).on('error', reject).end()
  })
  t.equal(res.status, 200)
  t.same(JSON.parse(res.body), { status: 'ok' })
  t.equal(res.hsts, 'max-age=31536000; includeSubDomains')
})

t.test('refuses a client limited to TLS 1.2', async t => {
  const port = await listening(t)
  const err = await handshake(port, 'TLSv1.2').then(() => null, (e: NodeJS.ErrnoException) => e)
  t.ok(err !== null, 'the handshake fails')
  t.match(err?.code, /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/, String(err?.message))
})
