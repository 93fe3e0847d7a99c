// Input-required results (2026-07-28 multi round-trip requests) for tools: the tool-facing API
// (`ctx.input`) and the integrity of the `requestState` a tool hands the client between rounds.
import { randomBytes } from 'node:crypto'
import {
  CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY, acceptedContent, createRequestStateCodec, inputRequired, inputResponse,
  type InputRequests, type InputRequiredResult, type InputResponseView, type RequestStateCodec, type ServerContext, type StandardSchemaV1
} from '@modelcontextprotocol/server'
import { deriveKey } from '../plugins/oauth-proxy/grants/token-crypto.ts'
import type { Identity } from '../plugins/jwt-verify/identity.ts'

/** How long a `requestState` minted for one round stays valid. */
export const REQUEST_STATE_TTL_SECONDS = 300

/** What a tool's state carries between rounds (signed, not encrypted: nothing secret in it). */
export interface SealedState { tool: string, data: unknown }

/** The caller a pooled server is serving right now, read when state is minted or verified. */
export type CallerOf = (ctx: ServerContext) => Identity | undefined

/**
 * The codec of every server of this process: HMAC-SHA256 keyed by HKDF from TOKEN_ENCRYPTION_KEY
 * (all instances sharing that key accept each other's state), or by a random per-process key when
 * none is configured (dev: a retry reaching another process is refused with -32602).
 * Bound to the caller (tid:oid, else sub) and to the method and tool name (the `Mcp-Name` header,
 * which the SDK checked against the body): state minted for one user or tool is refused for another.
 */
export function createStateCodec (encryptionKey: Buffer | null, callerOf: CallerOf, ttlSeconds = REQUEST_STATE_TTL_SECONDS): RequestStateCodec<SealedState> {
  const key = encryptionKey !== null ? deriveKey(encryptionKey, 'mcp-request-state') : randomBytes(32)
  return createRequestStateCodec<SealedState>({
    key,
    ttlSeconds,
    bind: ctx => {
      const identity = callerOf(ctx)
      // Fail closed: no caller, no state (mint and verify both throw, verify answers -32602).
      if (identity === undefined) throw new Error('no caller')
      const who = identity.oid !== undefined ? `${identity.tid ?? '-'}:${identity.oid}` : `sub:${identity.sub}`
      const name = ctx.http?.req?.headers.get('mcp-name') ?? ''
      return `${who}\0${ctx.mcpReq.method}\0${name}`
    }
  })
}

/** What a tool asks for in one round: the client's inputs, and data it wants back next round. */
export interface InputRequest {
  inputRequests?: InputRequests
  /** JSON-serializable; comes back verified in `ctx.input.state()` on the retry. Not secret. */
  state?: unknown
}

/** `ctx.input`: asking the client for input (2026-07-28) and reading its answers on the retry. */
export interface ToolInput {
  /** True when the request can carry an input-required round (2026-07-28); false on 2025 requests. */
  readonly available: boolean
  /** The client's answer to one of the previous round's input requests (untrusted: validate content). */
  response: (key: string) => InputResponseView
  /** The content of an accepted elicitation, validated by `schema`; undefined if declined, missing or invalid. */
  accepted: <S extends StandardSchemaV1>(key: string, schema: S) => StandardSchemaV1.InferOutput<S> | undefined
  /** The state this tool returned in the previous round, verified (integrity, caller, tool, expiry). */
  state: <T = unknown>() => T | undefined
  /** The result to return to ask for input; throws on a 2025 request (check `available` first). */
  required: (request: InputRequest) => Promise<InputRequiredResult>
  /** The client's capabilities as declared on this request (2026-07-28), e.g. `elicitation`. */
  clientCapabilities: () => Record<string, unknown>
}

/** The `ctx.input` of one tool call; `mcpReq` is undefined when the call came without one (tests, 2025). */
type Envelope = Record<string, unknown> | undefined
const envelopeOf = (context: ServerContext | undefined): Envelope => context?.mcpReq.envelope as Envelope

export function toolInput (toolName: string, context: ServerContext | undefined, codec: RequestStateCodec<SealedState> | undefined): ToolInput {
  const modern = envelopeOf(context)?.[PROTOCOL_VERSION_META_KEY] !== undefined
  return {
    available: modern && codec !== undefined,
    response: key => inputResponse(context?.mcpReq.inputResponses, key),
    accepted: (key, schema) => acceptedContent(context?.mcpReq.inputResponses, key, schema),
    state: <T>() => {
      const sealed = modern ? context?.mcpReq.requestState<SealedState>() : undefined
      // The bind covers the tool name already; this also refuses state of another tool's shape.
      return sealed?.tool === toolName ? sealed.data as T : undefined
    },
    required: async ({ inputRequests, state }) => {
      if (!modern || context === undefined || codec === undefined) throw new Error('input-required results need a 2026-07-28 request')
      const requestState = state !== undefined ? await codec.mint({ tool: toolName, data: state }, context) : undefined
      return inputRequired({ ...(inputRequests !== undefined ? { inputRequests } : {}), ...(requestState !== undefined ? { requestState } : {}) })
    },
    clientCapabilities: () => (envelopeOf(context)?.[CLIENT_CAPABILITIES_META_KEY] ?? {}) as Record<string, unknown>
  }
}
