// A local OTLP/HTTP receiver for trace tests: collects the JSON export requests the service's OTLP
// exporter sends to `{url}/v1/traces`, and flattens them into spans. Not a test file.
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: Record<string, unknown>
  events: Array<{ name: string, attributes: Record<string, unknown> }>
  status: { code?: number, message?: string }
  resource: Record<string, unknown>
}

interface KeyValue { key: string, value: Record<string, unknown> }

const valueOf = (value: Record<string, unknown>): unknown => {
  const [kind, inner] = Object.entries(value)[0] ?? []
  if (kind === 'intValue') return Number(inner)
  if (kind === 'arrayValue') return ((inner as { values?: Array<Record<string, unknown>> }).values ?? []).map(valueOf)
  return inner
}
const attributesOf = (list: KeyValue[] = []) => Object.fromEntries(list.map(kv => [kv.key, valueOf(kv.value)]))

async function bodyOf (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
}

export async function startOtlpReceiver () {
  const spans: ReceivedSpan[] = []
  const requests: IncomingHttpHeaders[] = []
  const waiters = new Set<() => void>()
  const server = createServer((req, res) => {
    bodyOf(req).then(body => {
      requests.push(req.headers)
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(415).end()
        return
      }
      for (const rs of JSON.parse(body.toString('utf8')).resourceSpans ?? []) {
        const resource = attributesOf(rs.resource?.attributes)
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId === '' ? undefined : s.parentSpanId,
              name: s.name,
              kind: s.kind,
              attributes: attributesOf(s.attributes),
              events: (s.events ?? []).map((e: { name: string, attributes?: KeyValue[] }) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
              status: s.status ?? {},
              resource
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      for (const wake of waiters) wake()
    }).catch(() => res.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
    url: `http://127.0.0.1:${port}`,
    spans,
    /** The headers of each export request. */
    requests,
    /** Resolves when a span matching `match` has arrived (at each export, no polling). */
    async waitFor (match: (span: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
      for (;;) {
        const found = spans.find(match)
        if (found !== undefined) return found
        await new Promise<void>(resolve => {
          const wake = () => { waiters.delete(wake); resolve() }
          waiters.add(wake)
        })
      }
    },
    close: async () => await new Promise<void>(resolve => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}
