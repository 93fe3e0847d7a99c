// The scopes of every `tools/call` in a request, checked before the SDK runs anything: a caller
// missing one gets HTTP 403 `insufficient_scope` with the scopes to step up to.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { missingScopes, stepUpScopes } from '../plugins/jwt-verify/rules.ts'
import type { AnyTool } from './registry.ts'
import { jsonRpcError, toolCalls, SERVER_ERROR, type JsonRpcId } from './jsonrpc.ts'

export interface ScopeShortfall {
  tool: AnyTool
  /** The JSON-RPC id of the call. */
  id: JsonRpcId
  missing: string[]
}

/** The first tool call of `body` whose tool needs a scope `identity` lacks (pure). Unknown tools are the SDK's to answer. */
export function scopeShortfall (identity: Identity, body: unknown, toolNamed: (name: string) => AnyTool | undefined): ScopeShortfall | undefined {
  for (const call of toolCalls(body)) {
    const tool = toolNamed(call.name)
    if (tool === undefined) continue
    const missing = missingScopes(identity, tool.scopes)
    if (missing.length > 0) return { tool, id: call.id, missing }
  }
  return undefined
}

/** Audits the shortfall and answers 403 with a step-up challenge. */
export async function refuseScopes (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, identity: Identity, { tool, id, missing }: ScopeShortfall) {
  const description = `The tool ${tool.name} needs the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')}`
  fastify.audit('scope.denied', { outcome: 'denied', tool: tool.name, required: tool.scopes, missing }, request)
  reply.header('www-authenticate', fastify.bearerChallenge({ error: 'insufficient_scope', description, scope: stepUpScopes(identity, tool.scopes) }))
  return await reply.code(403).send(jsonRpcError(SERVER_ERROR, `Forbidden: ${description}`, id, { required_scopes: tool.scopes, missing_scopes: missing }))
}
