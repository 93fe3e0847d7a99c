import type { IncomingHttpHeaders } from 'node:http'
import {
  SUPPORTED_PROTOCOL_VERSIONS, isInitializeRequest, isJsonContentType, parseJSONRPCMessage,
  type JSONRPCMessage, type JSONRPCRequest, type MessageExtraInfo, type RequestId, type Transport
} from '@modelcontextprotocol/server'
import { jsonRpcError, INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR, type JsonRpcId } from './jsonrpc.ts'

/** What to write back for one HTTP request: status and, unless 202, a JSON body (already serialized). */
export interface HttpAnswer {
  status: number
  body?: string
}

type Response = JSONRPCMessage & { id: RequestId }

/** The revisions served by the SDK's handler (mcp/modern.ts), named in a legacy version error too. */
export const MODERN_VERSIONS = ['2026-07-28']

const isInitialize = (message: JSONRPCMessage): boolean =>
  (message as { method?: unknown }).method === 'initialize' && isInitializeRequest(message)

const isRequest = (message: JSONRPCMessage): message is JSONRPCRequest => 'method' in message && 'id' in message

const answerError = (status: number, code: number, message: string, id: JsonRpcId = null, data?: unknown): HttpAnswer =>
  ({ status, body: JSON.stringify(jsonRpcError(code, message, id, data)) })

/** The id of a lone request, echoed in a transport-level error (a batch has no single id: null). */
function loneId (rawMessage: unknown): JsonRpcId {
  if (typeof rawMessage !== 'object' || rawMessage === null || Array.isArray(rawMessage)) return null
  const id = (rawMessage as { id?: unknown }).id
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null
}

/**
 * The SDK transport's checks of one POST, in its order (see LocalTransport): the error answer,
 * or the parsed messages.
 */
export function checkHttpMessages (headers: IncomingHttpHeaders, rawMessage: unknown): HttpAnswer | { messages: JSONRPCMessage[] } {
  const id = loneId(rawMessage)
  const accept = headers.accept
  if (accept === undefined || !accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return answerError(406, SERVER_ERROR, 'Not Acceptable: Client must accept both application/json and text/event-stream', id)
  }
  if (!isJsonContentType(headers['content-type'] ?? null)) {
    return answerError(415, SERVER_ERROR, 'Unsupported Media Type: Content-Type must be application/json', id)
  }
  let messages: JSONRPCMessage[]
  try {
    messages = Array.isArray(rawMessage) ? rawMessage.map(m => parseJSONRPCMessage(m)) : [parseJSONRPCMessage(rawMessage)]
  } catch {
    return answerError(400, PARSE_ERROR, 'Parse error: Invalid JSON-RPC message', id)
  }
  // Equivalent to the SDK's checks on an already parsed message, without a zod pass each:
  // InitializeRequestSchema needs the method `initialize`, and of the (strict) message schemas
  // only a request has both `method` and `id`.
  const initializing = messages.some(isInitialize)
  if (initializing && messages.length > 1) {
    return answerError(400, INVALID_REQUEST, 'Invalid Request: Only one initialization request is allowed')
  }
  const version = headers['mcp-protocol-version']
  if (!initializing && version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version as string)) {
    const supported = [...SUPPORTED_PROTOCOL_VERSIONS, ...MODERN_VERSIONS]
    return answerError(400, SERVER_ERROR, `Bad Request: Unsupported protocol version: ${String(version)} (supported versions: ${supported.join(', ')})`,
      id, { supported, requested: String(version) })
  }
  return { messages }
}

/**
 * The SDK's `Transport` interface, in process, for one pooled server (connected once).
 *
 * `handle()` does for one HTTP POST what the SDK's stateless StreamableHTTPServerTransport does
 * in JSON-response mode (`enableJsonResponse`), in the same order and with the same answers:
 * Accept must list application/json and text/event-stream (406), Content-Type application/json
 * (415), each message must parse as JSON-RPC (400 -32700), an initialize must be alone in its
 * batch (400 -32600), MCP-Protocol-Version, when sent, must be supported (400, not checked on
 * initialize), a body of notifications and responses only is accepted with 202; otherwise every
 * request goes to the server and the answer is its response (one) or their array (batch).
 * Without the SDK transport's web Request/Response objects, stream bookkeeping and per-request
 * connect/close.
 *
 * Request ids are rewritten to ids unique on this transport and restored in the answer, so two
 * requests (or two messages of one batch) with the same id never collide. Messages the server
 * sends that answer nothing (notifications, its own requests) are dropped, as the SDK transport
 * does in JSON-response mode without a standalone SSE stream. A `notifications/cancelled` naming
 * a request of the same batch is passed on as it is, so it matches nothing and the request is
 * answered (with the SDK transport it cancelled the handler and the POST never got an answer).
 */
