import t from 'tap'
import { classifyInboundRequest } from '@modelcontextprotocol/server'
import { eraOf, type EraHeaders } from '../../mcp/era.ts'

const claim = (version: unknown = '2026-07-28', more: object = { 'io.modelcontextprotocol/clientCapabilities': {} }) =>
  ({ _meta: { 'io.modelcontextprotocol/protocolVersion': version, ...more } })
const init = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } }

const cases: Array<[string, unknown, EraHeaders]> = [
  ['2025 request, no header', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, {}],
  ['2025 request, 2025 header', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { protocolVersion: '2025-06-18' }],
  ['2025 request, padded header', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { protocolVersion: ' 2025-11-25 ' }],
  ['2025 request, unknown header', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { protocolVersion: '1999-01-01' }],
  ['2025 request, 2026 header', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { protocolVersion: '2026-07-28' }],
  ['2025 notification', { jsonrpc: '2.0', method: 'notifications/initialized' }, {}],
  ['initialize', { jsonrpc: '2.0', id: 1, method: 'initialize', params: init }, {}],
  ['initialize, 2026 header', { jsonrpc: '2.0', id: 1, method: 'initialize', params: init }, { protocolVersion: '2026-07-28' }],
  ['initialize with a claim', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { ...init, ...claim() } }, { protocolVersion: '2026-07-28', method: 'initialize' }],
  ['2026 request', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: claim() }, { protocolVersion: '2026-07-28', method: 'tools/list' }],
  ['2026 request, unknown revision', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: claim('2027-01-01') }, { protocolVersion: '2027-01-01', method: 'tools/list' }],
  ['2026 notification', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, ...claim() } }, { protocolVersion: '2026-07-28' }],
  ['claim that is not a string', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: claim(5) }, {}],
  ['a response', { jsonrpc: '2.0', id: 1, result: {} }, {}],
  ['a 2025 batch', [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }], {}],
  ['a batch with a 2026 element', [{ jsonrpc: '2.0', id: 1, method: 'tools/list', params: claim() }], {}]
]

t.test('eraOf routes as the SDK classifier does: modern, legacy, or its rejection', async t => {
  for (const [label, body, headers] of cases) {
    const sdk = classifyInboundRequest({ httpMethod: 'POST', body, protocolVersionHeader: headers.protocolVersion, mcpMethodHeader: headers.method, mcpNameHeader: headers.name })
    const ours = eraOf(body, headers)
    if (ours.kind === 'modern' && sdk.kind === 'reject') {
      // Left to the SDK's handler, which classifies again and answers this very rejection.
      t.ok(sdk.rung === 'envelope' || sdk.rung === 'standard-header-validation' || sdk.rung === 'era-classification', `${label}: the handler rejects it (${sdk.cell})`)
      continue
    }
    t.equal(ours.kind, sdk.kind, label)
    if (ours.kind === 'reject' && sdk.kind === 'reject') t.equal(ours.code, sdk.code, `${label}: same code`)
  }
})
