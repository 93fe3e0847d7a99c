// Errors Fastify (and the store) raise before a handler runs, and how each dialect answers them:
// one table, so the OAuth endpoints and /mcp agree on the status and differ only in wording.
import { INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR } from './json-rpc-codes.ts'

export interface KnownError {
  status: number
  oauth: { error: 'invalid_request' | 'temporarily_unavailable', description: string }
  jsonRpc: { code: number, message: string }
}

export const KNOWN_ERRORS: Record<string, KnownError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    oauth: { error: 'invalid_request', description: 'The request body is larger than this endpoint accepts' },
    jsonRpc: { code: INVALID_REQUEST, message: 'Invalid Request: the body is larger than this endpoint accepts' }
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    oauth: { error: 'invalid_request', description: 'Unsupported Content-Type for this endpoint' },
    jsonRpc: { code: SERVER_ERROR, message: 'Unsupported Media Type: Content-Type must be application/json' }
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    oauth: { error: 'invalid_request', description: 'The JSON body is empty' },
    jsonRpc: { code: INVALID_REQUEST, message: 'Invalid Request: the body is empty' }
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    oauth: { error: 'invalid_request', description: 'The body is not valid JSON' },
    jsonRpc: { code: PARSE_ERROR, message: 'Parse error: the body is not valid JSON' }
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    oauth: { error: 'invalid_request', description: 'Content-Length does not match the body' },
    jsonRpc: { code: INVALID_REQUEST, message: 'Invalid Request: Content-Length does not match the body' }
  },
  // StoreUnavailableError (plugins/store/contract.ts)
  FST_ERR_STORE_UNAVAILABLE: {
    status: 503,
    oauth: { error: 'temporarily_unavailable', description: 'The state store is unavailable; retry shortly' },
    jsonRpc: { code: SERVER_ERROR, message: 'Temporarily unavailable; retry shortly' }
  }
}
