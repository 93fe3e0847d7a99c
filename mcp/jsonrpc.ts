// JSON-RPC 2.0 answers for the MCP endpoint when the SDK never sees the request
// (refused before the transport) and the checks made before handing a body to it.

import { INVALID_REQUEST } from '../plugins/errors/json-rpc-codes.ts'
export { PARSE_ERROR, INVALID_REQUEST, INTERNAL_ERROR, SERVER_ERROR } from '../plugins/errors/json-rpc-codes.ts'

export type JsonRpcId = string | number | null

export interface JsonRpcErrorBody {
  jsonrpc: '2.0'
  id: JsonRpcId
  error: { code: number, message: string, data?: unknown }
}

export function jsonRpcError (code: number, message: string, id: JsonRpcId = null, data?: unknown): JsonRpcErrorBody {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } }
}

/** Same limit as the SDK transport's (it refuses larger batches itself; we refuse before scanning them). */
export const MAX_BATCH = 100

const isId = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))

export interface Invalid { status: number, body: JsonRpcErrorBody }

/**
 * Shape checks on a parsed body before the SDK sees it, so malformed input gets the JSON-RPC
 * code the spec gives it (-32600 Invalid Request for a wrong `jsonrpc`, a missing `method`,
 * a non-object, an empty or oversized batch). Returns undefined when the body is well formed.
 */
export function checkJsonRpcBody (body: unknown): Invalid | undefined {
  if (Array.isArray(body)) {
    if (body.length === 0) return { status: 400, body: jsonRpcError(INVALID_REQUEST, 'Invalid Request: empty batch') }
    if (body.length > MAX_BATCH) return { status: 400, body: jsonRpcError(INVALID_REQUEST, `Invalid Request: a batch may hold at most ${MAX_BATCH} messages`) }
    for (const message of body) {
      const problem = messageProblem(message)
      if (problem !== undefined) return { status: 400, body: jsonRpcError(INVALID_REQUEST, `Invalid Request: ${problem}`, idOf(message)) }
    }
    return undefined
  }
  const problem = messageProblem(body)
  if (problem !== undefined) return { status: 400, body: jsonRpcError(INVALID_REQUEST, `Invalid Request: ${problem}`, idOf(body)) }
  return undefined
}

/** The id of a lone message, when it has a usable one (a batch or a message without: null). */
export function idOf (message: unknown): JsonRpcId {
  if (typeof message !== 'object' || message === null) return null
  const id = (message as { id?: unknown }).id
  return isId(id) ? id : null
}

function messageProblem (message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'a message must be a JSON object'
  const m = message as Record<string, unknown>
  if (m.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"'
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') return 'method must be a non-empty string'
    if ('id' in m && !isId(m.id)) return 'id must be a string or a number'
    if ('params' in m && (typeof m.params !== 'object' || m.params === null)) return 'params must be an object or an array'
    return undefined
  }
  // A response from the client (to a server request): needs an id and a result or an error.
  if (!('id' in m) || !isId(m.id)) return 'a message without a method must be a response with an id'
  if (!('result' in m) && !('error' in m)) return 'a response needs a result or an error'
  return undefined
}