export class LocalTransport implements Transport {
  onmessage?: Transport['onmessage']
  onclose?: () => void
  onerror?: (error: Error) => void
  sessionId = undefined

  #nextId = 0
  readonly #waiting = new Map<number, (response: Response) => void>()

  async start (): Promise<void> {}

  async close (): Promise<void> {
    this.#waiting.clear()
    this.onclose?.()
  }

  async send (message: JSONRPCMessage): Promise<void> {
    // Only answers to the requests handed over are awaited, and those all carry a numeric id of
    // ours: anything else the server sends (notifications, its own requests) is dropped. The
    // server builds its messages itself, so the cheap shape test stands in for the zod schemas.
    const id = (message as { id?: unknown }).id
    if (typeof id !== 'number' || !(('result' in message) || ('error' in message))) return
    const deliver = this.#waiting.get(id)
    if (deliver === undefined) return
    this.#waiting.delete(id)
    deliver(message as Response)
  }

  async handle (headers: IncomingHttpHeaders, rawMessage: unknown, deadlineMs: number): Promise<HttpAnswer> {
    const checked = checkHttpMessages(headers, rawMessage)
    if ('status' in checked) return checked
    const { messages } = checked
    const extra: MessageExtraInfo = {}
    const onmessage = this.onmessage
    if (onmessage === undefined) throw new Error('the transport is not connected to a server')

    if (!messages.some(isRequest)) {
      for (const message of messages) onmessage(message, extra)
      return { status: 202 }
    }

    if (messages.length === 1) return await this.#single(messages[0] as JSONRPCRequest, onmessage, extra, deadlineMs)
    return await this.#batch(messages, onmessage, extra, deadlineMs)
  }

  /** Several messages: each request gets an id of ours; the answer is their responses, in order. */
  async #batch (messages: JSONRPCMessage[], onmessage: NonNullable<Transport['onmessage']>, extra: MessageExtraInfo, deadlineMs: number): Promise<HttpAnswer> {
    const pending: Array<Promise<Response>> = []
    const internalIds: number[] = []
    const originalIds: RequestId[] = []
    const forwarded: JSONRPCMessage[] = []
    for (const message of messages) {
      if (!isRequest(message)) {
        forwarded.push(message)
        continue
      }
      const id = this.#takeId()
      internalIds.push(id)
      originalIds.push(message.id)
      pending.push(new Promise<Response>(resolve => this.#waiting.set(id, resolve)))
      forwarded.push({ ...message, id })
    }
    for (const message of forwarded) onmessage(message, extra)

    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<undefined>(resolve => { timer = setTimeout(resolve, deadlineMs, undefined) })
    try {
      const responses = await Promise.race([Promise.all(pending), deadline])
      if (responses === undefined) {
        for (const id of internalIds) this.#waiting.delete(id)
        throw new Error(`no answer from the MCP server within ${deadlineMs} ms`)
      }
      const restored = responses.map((response, i) => ({ ...response, id: originalIds[i] }))
      return { status: 200, body: JSON.stringify(restored.length === 1 ? restored[0] : restored) }
    } finally {
      clearTimeout(timer)
    }
  }

  /** The common case, one request alone: one promise and one timer, no batch bookkeeping. */
  async #single (message: JSONRPCRequest, onmessage: NonNullable<Transport['onmessage']>, extra: MessageExtraInfo, deadlineMs: number): Promise<HttpAnswer> {
    const id = this.#takeId()
    const originalId = message.id
    const answered = new Promise<HttpAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`no answer from the MCP server within ${deadlineMs} ms`))
      }, deadlineMs)
      this.#waiting.set(id, response => {
        clearTimeout(timer)
        resolve({ status: 200, body: JSON.stringify({ ...response, id: originalId }) })
      })
    })
    onmessage({ ...message, id }, extra)
    return await answered
  }

  #takeId (): number {
    const id = this.#nextId++
    if (this.#nextId >= Number.MAX_SAFE_INTEGER) this.#nextId = 0
    return id
  }
}
