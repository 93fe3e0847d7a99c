import { FastifyOtelInstrumentation } from '@fastify/otel'
import { context, propagation, trace, type Span } from '@opentelemetry/api'
import type { FastifyRequest } from 'fastify'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node'
import type { TracingConfig } from '../../config/index.ts'

// The tracer provider and its exporters. Only imported when tracing is on (server.ts, after the
// configuration): none of the OpenTelemetry modules is loaded otherwise.

export interface Tracing {
  /** Which exporters receive the spans: `otlp`, `azure_monitor`. */
  readonly exporters: string[]
  /** @fastify/otel, made here with the provider so that app.ts's registration waits on no module load. */
  readonly instrumentation: FastifyOtelInstrumentation
  /** Pino mixin: `trace_id` and `span_id` of the span active when a line is written. */
  logMixin: () => Record<string, string>
  /** Exports the spans ended so far (tests). */
  flush: () => Promise<void>
  /** Exports the spans still buffered, then stops the provider (server.ts, after fastify.close()). */
  shutdown: () => Promise<void>
}

/** The fields a log line carries while a span is active (a new object: pino merges the line into it). */
export function traceLogFields (): Record<string, string> {
  const span = trace.getSpan(context.active())
  if (span === undefined) return {}
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}

/** The request span's name (`POST /token`) and its path without the query, which may hold a code or a state. */
function describeRequest (span: Span, request: FastifyRequest): void {
  const route = request.routeOptions.url
  span.updateName(route !== undefined ? `${request.method} ${route}` : request.method)
  const query = request.url.indexOf('?')
  span.setAttribute('url.path', query < 0 ? request.url : request.url.slice(0, query))
}

function resourceOf (settings: TracingConfig, version: string): Resource {
  return resourceFromAttributes({
    'service.name': settings.serviceName,
    'service.version': version,
    ...(settings.instanceId !== undefined ? { 'service.instance.id': settings.instanceId } : {})
  })
}

async function otlpProcessor (otlp: NonNullable<TracingConfig['otlp']>): Promise<SpanProcessor> {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http')
  return new BatchSpanProcessor(new OTLPTraceExporter({ url: otlp.url, headers: otlp.headers }))
}

/**
 * Application Insights through Microsoft's distribution, limited to traces: its automatic
 * instrumentations are off (requests come from @fastify/otel, Redis and upstream calls from the
 * diagnostics channels, plugins/tracing/), and so are live metrics and standard metrics.
 */
async function startAzureMonitor (connectionString: string, resource: Resource, spanProcessors: SpanProcessor[]): Promise<() => Promise<void>> {
  const { useAzureMonitor, shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry')
  const off = { enabled: false }
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString },
    resource,
    spanProcessors,
    instrumentationOptions: { http: off, azureSdk: off, mongoDb: off, mySql: off, postgreSql: off, redis: off, redis4: off, bunyan: off, winston: off, console: off },
    enableLiveMetrics: false,
    enableStandardMetrics: false,
    enablePerformanceCounters: false
  })
  return shutdownAzureMonitor
}

/** Starts the global tracer provider (W3C trace context, AsyncLocalStorage context) with the configured exporters. */
export async function startTracing (settings: TracingConfig, version: string): Promise<Tracing> {
  const resource = resourceOf(settings, version)
  const processors = settings.otlp !== undefined ? [await otlpProcessor(settings.otlp)] : []
  let shutdown: () => Promise<void>
  if (settings.azureMonitor !== undefined) {
    shutdown = await startAzureMonitor(settings.azureMonitor.connectionString, resource, processors)
  } else {
    const provider = new NodeTracerProvider({ resource, spanProcessors: processors })
    provider.register()
    shutdown = async () => {
      await provider.shutdown()
      trace.disable()
      propagation.disable()
      context.disable()
    }
  }
  const instrumentation = new FastifyOtelInstrumentation({
    // One span per request: no span per hook or handler (each would cost as much as the request's own).
    instrumentHooks: false,
    instrumentHandler: false,
    // A thrown OAuth error is an answer, not a crash; the span's status still says ERROR on a 5xx.
    recordExceptions: false,
    requestHook: describeRequest
  })
  return {
    instrumentation,
    exporters: [...(settings.otlp !== undefined ? ['otlp'] : []), ...(settings.azureMonitor !== undefined ? ['azure_monitor'] : [])],
    logMixin: traceLogFields,
    flush: async () => {
      // The global provider is a proxy whose delegate is the SDK's provider (ours, or Azure Monitor's).
      const global = trace.getTracerProvider() as { getDelegate?: () => unknown }
      const provider = (global.getDelegate?.() ?? global) as { forceFlush?: () => Promise<void> }
      await provider.forceFlush?.()
    },
    shutdown
  }
}
