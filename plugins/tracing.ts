import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onSendHookHandler } from 'fastify'
import { context, propagation, trace } from '@opentelemetry/api'
import type { Tracing } from './tracing/provider.ts'
import { traceStoreCommands } from './tracing/store-spans.ts'
import { createPeerNamer, traceUpstreamCalls } from './tracing/upstream-spans.ts'

// Imported by app.ts only when tracing is on (server.ts started the provider): with it off, neither
// this file nor any OpenTelemetry module is loaded. docs/operations.md "Traces" lists the spans.

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * W3C trace context headers (`traceparent`, `tracestate`) of the active span, for an HTTP client
     * whose diagnostics channel comes too late to add them (simple-oauth2's token requests).
     * Decorated only when tracing is on.
     */
    traceHeaders?: () => Record<string, string>
  }
}

export interface TracingPluginOptions { tracing: Tracing }

/** The caller, once a bearer token named it: client id, tenant, and which issuer made the token. */
const describeCaller: onSendHookHandler = function describeCaller (request, _reply, payload, done) {
  const identity = request.identity
  if (identity !== undefined) {
    const span = request.opentelemetry().span
    if (identity.clientId !== undefined) span?.setAttribute('oauth.client_id', identity.clientId)
    if (identity.tid !== undefined) span?.setAttribute('entra.tenant_id', identity.tid)
    span?.setAttribute('oauth.token_issuer', identity.kind)
  }
  done(null, payload)
}

/**
 * Hooks after the body was read run in the body stream's async context, not the request's: back
 * into the request span's context, so that store and upstream spans of handlers find their parent.
 */
function enterRequestContext (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const ctx = request.opentelemetry().context
  if (ctx === undefined || ctx === null) done()
  else context.with(ctx, done)
}

/** An audit line written during a request names its client and tenant on the request span, and is an event of it. */
function auditOnSpan (line: Readonly<Record<string, unknown>>): void {
  const span = trace.getSpan(context.active())
  if (span === undefined) return
  if (typeof line.client_id === 'string') span.setAttribute('oauth.client_id', line.client_id)
  if (typeof line.tid === 'string') span.setAttribute('entra.tenant_id', line.tid)
  span.addEvent(String(line.event), { 'audit.outcome': String(line.outcome) })
}

export default fp<TracingPluginOptions>(async function tracing (fastify, opts) {
  const { instrumentation } = opts.tracing
  await fastify.register(instrumentation.plugin())
  const tracer = trace.getTracer('entra-mcp-gateway', fastify.config.version)
  const stops = [traceStoreCommands(tracer), traceUpstreamCalls(tracer, createPeerNamer(fastify.config))]

  fastify.addHook('preValidation', enterRequestContext)
  fastify.addHook('onSend', describeCaller)
  fastify.decorate('traceHeaders', function traceHeaders () {
    const headers: Record<string, string> = {}
    propagation.inject(context.active(), headers)
    return headers
  })
  fastify.addHook('onReady', async () => {
    stops.push(fastify.onAudit(auditOnSpan))
  })
  fastify.addHook('onClose', async () => {
    for (const stop of stops) stop()
    instrumentation.disable()
  })
}, { name: 'tracing', dependencies: ['config'] })
