import type { IncomingHttpHeaders } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { isToolResult, type AnyTool, type ToolRegistry } from './registry.ts'
import { LocalTransport, type HttpAnswer } from './local-transport.ts'
import type { Catalog, CatalogRequest } from './catalog.ts'
import { registerCatalog } from './catalog-server.ts'

/** Key under `_meta` of each listed tool: the scopes the tool requires. */
export const SCOPES_META_KEY = 'io.github.entra-mcp-gateway/scopes'

/** Runs one tool for the HTTP request a pooled server is currently serving. */
export interface RequestScope {
  callTool: (tool: AnyTool, args: unknown, signal: AbortSignal) => Promise<CallToolResult>
  /** The caller, for resources and prompts (mcp/catalog.ts). */
  caller?: CatalogRequest
}

export interface ServerInfo {
  name: string
  version: string
  instructions?: string
  /** Resources and prompts served beside the tools. */
  catalog?: Catalog
}

/** Turns what a handler returned into the `CallToolResult` the SDK sends. */
export function toCallToolResult (tool: AnyTool, value: unknown): CallToolResult {
  if (isToolResult(value)) return value.result
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
}

export function createMcpServer (registry: ToolRegistry, info: ServerInfo, validator: jsonSchemaValidator): ServerSlot {
  const server = new McpServer(
    { name: info.name, version: info.version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: info.instructions,
      jsonSchemaValidator: validator,
      // Bounds the work of validating arguments (the body limit bounds their size).
      maxToolInputElements: 10_000
    }
  )
  const slot: ServerSlot = { server, transport: undefined, scope: undefined, version: registry.version }
  for (const tool of registry.list()) {
    server.registerTool(tool.name, {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: tool.annotations,
      _meta: { [SCOPES_META_KEY]: tool.scopes }
    }, (async (args: unknown, extra: { signal: AbortSignal }) => {
      const scope = slot.scope
      if (scope === undefined) throw new Error('tool called outside a request')
      return await scope.callTool(tool, args, extra.signal)
    }) as never)
  }
  if (info.catalog !== undefined) registerCatalog(server, info.catalog, { current: () => slot.scope?.caller, v2Options: false })
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
  created = 0

  constructor (registry: ToolRegistry, info: ServerInfo, maxIdle = 64) {
    this.#registry = registry
    this.#info = info
    this.#maxIdle = maxIdle
    this.#validator = new AjvJsonSchemaValidator()
  }

  acquire (): ServerSlot {
    let slot = this.#idle.pop()
    while (slot !== undefined && slot.version !== this.#registry.version) slot = this.#idle.pop()
    if (slot !== undefined) return slot
    this.created++
    return createMcpServer(this.#registry, this.#info, this.#validator)
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
