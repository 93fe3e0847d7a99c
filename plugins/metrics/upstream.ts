// Outgoing HTTP calls (Entra, Graph, anything else) from undici's diagnostics channels, which
// Node's fetch publishes too. Classified by where they go: the Entra authority (AZURE_AUTHORITY_HOST,
// or the development provider's /dev-idp) and the Graph base URL from the config; any other
// destination (client metadata documents, client JWKS) is `other`. The URL never becomes a label.
import diagnostics from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import type { Metrics } from './registry.ts'

export type Upstream = 'entra' | 'graph' | 'other'

/** What undici hands its channels (the parts read here). */
interface UndiciRequest { origin?: string | URL, path?: string }

/** Which upstream a request goes to: Graph first (the development stand-in lives under the provider's path). */
export function upstreamOf (request: UndiciRequest, prefixes: { entra: string, graph: string }): Upstream {
  const origin = typeof request.origin === 'string' ? request.origin : request.origin?.origin ?? ''
  const url = `${origin}${request.path ?? ''}`
  const under = (prefix: string) => url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)
  if (under(prefixes.graph)) return 'graph'
  if (under(prefixes.entra)) return 'entra'
  return 'other'
}

/** Subscribes to undici's request channels; returns the unsubscribe (for onClose). */
export function observeUpstream (metrics: Pick<Metrics, 'upstreamDuration' | 'upstreamErrors'>, prefixes: { entra: string, graph: string }): () => void {
  const started = new WeakMap<object, { upstream: Upstream, at: number }>()
  const onCreate = (message: unknown) => {
    const { request } = message as { request: UndiciRequest }
    started.set(request, { upstream: upstreamOf(request, prefixes), at: performance.now() })
  }
  const onHeaders = (message: unknown) => {
    const { request, response } = message as { request: UndiciRequest, response: { statusCode: number } }
    const call = started.get(request)
    if (call === undefined) return
    started.delete(request)
    metrics.upstreamDuration.observe({ upstream: call.upstream, status: `${Math.floor(response.statusCode / 100)}xx` }, (performance.now() - call.at) / 1000)
  }
  const onError = (message: unknown) => {
    const { request } = message as { request: UndiciRequest }
    const call = started.get(request)
    started.delete(request)
    const upstream = call?.upstream ?? upstreamOf(request, prefixes)
    if (call !== undefined) metrics.upstreamDuration.observe({ upstream, status: 'error' }, (performance.now() - call.at) / 1000)
    metrics.upstreamErrors.inc({ upstream })
  }
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    ['undici:request:create', onCreate], ['undici:request:headers', onHeaders], ['undici:request:error', onError]
  ]
  for (const [name, fn] of subscriptions) diagnostics.subscribe(name, fn)
  return () => { for (const [name, fn] of subscriptions) diagnostics.unsubscribe(name, fn) }
}
