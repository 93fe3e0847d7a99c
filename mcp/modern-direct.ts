// The hot methods of the 2026-07-28 leg (`tools/call`, `tools/list`, `server/discover`) served beside
// createMcpHandler, on pooled servers that stay connected to an in-process transport: the same
// McpServer, the same dispatch (request and argument validation, tool errors, result encoding,
// input-required state) as the handler's; without its web Request/Response objects and its
// connect and close per exchange. The entry's ladder before dispatch is mirrored for the passing
// case only: a request that does not pass every step exactly as mirrored here is left to
// createMcpHandler, which answers it (docs/mcp.md "Speed").
import { PassThrough } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import {
  CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PerRequestHTTPServerTransport, ProtocolErrorCode, classifyInboundRequest, isJsonContentType,
  type AuthInfo, type InboundModernRoute, type JSONRPCMessage, type JSONRPCRequest, type MessageExtraInfo, type RequestId, type TransportSendOptions
} from '@modelcontextprotocol/server'
import { MODERN_VERSIONS } from './local-transport.ts'
import type { ServerPool, ServerSlot, RequestScope } from './server.ts'
import type { ToolRegistry } from './registry.ts'

/** Methods served here; every other 2026-07-28 request goes to createMcpHandler. */
export const DIRECT_METHODS: ReadonlySet<string> = new Set(['tools/call', 'tools/list', 'server/discover'])

/** What to write back (as mcp/modern.ts answers): status, headers, a JSON string or an SSE stream. */
export interface DirectAnswer {
  status: number
  headers: Record<string, string>
  body: string | PassThrough | undefined
}

/** The request headers the SDK's handler reads, as Node gives them. */
const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

// A web `Headers` strips leading and trailing HTTP whitespace from every value (Fetch "normalize").
const normalize = (value: string | undefined) => value?.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
// Values a web `Headers` would refuse or alter (control characters, non-ASCII): left to the handler.
const UNUSUAL = /[^\t\x20-\x7e]/
// RFC 9110 optional whitespace, as the SDK's `stripHttpOws` removes it.
const stripOws = (value: string) => value.replace(/^[\t ]+|[\t ]+$/g, '')
const BASE64_SENTINEL = /^=\?base64\?/i

/** The standard headers of a request as the handler's web Request would carry them; undefined if unusual. */
function standardHeaders (headers: IncomingHttpHeaders) {
  const read = { contentType: header(headers, 'content-type'), protocolVersion: header(headers, 'mcp-protocol-version'), method: header(headers, 'mcp-method'), name: header(headers, 'mcp-name') }
  for (const value of Object.values(read)) if (value !== undefined && UNUSUAL.test(value)) return undefined
  return { contentType: normalize(read.contentType), protocolVersion: normalize(read.protocolVersion), method: normalize(read.method), name: normalize(read.name) }
}

/**
 * The route of a request this path may serve, or undefined to leave it to createMcpHandler.
 * Mirrors, in createMcpHandler's order (SDK 2.4.0, dist/index.mjs `handle` and `serveModern`),
 * only the passing outcome of each step:
 * 1. `isJsonContentType` of Content-Type (the handler's 415);
 * 2. `classifyInboundRequest`, the SDK's own classifier (JSON-RPC shape, `_meta` envelope,
 *    header/body version and `Mcp-Method` cross-checks): a modern request;
 * 3. the claimed revision is one the handler serves (`SUPPORTED_MODERN_PROTOCOL_VERSIONS`);
 * 4. `validateStandardRequestHeaders` (SEP-2243 standard headers): `MCP-Protocol-Version` and
 *    `Mcp-Method` present, `Mcp-Name` present and equal to `params.name` on `tools/call` (a
 *    Base64-sentinel `Mcp-Name` is left to the handler, which decodes it);
 * 5. required client capabilities (`requiredClientCapabilitiesForRequest`): none for these
 *    methods in 2.4.0 (its table is empty; test/mcp/modern-direct.test.ts compares answers made
 *    with no capabilities declared).
 * The `Mcp-Param-*` and scope steps need the server and the caller: see `createDirectLeg`.
 */
export function directRoute (body: unknown, headers: IncomingHttpHeaders): (InboundModernRoute & { messageKind: 'request' }) | undefined {
  if (typeof body !== 'object' || body === null || !DIRECT_METHODS.has((body as { method?: string }).method ?? '')) return undefined
  const std = standardHeaders(headers)
  if (std === undefined || !isJsonContentType(std.contentType ?? null)) return undefined
  const route = classifyInboundRequest({ httpMethod: 'POST', body, protocolVersionHeader: std.protocolVersion, mcpMethodHeader: std.method, mcpNameHeader: std.name })
  if (route.kind !== 'modern' || route.messageKind !== 'request') return undefined
  const revision = route.classification.revision
  if (revision === undefined || !MODERN_VERSIONS.includes(revision)) return undefined
  if (std.protocolVersion === undefined || std.method === undefined) return undefined
  if (route.message.method === 'tools/call' && !nameHeaderPasses(route.message.params, std.name)) return undefined
  return route
}

