// Issue #17 §3: with APPLICATIONINSIGHTS_CONNECTION_STRING, spans go to Application Insights through
// @azure/monitor-opentelemetry. Its IngestionEndpoint points at a local https receiver standing in
// for the ingestion service (`POST /v2.1/track`, JSON envelopes): the exporter always uses https (it
// rewrites an http:// endpoint), so the service runs in a child process that trusts the receiver's
// self-signed certificate (NODE_EXTRA_CA_CERTS).
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { ensureDevCertificate } from '../../config/tls.ts'

interface Envelope { name: string, iKey: string, tags: Record<string, string>, data: { baseType: string, baseData: Record<string, any> } }

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const KEY = '0f0e0d0c-0b0a-4908-8706-050403020100'

const { certPath, keyPath } = await ensureDevCertificate(mkdtempSync(join(tmpdir(), 'ingestion-')))
const envelopes: Envelope[] = []
const paths: string[] = []
const ingestion = createServer({ cert: readFileSync(certPath), key: readFileSync(keyPath) }, (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', c => chunks.push(c))
  req.on('end', () => {
    paths.push(req.url ?? '')
    const raw = Buffer.concat(chunks)
    const parsed = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'))
    envelopes.push(...(Array.isArray(parsed) ? parsed : [parsed]))
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }))
  })
})
await new Promise<void>(resolve => ingestion.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>(resolve => { ingestion.closeAllConnections(); ingestion.close(() => resolve()) }))
const port = (ingestion.address() as AddressInfo).port

t.test('a request span reaches Application Insights as a request, with route, status, role and instance, without the query', async t => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--require', './test/support/test-process.cjs', 'test/support/azure-monitor-child.ts'], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certPath, APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${KEY};IngestionEndpoint=https://127.0.0.1:${port}/`, WEBSITE_INSTANCE_ID: 'instance-3' }
    }, (err, out, errOut) => { if (err !== null) reject(new Error(`${err.message}\n${errOut}`)); else resolve(out) })
  })
  t.same(JSON.parse(stdout), { status: 200, exporters: ['azure_monitor'] })
  t.ok(paths.some(p => p.startsWith('/v2.1/track')), 'posted to the ingestion endpoint')
  const request = envelopes.find(e => e.data.baseType === 'RequestData')
  t.equal(request?.iKey, KEY)
  t.equal(request?.data.baseData.name, 'GET /.well-known/oauth-authorization-server')
  t.equal(String(request?.data.baseData.responseCode), '200')
  t.equal(request?.tags['ai.cloud.role'], 'entra-mcp-gateway')
  t.equal(request?.tags['ai.cloud.roleInstance'], 'instance-3')
  t.notMatch(JSON.stringify(envelopes), /probe=1/, 'no query string')
})
