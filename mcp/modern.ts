// The 2026-07-28 leg of POST /mcp: the SDK's stateless handler (createMcpHandler) owns the
// revision's answer ladder; its server factory lends pooled McpServers kept for this era only.
// `tools/call`, `tools/list` and `server/discover` that pass the ladder are served beside it on
// servers kept connected (mcp/modern-direct.ts), with the same answers.
import { Readable } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import { SUPPORTED_PROTOCOL_VERSIONS, createMcpHandler, type AuthInfo, type McpHttpHandler, type ServerContext } from '@modelcontextprotocol/server'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { ServerPool, type RequestScope, type ServerInfo, type ServerSlot } from './server.ts'
import type { ToolRegistry } from './registry.ts'
import { MODERN_VERSIONS } from './local-transport.ts'
import { createDirectLeg, directRoute } from './modern-direct.ts'

/** One lending of a pooled server to one HTTP request; released exactly once. */
interface Lending {
  scope: RequestScope
  slot?: ServerSlot
  done: boolean
}

/** The caller of the 2026-07-28 request a handler context belongs to; undefined on the 2025 leg. */
export function callerOfContext (ctx: ServerContext): Identity | undefined {
  const lending = ctx.http?.authInfo?.extra?.lending as Lending | undefined
  return lending?.scope.caller?.identity
}

/** What to write back: status, the headers that matter, and the body (a string or a stream). */
export interface ModernAnswer {
  status: number
  headers: Record<string, string>
  body: string | Readable | undefined
}

const PASSED_HEADERS = ['content-type', 'www-authenticate', 'allow', 'cache-control']

/**
 * The modern leg. The SDK's handler validates the revision, the standard and parameter headers,
 * the client capabilities and the scope challenge, then dispatches on a per-request transport to the
 * server its factory returns. That factory lends a pooled server (era is instance state, so this
 * pool never serves a 2025 request) and takes it back when the exchange's transport closes, or,
 * when the handler refused before connecting it, once the handler has answered.
 */
export function createModernLeg (registry: ToolRegistry, info: ServerInfo, onerror: (error: Error) => void, { direct = true } = {}) {
  const pool = new ServerPool(registry, info)
  const release = (lending: Lending) => {
    if (lending.done || lending.slot === undefined) return
    lending.done = true
    lending.slot.onclose = undefined
    pool.release(lending.slot)
  }
  const handler: McpHttpHandler = createMcpHandler(({ authInfo }) => {
    const lending = authInfo?.extra?.lending as Lending | undefined
    if (lending === undefined) throw new Error('the modern leg was called without a lending')
    const slot = pool.acquire()
    slot.scope = lending.scope
    lending.slot = slot
    slot.onclose = () => release(lending)
    return slot.server
  }, { legacy: 'reject', onerror })
  // `tools/call`, `tools/list`, `server/discover` (mcp/modern-direct.ts): servers kept connected, listing the revision as the handler leaves them.
  const directPool = new ServerPool(registry, info, 64, [...SUPPORTED_PROTOCOL_VERSIONS, ...MODERN_VERSIONS])
  const serveDirect = createDirectLeg(registry, directPool)
  const socketOf = (request: FastifyRequest) => (abort: () => void) => {
    request.raw.socket?.once('close', abort)
    return () => { request.raw.socket?.off('close', abort) }
  }

  /** Serves one 2026-07-28 request (`body` already parsed) for the caller of `request`. */
  async function serve (request: FastifyRequest, body: unknown, scope: RequestScope, authInfo: Omit<AuthInfo, 'extra'>): Promise<ModernAnswer> {
    const route = direct ? directRoute(body, request.headers) : undefined
    if (route !== undefined) {
      const answer = await serveDirect(route, request.headers, scope, { ...authInfo, extra: { lending: { scope, done: false } } }, socketOf(request))
      if (answer !== undefined) return answer
    }
    return await serveWithHandler(request, body, scope, authInfo)
  }

  /** The SDK's handler: every request the direct path leaves to it. */
  async function serveWithHandler (request: FastifyRequest, body: unknown, scope: RequestScope, authInfo: Omit<AuthInfo, 'extra'>): Promise<ModernAnswer> {
    const lending: Lending = { scope, done: false }
    const aborted = new AbortController()
    // The client going away cancels the exchange (the SDK aborts the handler's signal).
    const onClose = () => { aborted.abort() }
    request.raw.socket?.once('close', onClose)
    try {
      const response = await handler.fetch(webRequest(request, aborted.signal), { parsedBody: body, authInfo: { ...authInfo, extra: { lending } } })
      // Refused before the exchange started (scope challenge, parameter headers): never connected.
      if (lending.slot !== undefined && !lending.slot.server.isConnected()) release(lending)
      return await toAnswer(response)
    } finally {
      request.raw.socket?.off('close', onClose)
    }
  }

  return { serve, serveWithHandler, close: async () => { await handler.close(); pool.clear(); directPool.clear() }, pool, directPool }
}

/**
 * A web Request carrying what the handler reads: method, URL, the media-type headers and the MCP
 * ones (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`); the body is passed parsed.
 * The bearer token and cookies never reach the SDK (it gets the verified identity as authInfo),
 * and copying only these headers is measurably cheaper than all of them.
 */
function webRequest (request: FastifyRequest, signal: AbortSignal): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || !(name.startsWith('mcp-') || name === 'content-type' || name === 'accept')) continue
    headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  return new ExchangeRequest(`http://mcp.invalid${request.url}`, { method: request.method, headers }, signal)
}

/**
 * A Request whose `signal` is the exchange's own. Passing the signal to `new Request` instead makes
 * undici create a second signal that follows it (a listener, a WeakRef and a FinalizationRegistry
 * entry per request, kept until the Request is collected): measurable CPU and heap per call.
 */
class ExchangeRequest extends Request {
  readonly #signal: AbortSignal
  constructor (url: string, init: RequestInit, signal: AbortSignal) {
    super(url, init)
    this.#signal = signal
  }

  override get signal (): AbortSignal {
    return this.#signal
  }
}

async function toAnswer (response: Response): Promise<ModernAnswer> {
  const headers: Record<string, string> = {}
  for (const name of PASSED_HEADERS) {
    const value = response.headers.get(name)
    if (value !== null) headers[name] = value
  }
  if (response.body === null) return { status: response.status, headers, body: undefined }
  // A stream (subscriptions/listen, or a call that sent notifications first) is passed on as it comes.
  if (headers['content-type']?.startsWith('text/event-stream') === true) {
    return { status: response.status, headers, body: Readable.fromWeb(response.body as never) }
  }
  return { status: response.status, headers, body: await response.text() }
}