/**
 * `validateStandardRequestHeaders` for `tools/call` (`MCP_NAME_HEADER_SOURCE`: `params.name`):
 * absent is fine only when the body names no tool; present, it must equal the name. Any
 * `=?base64?` value is left to the handler (it decodes it, or refuses a bad encoding).
 */
function nameHeaderPasses (params: unknown, sent: string | undefined): boolean {
  const raw = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as { name?: unknown }).name : undefined
  const name = typeof raw === 'string' ? raw : undefined
  if (sent === undefined) return name === undefined
  const value = stripOws(sent)
  if (BASE64_SENTINEL.test(value)) return false
  return name === undefined || value === name
}

/** The view of the HTTP request a handler context gets on this path (`ctx.http.req`): its headers. */
function requestView (headers: IncomingHttpHeaders): Request {
  return { headers: { get: (name: string) => normalize(header(headers, name.toLowerCase())) ?? null } } as unknown as Request
}

interface Exchange {
  id: RequestId
  /** True while the message is handed to the server: an error sent then comes from its pre-handler gates. */
  dispatching: boolean
  settle: (answer: DirectAnswer | 'ladder') => void
  stream?: PassThrough
  keepAlive?: NodeJS.Timeout
  end: () => void
}

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform' }
const KEEP_ALIVE_MS = 15_000

const isResponse = (message: JSONRPCMessage): message is JSONRPCMessage & { id: RequestId } =>
  !('method' in message) && ('result' in message || 'error' in message)

/**
 * A transport connected once to one pooled server, serving one exchange at a time. It extends the
 * SDK's `PerRequestHTTPServerTransport` for one reason: connecting a server to an instance of it
 * binds the server to the classified 2026-07-28 revision (`Server.connect`), as the handler's
 * `setNegotiatedProtocolVersion` does. Its answers mirror that transport's `send` in `auto` mode:
 * the response as JSON with 200 (400 for -32021, `httpStatusForErrorCode` "in-band"); an error
 * sent while dispatching is a pre-handler rejection (answered by the handler instead: no tool ran);
 * a related message before the response turns the answer into an SSE stream.
 */
export class DirectTransport extends PerRequestHTTPServerTransport {
  #exchange: Exchange | undefined
  #closed = false

  constructor () {
    super({ classification: { era: 'modern', revision: MODERN_VERSIONS[0] } })
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Hands one request to the server; resolves with the answer, or 'ladder' when a pre-handler gate refused it. */
  async exchange (message: JSONRPCRequest, extra: MessageExtraInfo, end: () => void): Promise<DirectAnswer | 'ladder'> {
    if (this.#exchange !== undefined || this.#closed || this.onmessage === undefined) throw new Error('the direct transport is busy, closed or not connected')
    return await new Promise((resolve, reject) => {
      const exchange: Exchange = { id: message.id, dispatching: true, settle: resolve, end }
      this.#exchange = exchange
      try {
        this.onmessage?.(message, extra)
      } catch (err) {
        // The server failed to take the message: nothing is pending on this transport.
        if (this.#exchange === exchange) this.#exchange = undefined
        reject(err)
      } finally {
        exchange.dispatching = false
      }
    })
  }

  override async send (message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const exchange = this.#exchange
    if (exchange === undefined) return
    const response = isResponse(message)
    if ((response ? message.id : options?.relatedRequestId) !== exchange.id) {
      if (response) this.onerror?.(new Error(`Received a response for an unknown request id: ${String(message.id)}`))
      return
    }
    if (!response) { this.#frame(exchange, message); return }
    this.#exchange = undefined
    if (exchange.stream !== undefined) {
      this.#frame(exchange, message)
      this.#finish(exchange)
      return
    }
    const code = 'error' in message ? (message.error as { code: number }).code : undefined
    if (code !== undefined && exchange.dispatching) exchange.settle('ladder')
    else exchange.settle({ status: code === ProtocolErrorCode.MissingRequiredClientCapability ? 400 : 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) })
    exchange.end()
  }

  /** An SSE frame; the first one turns the answer into a stream (as the SDK's `upgradeToSse`). */
  #frame (exchange: Exchange, message: JSONRPCMessage) {
    if (exchange.stream === undefined) {
      const stream = new PassThrough()
      exchange.stream = stream
      exchange.keepAlive = setInterval(() => stream.write(': keepalive\n\n'), KEEP_ALIVE_MS)
      exchange.keepAlive.unref()
      exchange.settle({ status: 200, headers: { ...SSE_HEADERS }, body: stream })
    }
    exchange.stream.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
  }

  #finish (exchange: Exchange) {
    clearInterval(exchange.keepAlive)
    exchange.stream?.end()
    exchange.end()
  }

  /** The client went away: the running handler is aborted (the SDK's close chain) and the answer is 499. */
  override async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const exchange = this.#exchange
    this.#exchange = undefined
    if (exchange !== undefined) {
      if (exchange.stream === undefined) exchange.settle({ status: 499, headers: {}, body: undefined })
      this.#finish(exchange)
    }
    this.onclose?.()
  }
}

