// JSON-RPC 2.0 error codes (§5.1) the service answers with.

export const PARSE_ERROR = -32700
export const INVALID_REQUEST = -32600
export const INTERNAL_ERROR = -32603
/** Implementation-defined server errors (-32000 to -32099), as the SDK uses for transport refusals. */
export const SERVER_ERROR = -32000
