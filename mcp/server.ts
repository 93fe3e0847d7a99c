import type { IncomingHttpHeaders } from 'node:http'
import { McpServer, isInputRequiredResult, type CacheHint, type CallToolResult, type InputRequiredResult, type RequestStateCodec, type ScopeChallenge, type ServerContext, type jsonSchemaValidator } from '@modelcontextprotocol/server'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv'
import { isToolResult, type AnyTool, type ToolRegistry } from './registry.ts'
import { LocalTransport, type HttpAnswer } from './local-transport.ts'
import type { Catalog, CatalogRequest } from './catalog.ts'
import { registerCatalog } from './catalog-server.ts'

/** Key under `_meta` of each listed tool: the scopes the tool requires. */
export const SCOPES_META_KEY = 'io.github.entra-mcp-gateway/scopes'

/** Runs one tool for the HTTP request a pooled server is currently serving. */
export interface RequestScope {
  /** `context` is the SDK's request context: input responses and verified state (mcp/input-required.ts). */
  callTool: (tool: AnyTool, args: unknown, signal: AbortSignal, context?: ServerContext) => Promise<CallToolResult | InputRequiredResult>
  /** The caller, for resources and prompts (mcp/catalog.ts). */
  caller?: CatalogRequest
  /**
   * Asked by the SDK's handler (2026-07-28 requests only) before a `tools/call`, `resources/read`
   * or `prompts/get` runs: the step-up challenge when the caller lacks one of the scopes its
   * target needs, else undefined.
   */
  scopeChallenge?: (target: { scopes: readonly string[] }) => ScopeChallenge | undefined
}

/**
 * Cache hints of the 2026-07-28 cacheable results (`ttlMs`, `cacheScope`). The lists are the same
 * for every caller (the scopes a tool needs are in its `_meta`, not filtered by caller) and fixed
 * while the process runs, but `private` keeps shared caches out of it until a review says
 * otherwise. New list methods (`resources/list`, `prompts/list`, …) get their line here.
 */
export const CACHE_HINTS: Partial<Record<'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list' | 'server/discover', CacheHint>> = {
  'server/discover': { ttlMs: 60_000, cacheScope: 'public' },
  'tools/list': { ttlMs: 60_000, cacheScope: 'private' },
  'prompts/list': { ttlMs: 60_000, cacheScope: 'private' },
  'resources/list': { ttlMs: 60_000, cacheScope: 'private' },
  'resources/templates/list': { ttlMs: 60_000, cacheScope: 'private' }
}

export interface ServerInfo {
  name: string
  version: string
  instructions?: string
  /** Resources and prompts served beside the tools. */
  catalog?: Catalog
  /** Verifies the `requestState` of an input-required round before any handler sees it. */
  requestState?: RequestStateCodec<unknown>
}

/** Turns what a handler returned into the `CallToolResult` the SDK sends. */
export function toCallToolResult (tool: AnyTool, value: unknown): CallToolResult | InputRequiredResult {
  if (isToolResult(value)) return value.result
  // Built by `ctx.input.required()`: the SDK sends it as is (2026-07-28) or refuses it (2025).
  if (isInputRequiredResult(value)) return value
  const structured = (value ?? {}) as Record<string, unknown>
  return {
    content: [{ type: 'text', text: JSON.stringify(structured) }],
    ...(tool.outputSchema !== undefined ? { structuredContent: structured } : {})
  }
}

/**
 * An `McpServer` with every tool of the registry. The tools' callbacks ask `slot.scope`
 * (the HTTP request being served right now) to run them, so one server can serve many
 * requests one after another without rebuilding anything.
 */
export interface ServerSlot {
  server: McpServer
  /** Connected once, when the slot is first used; then serves one HTTP request at a time. */
  transport: LocalTransport | undefined
  scope: RequestScope | undefined
  version: number
  /** Called when the server's transport closes (the modern leg takes its server back then). */
  onclose?: () => void
}

