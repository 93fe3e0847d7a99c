import t from 'tap'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureDevCertificate, withDevTls } from '../../config/tls.ts'
import { loadConfig } from '../../config/index.ts'

const DAY = 86_400_000
const scratch = () => mkdtempSync(join(tmpdir(), 'emg-dev-tls-'))

t.test('the development certificate covers localhost, 127.0.0.1 and ::1 with an ECDSA key only its owner can read', async t => {
  const dir = scratch()
  const made = await ensureDevCertificate(dir)
  t.equal(made.created, true)
  const cert = new X509Certificate(readFileSync(made.certPath))
  t.same(cert.subjectAltName?.split(', ').sort(), ['DNS:localhost', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:127.0.0.1'])
  t.equal(cert.ca, false, 'not a CA: trusting it cannot vouch for other sites')
  t.equal(createPrivateKey(readFileSync(made.keyPath)).asymmetricKeyType, 'ec')
  t.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(made.keyPath))), 'the key belongs to the certificate')
  t.equal(statSync(made.keyPath).mode & 0o777, 0o600)
  t.ok(Date.parse(cert.validTo) - Date.now() > 360 * DAY, 'valid for about a year')
})

t.test('a kept certificate is used again, so a browser that trusts it keeps trusting it across restarts', async t => {
  const dir = scratch()
  const first = await ensureDevCertificate(dir)
  const pem = readFileSync(first.certPath, 'utf8')
  const again = await ensureDevCertificate(dir)
  t.equal(again.created, false)
  t.equal(readFileSync(again.certPath, 'utf8'), pem)
})

t.test('a certificate about to end, or a file that is not one, is made again', async t => {
  const dir = scratch()
  const first = await ensureDevCertificate(dir)
  const pem = readFileSync(first.certPath, 'utf8')
  const nearEnd = await ensureDevCertificate(dir, Date.now() + 360 * DAY)
  t.equal(nearEnd.created, true, 'less than a week left')
  t.not(readFileSync(nearEnd.certPath, 'utf8'), pem)
  writeFileSync(nearEnd.certPath, 'not a certificate')
  t.equal((await ensureDevCertificate(dir)).created, true)
})

t.test('DEV_TLS (or --tls) serves https on localhost with the development certificate', async t => {
  const dir = scratch()
  const source = await withDevTls(true, { DEV_TLS_DIR: dir, PORT: '8443' })
  const config = loadConfig(source)
  t.equal(config.baseUrl, 'https://localhost:8443')
  t.ok(config.tls !== undefined)
  t.equal(config.tls?.cert.toString(), readFileSync(join(dir, 'cert.pem'), 'utf8'))
  const fromEnv = loadConfig(await withDevTls(false, { DEV_TLS: 'true', DEV_TLS_DIR: dir, MCP_BASE_URL: 'https://127.0.0.1:8443' }))
  t.equal(fromEnv.baseUrl, 'https://127.0.0.1:8443', 'an explicit MCP_BASE_URL is kept')
})

t.test('without DEV_TLS or --tls nothing is made and the environment is used as it is', async t => {
  const dir = scratch()
  const source = { DEV_TLS_DIR: dir }
  t.equal(await withDevTls(false, source), source)
  t.throws(() => statSync(join(dir, 'cert.pem')))
  t.equal(loadConfig(source).baseUrl, 'http://localhost:8000')
})

t.test('DEV_TLS with an operator certificate is refused: one of the two', async t => {
  const dir = scratch()
  const source = await withDevTls(true, { DEV_TLS_DIR: dir, TLS_CERT_PATH: '/tmp/a.pem', TLS_KEY_PATH: '/tmp/b.pem' })
  t.throws(() => statSync(join(dir, 'cert.pem')), 'no certificate made')
  t.throws(() => loadConfig(source), /DEV_TLS makes its own certificate: unset TLS_CERT_PATH and TLS_KEY_PATH, or DEV_TLS/)
})

t.test('DEV_TLS whose certificate is missing says how to make it', async t => {
  t.throws(() => loadConfig({ DEV_TLS: 'true', DEV_TLS_DIR: join(scratch(), 'none') }), /the development certificate in .*none \(start with `npm run dev -- --tls` to make it\) cannot be read: ENOENT/)
})
