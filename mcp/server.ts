import type { IncomingMessage, ServerResponse } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv'
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { isToolResult, type AnyTool, type ToolRegistry } from './registry.ts'

/** Key under `_meta` of each listed tool: the scopes the tool requires. */
export const SCOPES_META_KEY = 'io.github.entra-mcp-gateway/scopes'

/** Runs one tool for the HTTP request a pooled server is currently serving. */
export interface RequestScope {
  callTool: (tool: AnyTool, args: unknown, signal: AbortSignal) => Promise<CallToolResult>
}

export interface ServerInfo {
  name: string
  version: string
  instructions?: string
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
  const slot: ServerSlot = { server, scope: undefined, version: registry.version }
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
  return slot
}

/**
 * Connected-per-request servers, kept between requests.
 *
 * The SDK's stateless pattern builds a new McpServer (tool table, JSON-schema validator) for
 * every request. Here a server is taken from the pool, connected to a fresh stateless transport
 * (the SDK refuses to reuse one), serves exactly one HTTP request, is closed (which resets the
 * protocol state) and goes back to the pool. One server is never connected to two transports at
 * once; all servers share one Ajv-based validator.
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

/**
 * `server.close()` after the response is out. Closing makes the SDK create a "Connection closed"
 * McpError for pending response handlers (there are none by then); capturing its stack trace was
 * ~7 % of the MCP layer's time, so it is skipped. The SDK's close runs synchronously up to that
 * point, so the setting is restored before any other code runs.
 */
async function closeQuietly (server: McpServer): Promise<void> {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  let closing: Promise<void>
  try {
    closing = server.close()
  } finally {
    Error.stackTraceLimit = limit
  }
  await closing
}

export interface HandleOptions {
  /** Upper bound on the body the transport would read itself (we always pass the parsed body). */
  maxRequestBodySize: number
}

/**
 * Serves one HTTP request with a pooled server and a new stateless transport in JSON-response
 * mode. `body` is the body Fastify already parsed. Resolves once the response is written.
 */
export async function serveMcpRequest (pool: ServerPool, scope: RequestScope, req: IncomingMessage, res: ServerResponse, body: unknown, opts: HandleOptions): Promise<void> {
  const slot = pool.acquire()
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    maxRequestBodySize: opts.maxRequestBodySize
  })
  slot.scope = scope
  // A server that failed to connect is dropped rather than pooled.
  await slot.server.connect(transport)
  try {
    await transport.handleRequest(req, res, body)
  } finally {
    await closeQuietly(slot.server)
    pool.release(slot)
  }
}