export function createMcpServer (registry: ToolRegistry, info: ServerInfo, validator: jsonSchemaValidator, protocolVersions?: string[]): ServerSlot {
  const server = new McpServer(
    { name: info.name, version: info.version },
    {
      // The direct 2026-07-28 path (mcp/modern-direct.ts) lists the revision from the start, as the
      // SDK's handler makes it per exchange (`installModernOnlyHandlers` appends it to this list).
      ...(protocolVersions !== undefined ? { supportedProtocolVersions: protocolVersions } : {}),
      capabilities: { tools: { listChanged: false } },
      instructions: info.instructions,
      jsonSchemaValidator: validator,
      cacheHints: CACHE_HINTS,
      // A stateless JSON answer has no stream for the SDK's server-to-client requests.
      inputRequired: { legacyShim: false },
      // A tampered, expired or foreign state is refused with -32602 before the tool runs.
      ...(info.requestState !== undefined ? { requestState: { verify: info.requestState.verify } } : {}),
      // Bounds the work of validating arguments (the body limit bounds their size).
      maxToolInputElements: 10_000
    }
  )
  const slot: ServerSlot = { server, transport: undefined, scope: undefined, version: registry.version }
  server.server.onclose = () => slot.onclose?.()
  for (const tool of registry.list()) {
    server.registerTool(tool.name, {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: tool.annotations,
      _meta: { [SCOPES_META_KEY]: tool.scopes },
      scopeChallenge: () => slot.scope?.scopeChallenge?.(tool)
    }, (async (args: unknown, ctx: ServerContext) => {
      const scope = slot.scope
      if (scope === undefined) throw new Error('tool called outside a request')
      return await scope.callTool(tool, args, ctx.mcpReq.signal, ctx)
    }) as never)
  }
  if (info.catalog !== undefined) registerCatalog(server, info.catalog, { current: () => slot.scope?.caller, scopeChallenge: def => () => slot.scope?.scopeChallenge?.(def) })
  return slot
}

/**
 * Servers kept between requests.
 *
 * The SDK's stateless pattern builds a new McpServer (tool table, JSON-schema validator) and a new
 * transport for every request. Here each pooled server is connected once to its own in-process
 * transport (mcp/local-transport.ts) and serves exactly one HTTP request at a time: taken from the
 * pool, handed the request's messages, put back once every response is out. All servers share
 * one Ajv-based validator.
 */
export class ServerPool {
  readonly #idle: ServerSlot[] = []
  readonly #registry: ToolRegistry
  readonly #info: ServerInfo
  readonly #maxIdle: number
  readonly #validator: jsonSchemaValidator
  readonly #protocolVersions: string[] | undefined
  created = 0

  constructor (registry: ToolRegistry, info: ServerInfo, maxIdle = 64, protocolVersions?: string[]) {
    this.#registry = registry
    this.#info = info
    this.#maxIdle = maxIdle
    this.#validator = new AjvJsonSchemaValidator()
    this.#protocolVersions = protocolVersions
  }

  acquire (): ServerSlot {
    let slot = this.#idle.pop()
    while (slot !== undefined && slot.version !== this.#registry.version) slot = this.#idle.pop()
    if (slot !== undefined) return slot
    this.created++
    return createMcpServer(this.#registry, this.#info, this.#validator, this.#protocolVersions)
  }

  release (slot: ServerSlot): void {
    slot.scope = undefined
    // What one client said at initialize must not be seen while serving another.
    const inner = slot.server.server as unknown as { _clientCapabilities?: unknown, _clientVersion?: unknown }
    inner._clientCapabilities = undefined
    inner._clientVersion = undefined
    if (slot.version === this.#registry.version && this.#idle.length < this.#maxIdle) this.#idle.push(slot)
  }

  get idle (): number {
    return this.#idle.length
  }

  clear (): void {
    this.#idle.length = 0
  }
}

export interface HandleOptions {
  /** A request still unanswered after this long is answered with a 500 and its server dropped. */
  deadlineMs: number
}

/**
 * Serves the JSON-RPC message(s) of one HTTP request (`body`, already parsed and shape-checked)
 * with a pooled server, in the SDK's stateless JSON-response semantics. Resolves with the HTTP
 * answer to write.
 */
export async function serveMcpRequest (pool: ServerPool, scope: RequestScope, headers: IncomingHttpHeaders, body: unknown, opts: HandleOptions): Promise<HttpAnswer> {
  const slot = pool.acquire()
  if (slot.transport === undefined) {
    const transport = new LocalTransport()
    // A server that failed to connect is dropped rather than pooled.
    await slot.server.connect(transport)
    slot.transport = transport
  }
  slot.scope = scope
  let settled = false
  try {
    const answer = await slot.transport.handle(headers, body, opts.deadlineMs)
    settled = true
    return answer
  } finally {
    // A server whose request never finished is not reused (its handlers may still run).
    if (settled) pool.release(slot)
    else slot.scope = undefined
  }
}
