import { randomUUID, sign } from 'node:crypto'
import type { ClientCertificate } from '../../../config/index.ts'

export interface ClientAssertionOptions {
  clientId: string
  /** The token endpoint the assertion is presented to: its audience. */
  tokenUrl: string
  certificate: ClientCertificate
  /** Seconds; Entra accepts 5-10 minutes. */
  lifetimeSeconds?: number
  now?: () => number
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * The certificate credential of the Entra app registration: a JWT signed RS256 with the certificate's
 * private key, `x5t` (SHA-1) and `x5t#S256` thumbprints of the certificate in the header,
 * iss = sub = client id, aud = the token endpoint, a unique jti and a short lifetime.
 * https://learn.microsoft.com/entra/identity-platform/certificate-credentials
 */
export function createClientAssertion (opts: ClientAssertionOptions): string {
  const lifetime = opts.lifetimeSeconds ?? 600
  if (lifetime < 60 || lifetime > 600) throw new Error('client assertion lifetime must be between 60 and 600 seconds')
  const now = Math.floor((opts.now ?? Date.now)() / 1000)
  const header = { alg: 'RS256', typ: 'JWT', x5t: opts.certificate.x5t, 'x5t#S256': opts.certificate.x5tS256 }
  const payload = {
    aud: opts.tokenUrl,
    iss: opts.clientId,
    sub: opts.clientId,
    jti: randomUUID(),
    iat: now,
    nbf: now,
    exp: now + lifetime
  }
  const input = `${b64(header)}.${b64(payload)}`
  const signature = sign('RSA-SHA256', Buffer.from(input), opts.certificate.privateKey).toString('base64url')
  return `${input}.${signature}`
}
