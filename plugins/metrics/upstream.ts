// Outgoing HTTP calls (Entra, Graph, anything else) from the diagnostics channels of both HTTP
// clients the service uses: undici's (undici.request and Node's fetch: metadata, JWKS, Graph,
// certificate token requests) and node:http's (simple-oauth2's token requests with a client
// secret). Classified by where they go: the Entra authority (AZURE_AUTHORITY_HOST, or the
// development provider's /dev-idp) and the Graph base URL from the config; any other destination
// (client metadata documents, client JWKS) is `other`. The URL never becomes a label.
import diagnostics from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Metrics } from './registry.ts'

export type Upstream = 'entra' | 'graph' | 'other'
export interface UpstreamPrefixes { entra: string, graph: string }

/** Which upstream `origin` + `path` is: Graph first (the development stand-in lives under the provider's path). */
export function upstreamOf (origin: string, path: string, prefixes: UpstreamPrefixes): Upstream {
  const url = `${origin}${path}`
  const under = (prefix: string) => url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)
  if (under(prefixes.graph)) return 'graph'
  if (under(prefixes.entra)) return 'entra'
  return 'other'
}

/** What undici hands its channels (the parts read here). */
interface UndiciRequest { origin?: string | URL, path?: string }
const undiciTarget = (r: UndiciRequest): [string, string] => [typeof r.origin === 'string' ? r.origin : r.origin?.origin ?? '', r.path ?? '']
// The Host header carries a non-default port, as the configured URLs do.
const httpTarget = (r: ClientRequest): [string, string] => [`${r.protocol}//${String(r.getHeader('host') ?? r.host)}`, r.path]

/** Subscribes to the request channels; returns the unsubscribe (for onClose). */
export function observeUpstream (metrics: Pick<Metrics, 'upstreamDuration' | 'upstreamErrors'>, prefixes: UpstreamPrefixes): () => void {
  const started = new WeakMap<object, { upstream: Upstream, at: number }>()
  const begin = (request: object, [origin, path]: [string, string]) => {
    started.set(request, { upstream: upstreamOf(origin, path, prefixes), at: performance.now() })
  }
  const answered = (request: object, statusCode: number) => {
    const call = started.get(request)
    if (call === undefined) return
    started.delete(request)
    metrics.upstreamDuration.observe({ upstream: call.upstream, status: `${Math.floor(statusCode / 100)}xx` }, (performance.now() - call.at) / 1000)
  }
  const failed = (request: object, target: () => [string, string]) => {
    const call = started.get(request)
    started.delete(request)
    const upstream = call?.upstream ?? upstreamOf(...target(), prefixes)
    if (call !== undefined) metrics.upstreamDuration.observe({ upstream, status: 'error' }, (performance.now() - call.at) / 1000)
    metrics.upstreamErrors.inc({ upstream })
  }

  type Message = { request: any, response?: any }
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    ['undici:request:create', m => { const { request } = m as Message; begin(request, undiciTarget(request)) }],
    ['undici:request:headers', m => { const { request, response } = m as Message; answered(request, response.statusCode) }],
    ['undici:request:error', m => { const { request } = m as Message; failed(request, () => undiciTarget(request)) }],
    ['http.client.request.start', m => { const { request } = m as Message; begin(request, httpTarget(request)) }],
    ['http.client.response.finish', m => { const { request, response } = m as Message; answered(request, (response as IncomingMessage).statusCode ?? 0) }],
    ['http.client.request.error', m => { const { request } = m as Message; failed(request, () => httpTarget(request)) }]
  ]
  for (const [name, fn] of subscriptions) diagnostics.subscribe(name, fn)
  return () => { for (const [name, fn] of subscriptions) diagnostics.unsubscribe(name, fn) }
}
