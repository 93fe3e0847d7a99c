// Issue #11 §7: slow clients against the service exposed directly. Partial headers are cut after
// HTTP_HEADERS_TIMEOUT, a slow body after HTTP_REQUEST_TIMEOUT, and connections beyond
// HTTP_MAX_CONNECTIONS are refused; over plain HTTP and over the TLS listener alike.
// Real sockets against a listening server: these limits live in Node's HTTP server.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from './helper.ts'

const dir = mkdtempSync(join(tmpdir(), 'emg-timeouts-'))
const TLS = { TLS_CERT_PATH: join(dir, 'cert.pem'), TLS_KEY_PATH: join(dir, 'key.pem') }
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', TLS.TLS_KEY_PATH, '-out', TLS.TLS_CERT_PATH, '-days', '1',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })

// Each case mostly waits for a server-side timer (1 to 2 s, checked once a second) on a server of its
// own: run them side by side rather than one after another.
t.jobs = 6

const LIMITS = { HTTP_HEADERS_TIMEOUT: '1', HTTP_REQUEST_TIMEOUT: '2', HTTP_MAX_CONNECTIONS: '3', RATE_LIMIT_ENABLED: 'false' }

async function listening (t: Test, tls: boolean) {
  const app = await build(t, { ...LIMITS, ...(tls ? TLS : {}) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return function open (): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket: Socket = tls
        ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(socket))
        : netConnect({ port, host: '127.0.0.1' }, () => resolve(socket))
      socket.once('error', reject)
    })
  }
}

/** What the server sent until it closed the socket, and after how many ms; rejects if it stays open `withinMs`. */
function closedBy (socket: Socket, withinMs: number): Promise<{ received: string, afterMs: number }> {
  const started = Date.now()
  let received = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`still open after ${withinMs} ms`)) }, withinMs)
    socket.on('data', chunk => { received += chunk.toString() })
    socket.on('error', () => {})
    socket.once('close', () => { clearTimeout(timer); resolve({ received, afterMs: Date.now() - started }) })
  })
}

for (const tls of [false, true]) {
  const scheme = tls ? 'https' : 'http'

  t.test(`${scheme}: partial headers are cut after HTTP_HEADERS_TIMEOUT with 408`, async t => {
    const open = await listening(t, tls)
    const socket = await open()
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    const { received, afterMs } = await closedBy(socket, 5000)
    t.ok(afterMs >= 900, `not before the timeout (${afterMs} ms)`)
    t.match(received, /^HTTP\/1\.1 408/)
  })

  t.test(`${scheme}: a body trickling in is cut after HTTP_REQUEST_TIMEOUT with 408`, async t => {
    const open = await listening(t, tls)
    const socket = await open()
    socket.write('POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{')
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 200)
    t.teardown(() => clearInterval(drip))
    const { received, afterMs } = await closedBy(socket, 6000)
    clearInterval(drip)
    t.ok(afterMs >= 1900, `not before the timeout (${afterMs} ms)`)
    t.match(received, /^HTTP\/1\.1 408/)
  })

  t.test(`${scheme}: connections beyond HTTP_MAX_CONNECTIONS are dropped; those inside keep working`, async t => {
    const open = await listening(t, tls)
    const kept = [await open(), await open(), await open()]
    t.teardown(() => { for (const s of kept) s.destroy() })
    const extra = await open().catch(() => null)
    if (extra !== null) {
      // Accepted by the kernel, then closed by the server before any answer.
      extra.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      const { received } = await closedBy(extra, 3000)
      t.equal(received, '', 'the fourth connection got no answer')
    } else {
      t.pass('the fourth connection failed its handshake')
    }
    const first = kept[0]
    const answer = new Promise<string>(resolve => first.once('data', chunk => resolve(chunk.toString())))
    first.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    t.match(await answer, /^HTTP\/1\.1 200/, 'a connection inside the cap is served')
  })
}
