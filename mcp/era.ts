// Which leg of POST /mcp serves a body: the SDK's classifier decides, but it costs 20-40 µs per
// request (zod passes over the body), and the SDK's handler classifies a 2026-07-28 request again.
// The two common shapes are recognised here without it.
import {
  PROTOCOL_VERSION_META_KEY, SUPPORTED_PROTOCOL_VERSIONS, classifyInboundRequest,
  type InboundLadderRejection
} from '@modelcontextprotocol/server'

export interface EraHeaders {
  protocolVersion?: string
  method?: string
  name?: string
}

export type Era = { kind: 'legacy' } | { kind: 'modern' } | InboundLadderRejection

/**
 * The leg for a body already shape-checked (mcp/jsonrpc.ts), as the SDK's `classifyInboundRequest`
 * would route it (test/mcp/era.test.ts compares them):
 * - one request or notification (not `initialize`) whose `_meta` claims a revision as a string:
 *   modern, without classifying here (the SDK's handler classifies it and answers any rejection,
 *   with the id);
 * - one request or notification without that claim, sent with no `MCP-Protocol-Version` or a 2025
 *   one: legacy;
 * - anything else (batches, responses, `initialize`, other headers): the classifier decides.
 */
export function eraOf (body: unknown, headers: EraHeaders): Era {
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && 'method' in body) {
    const { method, params } = body as { method: unknown, params?: { _meta?: unknown } }
    const meta = typeof params === 'object' && params !== null ? params._meta : undefined
    const claimed = typeof meta === 'object' && meta !== null && PROTOCOL_VERSION_META_KEY in meta
    if (!claimed && (headers.protocolVersion === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(headers.protocolVersion.trim()))) return { kind: 'legacy' }
    if (claimed && method !== 'initialize' && typeof (meta as Record<string, unknown>)[PROTOCOL_VERSION_META_KEY] === 'string') return { kind: 'modern' }
  }
  const route = classifyInboundRequest({
    httpMethod: 'POST',
    body,
    protocolVersionHeader: headers.protocolVersion,
    mcpMethodHeader: headers.method,
    mcpNameHeader: headers.name
  })
  return route.kind === 'reject' ? route : { kind: route.kind }
}
