import Type, { type Static } from 'typebox'

// The environment as the operator writes it. Every value arrives as a string;
// `Value.Convert` turns numbers and booleans into their types before checking.
// Lists are space-separated, like OAuth scope strings. Durations are seconds.

const Guid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'a GUID' })
const HttpUrl = Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', description: 'an http(s) URL without query or fragment' })
const Seconds = (def: number, minimum = 1, maximum?: number) => Type.Integer({ minimum, ...(maximum !== undefined ? { maximum } : {}), default: def })
const Flag = (def: boolean) => Type.Boolean({ default: def })
const Rate = (def: string) => Type.String({ pattern: '^[0-9]+/[0-9]+$', default: def, description: 'max/windowSeconds' })

export const EnvSchema = Type.Object({
  // Microsoft Entra ID (the upstream identity provider)
  AZURE_TENANT_ID: Type.Optional(Type.Union([Guid, Type.Literal('common'), Type.Literal('organizations')])),
  AZURE_CLIENT_ID: Type.Optional(Guid),
  AZURE_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  AZURE_CLIENT_CERTIFICATE_PATH: Type.Optional(Type.String({ minLength: 1 })),
  AZURE_AUTHORITY_HOST: Type.Optional(HttpUrl),
  AZURE_IDENTIFIER_URI: Type.Optional(Type.String({ minLength: 1 })),
  AZURE_ALLOWED_TENANTS: Type.Optional(Type.String()),
  AZURE_ACCEPT_V1_TOKENS: Flag(false),
  AZURE_GRAPH_SCOPES: Type.String({ default: '' }),
  DEV_IDENTITY_PROVIDER: Type.Optional(Type.Boolean()),

  // This service as an authorization server and MCP resource
  MCP_BASE_URL: Type.Optional(HttpUrl),
  MCP_SCOPES: Type.String({ default: 'tools.read tools.write graph.read', minLength: 1 }),
  MCP_ALLOWED_ORIGINS: Type.String({ default: '' }),
  ALLOWED_REDIRECT_URIS: Type.String({ default: '' }),
  ALLOWED_REDIRECT_SCHEMES: Type.String({ default: 'cursor' }),
  CLIENT_ID_METADATA_DOCUMENTS: Flag(true),
  CLIENT_REGISTRATION_TTL: Seconds(0, 0),
  TOKEN_SIGNING_KEY: Type.Optional(Type.String({ minLength: 1 })),
  TOKEN_ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 1 })),
  // at most 24 h: the verifier refuses longer-lived tokens (MAX_TOKEN_LIFETIME_SECONDS)
  ACCESS_TOKEN_TTL: Seconds(900, 30, 86400),
  REFRESH_TOKEN_TTL: Seconds(2592000, 60),
  REFRESH_TOKEN_REUSE_GRACE: Seconds(30, 0),
  CONSENT_TTL: Seconds(2592000, 0),
  // The admin area (/admin): the Entra app role it needs, and its browser session's lifetimes.
  ADMIN_ROLE: Type.String({ default: 'Gateway.Admin', pattern: '^[^\\s]{1,120}$', description: 'an app role value (no spaces, at most 120 characters)' }),
  ADMIN_SESSION_TTL: Seconds(28800, 60, 604800),
  ADMIN_SESSION_IDLE: Seconds(1800, 60, 604800),
  CLOCK_TOLERANCE: Seconds(60, 0),
  GRAPH_BASE_URL: Type.String({ default: 'https://graph.microsoft.com/v1.0', pattern: '^https?://' }),

  // State, network and process
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'a redis:// or rediss:// URL' })),
  // Microsoft Entra authentication to Redis: the managed identity's token instead of an access key.
  REDIS_AUTH: Type.Union([Type.Literal('password'), Type.Literal('entra')], { default: 'password' }),
  AZURE_REDIS_CLIENT_ID: Type.Optional(Guid),
  // Redis Cluster (Azure Managed Redis with the OSS cluster policy): REDIS_URL names one node, the rest are discovered.
  REDIS_CLUSTER: Flag(false),
  REDIS_KEY_PREFIX: Type.String({ default: 'emg:', pattern: '^[\\w:.-]{1,64}$', description: 'letters, digits, and : . - _ (at most 64)' }),
  MEMORY_STORE_MAX_ENTRIES: Type.Integer({ minimum: 100, default: 100000 }),
  PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  WEBSITES_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  HOST: Type.String({ default: '0.0.0.0' }),
  TRUST_PROXY: Type.String({ default: 'false' }),
  TLS_CERT_PATH: Type.Optional(Type.String({ minLength: 1 })),
  TLS_KEY_PATH: Type.Optional(Type.String({ minLength: 1 })),
  // Development https with a self-signed certificate for localhost (config/tls.ts).
  DEV_TLS: Flag(false),
  DEV_TLS_DIR: Type.String({ default: '.dev-tls', minLength: 1 }),
  BODY_LIMIT: Type.Integer({ minimum: 1024, default: 1048576 }),
  // Slow clients (see README "Slow clients"): seconds, except the count.
  HTTP_HEADERS_TIMEOUT: Seconds(10),
  HTTP_REQUEST_TIMEOUT: Seconds(30),
  HTTP_KEEP_ALIVE_TIMEOUT: Seconds(245),
  HTTP_MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: 10000 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' }),

  // Rate limits (max/windowSeconds) and audit
  RATE_LIMIT_ENABLED: Flag(true),
  RATE_LIMIT_FAIL_OPEN: Flag(true),
  RATE_LIMIT_REGISTER: Rate('20/3600'),
  RATE_LIMIT_AUTHORIZE: Rate('60/60'),
  RATE_LIMIT_TOKEN: Rate('60/60'),
  RATE_LIMIT_REVOKE: Rate('60/60'),
  RATE_LIMIT_MCP: Rate('600/60'),
  // Ceilings per client IP behind the per-user /mcp and per-client /token budgets (see docs/rate-limit-and-audit.md).
  RATE_LIMIT_MCP_PER_IP: Rate('3000/60'),
  RATE_LIMIT_TOKEN_PER_IP: Rate('300/60'),
  // GET /metrics per client IP (scrapes and wrong tokens alike), when METRICS_TOKEN is set.
  RATE_LIMIT_METRICS: Rate('60/60'),
  // The admin area under /admin (pages, actions, the live feed, /admin/api) per client IP; its sign-in counts as authorize.
  RATE_LIMIT_ADMIN: Rate('600/60'),
  AUDIT_REDIS_STREAM: Type.Optional(Type.String({ minLength: 1 })),
  AUDIT_STREAM_MAXLEN: Type.Integer({ minimum: 100, default: 100000 }),

  // Prometheus metrics at GET /metrics, for a scraper holding this bearer token; off when unset.
  // Token68 characters only (what a Bearer header can carry), at least 32 of them.
  METRICS_TOKEN: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9\\-._~+/]{32,}=*$', description: 'at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (e.g. openssl rand -hex 32)' })),

  // Traces (OpenTelemetry, config/tracing.ts): off unless an exporter is set
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(HttpUrl),
  OTEL_EXPORTER_OTLP_HEADERS: Type.Optional(Type.String({ minLength: 1 })),
  OTEL_SERVICE_NAME: Type.String({ default: 'entra-mcp-gateway', minLength: 1 }),
  APPLICATIONINSIGHTS_CONNECTION_STRING: Type.Optional(Type.String({ minLength: 1 })),
  // Set by App Service on each instance: the traces' service.instance.id.
  WEBSITE_INSTANCE_ID: Type.Optional(Type.String({ minLength: 1 }))
})

export type Env = Static<typeof EnvSchema>

export const envNames = Object.keys(EnvSchema.properties) as Array<keyof Env>