/** A tool whose input schema declares `x-mcp-header` needs the handler's `Mcp-Param-*` check. */
function declaresParamHeaders (slot: ServerSlot, name: string, cache: Map<string, boolean>): boolean {
  let declares = cache.get(name)
  if (declares === undefined) {
    const schema = slot.server.toolInputSchemaJson(name)
    declares = schema !== undefined && JSON.stringify(schema).includes('"x-mcp-header"')
    cache.set(name, declares)
  }
  return declares
}

/**
 * Serves a routed request on a server of `pool` (built with the 2026-07-28 revision among its
 * versions, so it answers `server/discover` as the handler's `installModernOnlyHandlers` makes
 * it), or resolves undefined to leave the request to createMcpHandler: a tool declaring
 * `Mcp-Param-*` headers, a caller lacking a scope of the tool (the handler's scope challenge,
 * which mcp/transport.ts turns into the step-up answer), or a pre-handler rejection by the server.
 */
export function createDirectLeg (registry: ToolRegistry, pool: ServerPool) {
  const transports = new WeakMap<ServerSlot, DirectTransport>()
  const paramHeaders = new Map<string, boolean>()
  let version = registry.version

  async function connected (slot: ServerSlot): Promise<DirectTransport> {
    let transport = transports.get(slot)
    if (transport === undefined || transport.closed) {
      transport = new DirectTransport()
      await slot.server.connect(transport)
      transports.set(slot, transport)
    }
    return transport
  }

  /** Whether the handler would refuse before dispatch what this path cannot check without a server or caller. */
  function refusedBeforeDispatch (route: { message: JSONRPCRequest }, slot: ServerSlot, scope: RequestScope): boolean {
    if (route.message.method !== 'tools/call') return false
    const name = (route.message.params as { name?: unknown } | undefined)?.name
    if (typeof name !== 'string') return false
    if (registry.version !== version) { paramHeaders.clear(); version = registry.version }
    if (declaresParamHeaders(slot, name, paramHeaders)) return true
    // McpServer.resolveScopeChallenge: a registered tool's own `scopeChallenge` (mcp/server.ts).
    const tool = registry.get(name)
    return tool !== undefined && scope.scopeChallenge?.(tool) !== undefined
  }

  return async function serveDirect (route: InboundModernRoute & { messageKind: 'request' }, headers: IncomingHttpHeaders, scope: RequestScope, authInfo: AuthInfo, onClientGone: (abort: () => void) => () => void): Promise<DirectAnswer | undefined> {
    const slot = pool.acquire()
    if (refusedBeforeDispatch(route, slot, scope)) { pool.release(slot); return undefined }
    const transport = await connected(slot)
    slot.scope = scope
    // seedClientIdentityFromEnvelope: what the request's envelope says of the client.
    const meta = (route.message.params as { _meta?: Record<string, unknown> } | undefined)?._meta
    const inner = slot.server.server as unknown as { _clientCapabilities?: unknown, _clientVersion?: unknown }
    if (meta?.[CLIENT_CAPABILITIES_META_KEY] !== undefined) inner._clientCapabilities = meta[CLIENT_CAPABILITIES_META_KEY]
    if (meta?.[CLIENT_INFO_META_KEY] !== undefined) inner._clientVersion = meta[CLIENT_INFO_META_KEY]
    let released = false
    const release = () => { if (!released) { released = true; stopWatching(); pool.release(slot) } }
    const stopWatching = onClientGone(() => { transport.close().catch(() => {}) })
    let answer
    try {
      answer = await transport.exchange(route.message, { classification: route.classification, request: requestView(headers), authInfo }, release)
    } catch (err) {
      stopWatching() // the server is not pooled again: its state after a failed hand-over is unknown
      throw err
    }
    return answer === 'ladder' ? undefined : answer
  }
}
