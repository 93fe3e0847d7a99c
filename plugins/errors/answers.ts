// How a thrown error becomes an answer, once per dialect: RFC 6749 JSON for the OAuth endpoints
// and the rest of the service, JSON-RPC for /mcp. 5xx answers never carry an internal message.
import type { FastifyBaseLogger, FastifyError } from 'fastify'
import { KNOWN_ERRORS } from './fastify-codes.ts'
import { INTERNAL_ERROR, SERVER_ERROR } from './json-rpc-codes.ts'
import { isOAuthError } from './oauth.ts'

export interface ErrorAnswer<Body> {
  status: number
  body: Body
  headers?: Record<string, string>
}

export interface OAuthBody { error: string, error_description: string }
export interface JsonRpcBody { jsonrpc: '2.0', id: null, error: { code: number, message: string } }

/** The RFC 6749 answer to `err` (a StoreFullError is the caller's: it is audited there). */
export function oauthAnswer (err: FastifyError | Error, log: FastifyBaseLogger): ErrorAnswer<OAuthBody> {
  if (isOAuthError(err)) return { status: err.statusCode, body: { error: err.oauthError, error_description: err.message }, headers: err.headers }
  const known = KNOWN_ERRORS[(err as FastifyError).code]
  if (known !== undefined) {
    if (known.status >= 500) log.warn({ err: { code: (err as FastifyError).code, message: err.message } }, 'dependency unavailable')
    return { status: known.status, body: { error: known.oauth.error, error_description: known.oauth.description } }
  }
  if ((err as FastifyError).validation !== undefined) return { status: 400, body: { error: 'invalid_request', error_description: err.message } }
  const status = (err as FastifyError).statusCode ?? 500
  if (status >= 400 && status < 500) return { status, body: { error: 'invalid_request', error_description: err.message } }
  log.error({ err }, 'unhandled error')
  return { status: 500, body: { error: 'server_error', error_description: 'The server hit an unexpected condition' } }
}

const jsonRpc = (code: number, message: string): JsonRpcBody => ({ jsonrpc: '2.0', id: null, error: { code, message } })

/** The JSON-RPC answer to an error raised on /mcp before or around the SDK. */
export function jsonRpcAnswer (err: FastifyError | Error, log: FastifyBaseLogger): ErrorAnswer<JsonRpcBody> {
  if (isOAuthError(err)) return { status: err.statusCode, body: jsonRpc(SERVER_ERROR, err.message), headers: err.headers }
  const known = KNOWN_ERRORS[(err as FastifyError).code]
  if (known !== undefined) return { status: known.status, body: jsonRpc(known.jsonRpc.code, known.jsonRpc.message) }
  const status = (err as FastifyError).statusCode ?? 500
  if (status >= 400 && status < 500) return { status, body: jsonRpc(SERVER_ERROR, err.message) }
  log.error({ err }, 'mcp request failed')
  return { status: 500, body: jsonRpc(INTERNAL_ERROR, 'Internal error') }
}
