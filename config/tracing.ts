import type { Checked, Reading } from './checks.ts'

// Checks of the trace settings (OpenTelemetry). Tracing is on when an exporter is set: an OTLP collector
// (OTEL_EXPORTER_OTLP_ENDPOINT), Azure Monitor (APPLICATIONINSIGHTS_CONNECTION_STRING), or both.
// The connection string and the OTLP headers are secrets (an ingestion key, a collector's API key):
// their problems never echo them, and the logged configuration only says whether they are set.

export interface TracingConfig {
  serviceName: string
  /** App Service's WEBSITE_INSTANCE_ID, as the resource's service.instance.id. */
  instanceId?: string
  /** OTLP over HTTP (JSON): the traces URL (`{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`) and its headers. */
  otlp?: { url: string, headers: Record<string, string> }
  /** Application Insights through @azure/monitor-opentelemetry. */
  azureMonitor?: { connectionString: string }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** `key1=value1,key2=value2`, values percent-encoded (the OTLP exporter specification); null when malformed. */
export function parseOtlpHeaders (value: string): Record<string, string> | null {
  const headers: Record<string, string> = {}
  for (const pair of value.split(',').map(p => p.trim()).filter(Boolean)) {
    const at = pair.indexOf('=')
    const name = pair.slice(0, at).trim()
    if (at < 1 || !/^[!#$%&'*+.^`|~\w-]+$/.test(name)) return null
    try {
      headers[name.toLowerCase()] = decodeURIComponent(pair.slice(at + 1).trim())
    } catch {
      return null
    }
  }
  return headers
}

/** Problems of an Application Insights connection string (`Key=Value;…`), none of which repeats it. */
export function connectionStringProblems (value: string): string[] {
  const fields = new Map(value.split(';').filter(Boolean).map(part => {
    const at = part.indexOf('=')
    return [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()] as const
  }))
  const problems: string[] = []
  if (!GUID.test(fields.get('instrumentationkey') ?? '')) problems.push('APPLICATIONINSIGHTS_CONNECTION_STRING must hold InstrumentationKey=<GUID> (copy it from the Application Insights resource\'s Overview page)')
  const ingestion = fields.get('ingestionendpoint')
  if (ingestion !== undefined && !/^https?:\/\/[^\s/?#]+/.test(ingestion)) problems.push('APPLICATIONINSIGHTS_CONNECTION_STRING has an IngestionEndpoint that is not an http(s) URL')
  return problems
}

/** The trace settings; undefined when no exporter is set (tracing off). */
export function checkTracing (r: Reading): Checked<TracingConfig | undefined> {
  const { raw, env, refused } = r
  const problems: string[] = []
  const endpoint = refused.has('OTEL_EXPORTER_OTLP_ENDPOINT') ? undefined : env.OTEL_EXPORTER_OTLP_ENDPOINT
  const connectionString = refused.has('APPLICATIONINSIGHTS_CONNECTION_STRING') ? undefined : raw.APPLICATIONINSIGHTS_CONNECTION_STRING
  let headers: Record<string, string> = {}
  if (raw.OTEL_EXPORTER_OTLP_HEADERS !== undefined) {
    const parsed = parseOtlpHeaders(raw.OTEL_EXPORTER_OTLP_HEADERS)
    headers = parsed ?? {}
    if (parsed === null) problems.push('OTEL_EXPORTER_OTLP_HEADERS must be name=value pairs separated by commas, values percent-encoded')
    if (raw.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) problems.push('OTEL_EXPORTER_OTLP_HEADERS needs OTEL_EXPORTER_OTLP_ENDPOINT: the headers go to that collector')
  }
  if (connectionString !== undefined) problems.push(...connectionStringProblems(connectionString))
  if (endpoint === undefined && connectionString === undefined) return { problems, value: undefined }
  return {
    problems,
    value: {
      serviceName: env.OTEL_SERVICE_NAME,
      ...(env.WEBSITE_INSTANCE_ID !== undefined ? { instanceId: env.WEBSITE_INSTANCE_ID } : {}),
      ...(endpoint !== undefined ? { otlp: { url: `${endpoint.replace(/\/+$/, '')}/v1/traces`, headers } } : {}),
      ...(connectionString !== undefined ? { azureMonitor: { connectionString } } : {})
    }
  }
}

/** What the logged configuration (config.loaded) says of tracing: exporters and whether secrets are set, never their values. */
export function tracingView (tracing: TracingConfig | undefined) {
  if (tracing === undefined) return { enabled: false }
  const otlp = tracing.otlp !== undefined ? new URL(tracing.otlp.url) : undefined
  return {
    enabled: true,
    service_name: tracing.serviceName,
    // origin and path only: a URL's user and password stay out of the log
    otlp_endpoint: otlp !== undefined ? `${otlp.origin}${otlp.pathname}` : null,
    otlp_headers_set: tracing.otlp !== undefined && Object.keys(tracing.otlp.headers).length > 0,
    application_insights_connection_string_set: tracing.azureMonitor !== undefined
  }
}
