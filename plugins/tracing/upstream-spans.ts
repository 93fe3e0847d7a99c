import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { ClientRequest, IncomingMessage } from 'node:http'
import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { isTracingSuppressed } from '@opentelemetry/core'
import type { Config } from '../../config/index.ts'

// Child spans for outgoing HTTP calls made while a request span is active: undici's diagnostics
// channels (undici, and Node's fetch, which bundles it) and Node's http client's (simple-oauth2
// redeems codes and refresh tokens with a client secret through it). A span is named after its
// peer (`entra token`, `entra metadata`, `entra keys`, `entra`, `graph`, else `HTTP <method>`) and
// holds the method, host, port and status: never the path's query, a header or a body.
// W3C `traceparent` goes to Entra and Graph only, added when undici creates the request; Node's
// http client has its headers written before its channel speaks, so those requests get theirs from
// the caller (plugins/tracing.ts `traceHeaders`, used by upstream-entra).

export interface Peer { name: string, propagate: boolean }

const OTHER: Peer = { name: '', propagate: false }

/** Names the peer of a URL (origin and path, query ignored) from the configured Entra and Graph endpoints. */
export function createPeerNamer (config: Pick<Config, 'entra' | 'graphBaseUrl'>): (origin: string, path: string) => Peer {
  const authority = new URL(config.entra.authorityHost)
  const graph = new URL(config.graphBaseUrl)
  const token = new URL(config.entra.tokenUrl).pathname
  const metadata = new URL(config.entra.metadataUrl).pathname
  return (origin, rawPath) => {
    const path = rawPath.split('?')[0]
    if (origin === graph.origin && path.startsWith(graph.pathname)) return { name: 'graph', propagate: true }
    if (origin !== authority.origin || !path.startsWith(authority.pathname)) return OTHER
    if (path === token || path.endsWith('/oauth2/v2.0/token')) return { name: 'entra token', propagate: true }
    if (path === metadata || path.endsWith('/.well-known/openid-configuration')) return { name: 'entra metadata', propagate: true }
    if (path.endsWith('/discovery/v2.0/keys')) return { name: 'entra keys', propagate: true }
    return { name: 'entra', propagate: true }
  }
}

interface UndiciRequest { origin?: unknown, path?: string, method?: string, addHeader?: (name: string, value: string) => unknown }

/** The active context, when it has a span and is not an exporter's own call. */
function parentContext (): Context | undefined {
  const active = context.active()
  return trace.getSpan(active) !== undefined && !isTracingSuppressed(active) ? active : undefined
}

function startClientSpan (tracer: Tracer, parent: Context, peer: Peer, url: URL, method: string): Span {
  return tracer.startSpan(peer.name !== '' ? peer.name : `HTTP ${method}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port !== '' ? url.port : url.protocol === 'https:' ? 443 : 80),
      ...(peer.name !== '' ? { 'peer.service': peer.name.split(' ')[0] } : {})
    }
  }, parent)
}

function endWithStatus (span: Span | undefined, status: number): void {
  if (span === undefined) return
  span.setAttribute('http.response.status_code', status)
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
  span.end()
}

function endWithError (span: Span | undefined, error: unknown): void {
  if (span === undefined) return
  // the error's code or class: a message may quote a URL
  const type = (error as { code?: string }).code ?? (error as Error).name ?? 'Error'
  span.setAttribute('error.type', type)
  span.setStatus({ code: SpanStatusCode.ERROR, message: type })
  span.end()
}

/** Subscribes to undici's and Node's http client channels; returns the unsubscribe. */
export function traceUpstreamCalls (tracer: Tracer, peerOf: (origin: string, path: string) => Peer): () => void {
  const spans = new WeakMap<object, Span>()
  const channels: Record<string, (message: any) => void> = {
    'undici:request:create' ({ request }: { request: UndiciRequest }) {
      const parent = parentContext()
      if (parent === undefined || typeof request.path !== 'string') return
      const url = new URL(String(request.origin))
      const peer = peerOf(url.origin, request.path)
      const span = startClientSpan(tracer, parent, peer, url, request.method ?? 'GET')
      spans.set(request, span)
      if (peer.propagate && request.addHeader !== undefined) {
        propagation.inject(trace.setSpan(parent, span), request, { set: (carrier, name, value) => carrier.addHeader?.(name, value) })
      }
    },
    'undici:request:headers' ({ request, response }: { request: object, response: { statusCode: number } }) {
      endWithStatus(spans.get(request), response.statusCode)
      spans.delete(request)
    },
    'undici:request:error' ({ request, error }: { request: object, error: unknown }) {
      endWithError(spans.get(request), error)
      spans.delete(request)
    },
    'http.client.request.start' ({ request }: { request: ClientRequest }) {
      const parent = parentContext()
      if (parent === undefined) return
      // the Host header holds the port when it is not the protocol's default
      const url = new URL(`${request.protocol}//${String(request.getHeader('host') ?? request.host)}`)
      spans.set(request, startClientSpan(tracer, parent, peerOf(url.origin, request.path), url, request.method))
    },
    'http.client.response.finish' ({ request, response }: { request: ClientRequest, response: IncomingMessage }) {
      endWithStatus(spans.get(request), response.statusCode ?? 0)
      spans.delete(request)
    },
    'http.client.request.error' ({ request, error }: { request: ClientRequest, error: unknown }) {
      endWithError(spans.get(request), error)
      spans.delete(request)
    }
  }
  for (const [name, handler] of Object.entries(channels)) subscribe(name, handler)
  return () => { for (const [name, handler] of Object.entries(channels)) unsubscribe(name, handler) }
}
