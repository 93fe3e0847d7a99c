import t from 'tap'
import { ConfigError, loadConfig, tracingView } from '../../config/index.ts'
import { testEnv } from '../helper.ts'

const CONNECTION = 'InstrumentationKey=0f0e0d0c-0b0a-4908-8706-050403020100;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/'

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(testEnv(env))
    return []
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return err.problems
  }
}

t.test('tracing is off when no exporter is set', async t => {
  t.equal(loadConfig(testEnv()).tracing, undefined)
  t.same(tracingView(undefined), { enabled: false })
})

t.test('an OTLP endpoint turns it on: traces URL, headers, service name and App Service instance', async t => {
  const tracing = loadConfig(testEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%3Db, X-Tenant = t1', WEBSITE_INSTANCE_ID: 'abc' })).tracing
  t.same(tracing, { serviceName: 'entra-mcp-gateway', instanceId: 'abc', otlp: { url: 'http://collector:4318/v1/traces', headers: { 'api-key': 'a=b', 'x-tenant': 't1' } } })
})

t.test('a connection string turns on Azure Monitor; both exporters may be set', async t => {
  const tracing = loadConfig(testEnv({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example', OTEL_SERVICE_NAME: 'gw' })).tracing
  t.match(tracing, { serviceName: 'gw', azureMonitor: { connectionString: CONNECTION }, otlp: { url: 'https://collector.example/v1/traces' } })
})

t.test('the logged view says whether the secrets are set, never their values', async t => {
  const tracing = loadConfig(testEnv({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@collector.example/otlp', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cret' })).tracing
  const view = tracingView(tracing)
  t.same(view, { enabled: true, service_name: 'entra-mcp-gateway', otlp_endpoint: 'https://collector.example/otlp/v1/traces', otlp_headers_set: true, application_insights_connection_string_set: true })
  t.notMatch(JSON.stringify(view), /0f0e0d0c|s3cret|pw@/)
})

t.test('malformed settings are refused, secrets not echoed', async t => {
  const bad = problemsOf({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'IngestionEndpoint=ftp://x;Secret=topsecret' })
  t.match(bad, [/InstrumentationKey=<GUID>/, /IngestionEndpoint that is not an http\(s\) URL/])
  t.notMatch(bad.join('\n'), /topsecret|ftp/)
  t.match(problemsOf({ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }), [/name=value pairs/, /needs OTEL_EXPORTER_OTLP_ENDPOINT/])
  t.notMatch(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_HEADERS: 'k=%E0%A4%A' }).join(), /%E0/, 'a bad percent-encoding is refused without echo')
  t.match(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/?key=1' }), [/OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL without query/])
  t.match(problemsOf({ APPLICATIONINSIGHTS_CONNECTION_STRING: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/ai)' }), [/unresolved Key Vault reference/])
})
