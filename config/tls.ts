import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { join, resolve } from 'node:path'
import https from 'node:https'
import { rootCertificates } from 'node:tls'
import { Agent, setGlobalDispatcher } from 'undici'
import type { Checked, Reading } from './checks.ts'
import type { Config } from './index.ts'

// The https listener: an operator's certificate (TLS_CERT_PATH / TLS_KEY_PATH), or for development
// (DEV_TLS=true, `npm run dev -- --tls`) a self-signed one for localhost, made once and kept in
// DEV_TLS_DIR (git-ignored) so a browser or NODE_EXTRA_CA_CERTS trusts it across restarts.

export const DEV_TLS_DIR = '.dev-tls'
const DEV_NAMES = ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']
/** A certificate that ends sooner than this is made again. */
const RENEW_BEFORE_MS = 7 * 86_400_000
const VALID_DAYS = 365

export interface DevCertificate { certPath: string, keyPath: string, created: boolean }

function devFiles (dir: string) {
  const base = resolve(dir)
  return { certPath: join(base, 'cert.pem'), keyPath: join(base, 'key.pem') }
}

/** The kept certificate when it still covers localhost and is not about to end. */
function usable (certPath: string, now: number): boolean {
  try {
    const cert = new X509Certificate(readFileSync(certPath))
    const names = (cert.subjectAltName ?? '').split(', ')
    return DEV_NAMES.every(name => names.includes(name)) && Date.parse(cert.validTo) - now > RENEW_BEFORE_MS
  } catch {
    return false
  }
}

/** Makes (or keeps) the self-signed development certificate for localhost, 127.0.0.1 and ::1. */
export async function ensureDevCertificate (dir = DEV_TLS_DIR, now = Date.now()): Promise<DevCertificate> {
  const { certPath, keyPath } = devFiles(dir)
  if (usable(certPath, now)) return { certPath, keyPath, created: false }
  // A development dependency: loaded only when asked for, so production never needs it.
  const { generate } = await import('selfsigned')
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }
    ]
  })
  mkdirSync(resolve(dir), { recursive: true, mode: 0o700 })
  writeFileSync(keyPath, pems.private, { mode: 0o600 })
  chmodSync(keyPath, 0o600)
  writeFileSync(certPath, pems.cert)
  return { certPath, keyPath, created: true }
}

/** DEV_TLS as the schema reads a flag (Value.Convert): true or 1; anything else is left to the checks. */
function isOn (value: string | undefined): boolean {
  return value !== undefined && ['true', '1'].includes(value.trim().toLowerCase())
}

/**
 * The environment to load the configuration from: `source` as it is, or, when development TLS is
 * asked for (the `--tls` flag or DEV_TLS=true), with DEV_TLS=true after the certificate is made.
 */
export async function withDevTls (askedByFlag: boolean, source: Record<string, string | undefined> = process.env): Promise<Record<string, string | undefined>> {
  if (!askedByFlag && !isOn(source.DEV_TLS)) return source
  if (source.TLS_CERT_PATH === undefined && source.TLS_KEY_PATH === undefined) await ensureDevCertificate(source.DEV_TLS_DIR ?? DEV_TLS_DIR)
  return { ...source, DEV_TLS: 'true' }
}

/** TLS_CERT_PATH and TLS_KEY_PATH (both or neither, and readable), or the development certificate. */
export function checkTls (r: Reading): Checked<Config['tls']> {
  const { TLS_CERT_PATH: cert, TLS_KEY_PATH: key } = r.raw
  if ((cert === undefined) !== (key === undefined)) return { problems: ['TLS_CERT_PATH and TLS_KEY_PATH go together: set both or neither'], value: undefined }
  if (r.env.DEV_TLS && cert !== undefined) return { problems: ['DEV_TLS makes its own certificate: unset TLS_CERT_PATH and TLS_KEY_PATH, or DEV_TLS'], value: undefined }
  const files = r.env.DEV_TLS ? devFiles(r.env.DEV_TLS_DIR) : cert !== undefined && key !== undefined ? { certPath: cert, keyPath: key } : undefined
  if (files === undefined) return { problems: [], value: undefined }
  try {
    return { problems: [], value: { cert: readFileSync(files.certPath), key: readFileSync(files.keyPath), ...(r.env.DEV_TLS ? { development: true } : {}) } }
  } catch (err) {
    const names = r.env.DEV_TLS ? `the development certificate in ${r.env.DEV_TLS_DIR} (start with \`npm run dev -- --tls\` to make it)` : 'TLS_CERT_PATH/TLS_KEY_PATH'
    return { problems: [`${names} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], value: undefined }
  }
}

/**
 * Outgoing https of this process trusts the development certificate besides the usual roots: with
 * the embedded development identity provider, the service calls itself at https://localhost (token
 * endpoint, keys, the Graph stand-in). The certificate is a leaf (not a CA): it vouches only for itself.
 */
export function trustDevCertificate (cert: Buffer): void {
  const ca = devTrustedCas(cert)
  https.globalAgent.options.ca = ca
  setGlobalDispatcher(new Agent({ connect: { ca } }))
}

/** The usual roots plus the development certificate. */
export function devTrustedCas (cert: Buffer): string[] {
  return [...rootCertificates, cert.toString()]
}
