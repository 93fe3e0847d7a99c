import t from 'tap'
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto'
import { createClientAssertion } from '../../../../plugins/oauth-proxy/upstream-entra/client-assertion.ts'
import { loadConfig } from '../../../../config/index.ts'
import { makeCertificateFile } from '../../../support/oauth-certificate.ts'

const TENANT = '11111111-2222-4333-8444-555555555555'
const CLIENT = '66666666-7777-4888-9999-aaaaaaaaaaaa'

t.test('the assertion is an RS256 JWT Entra accepts: x5t header, iss=sub=client, aud=token endpoint, short life', async t => {
  const cert = makeCertificateFile(t)
  const config = loadConfig({ AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_CERTIFICATE_PATH: cert.path, MCP_BASE_URL: 'https://mcp.example.com' })
  const certificate = config.entra.certificate
  if (certificate === undefined) throw new Error('certificate not loaded')
  const now = 1_700_000_000_000
  const jwt = createClientAssertion({ clientId: CLIENT, tokenUrl: config.entra.tokenUrl, certificate, now: () => now })
  const [h, p, s] = jwt.split('.')
  const header = JSON.parse(Buffer.from(h, 'base64url').toString())
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
  const der = new X509Certificate(cert.certPem).raw
  t.same(header, { alg: 'RS256', typ: 'JWT', x5t: createHash('sha1').update(der).digest('base64url'), 'x5t#S256': createHash('sha256').update(der).digest('base64url') })
  t.equal(payload.iss, CLIENT)
  t.equal(payload.sub, CLIENT)
  t.equal(payload.aud, `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`)
  t.equal(payload.iat, now / 1000)
  t.equal(payload.nbf, now / 1000)
  t.equal(payload.exp - payload.iat, 600)
  t.match(payload.jti, /^[0-9a-f-]{36}$/)
  t.ok(verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey(cert.certPem), Buffer.from(s, 'base64url')), 'signature verifies with the certificate')
  const again = createClientAssertion({ clientId: CLIENT, tokenUrl: config.entra.tokenUrl, certificate })
  t.not(JSON.parse(Buffer.from(again.split('.')[1], 'base64url').toString()).jti, payload.jti, 'a fresh jti each time')
  t.throws(() => createClientAssertion({ clientId: CLIENT, tokenUrl: config.entra.tokenUrl, certificate, lifetimeSeconds: 3600 }))
})
