// The scopes of every `tools/call` in a request, checked before the SDK runs anything: a caller
// missing one gets HTTP 403 `insufficient_scope` with the scopes to step up to.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { missingScopes, stepUpScopes } from '../plugins/jwt-verify/rules.ts'
import type { ScopeChallenge } from '@modelcontextprotocol/server'
import type { AnyTool } from './registry.ts'
import { jsonRpcError, toolCalls, SERVER_ERROR, type JsonRpcId } from './jsonrpc.ts'

export interface DeniedCall {
  tool: AnyTool
  /** The JSON-RPC id of the call. */
  id: JsonRpcId
  missing: string[]
}

export interface ScopeShortfall {
  /** The calls refused, in the order of the request. */
  denied: DeniedCall[]
  /** The scopes of every tool the request calls, refused or not: one step-up must cover them all. */
  needed: string[]
}

const union = (lists: ReadonlyArray<readonly string[]>) => [...new Set(lists.flat())]

/**
 * The tool calls of `body` whose tool needs a scope `identity` lacks, or undefined when there are
 * none (pure). Unknown tools are the SDK's to answer.
 */
export function scopeShortfall (identity: Identity, body: unknown, toolNamed: (name: string) => AnyTool | undefined): ScopeShortfall | undefined {
  const denied: DeniedCall[] = []
  const needed: Array<readonly string[]> = []
  for (const call of toolCalls(body)) {
    const tool = toolNamed(call.name)
    if (tool === undefined) continue
    needed.push(tool.scopes)
    const missing = missingScopes(identity, tool.scopes)
    if (missing.length > 0) denied.push({ tool, id: call.id, missing })
  }
  return denied.length > 0 ? { denied, needed: union(needed) } : undefined
}

/**
 * The SDK handler's scope challenge for one tool (2026-07-28 requests): granted plus needed, as on
 * the legacy leg; undefined when the caller holds every scope the tool needs.
 */
export function scopeChallenge (identity: Identity, tool: AnyTool): ScopeChallenge | undefined {
  if (missingScopes(identity, tool.scopes).length === 0) return undefined
  const scopes = stepUpScopes(identity, tool.scopes)
  return scopes.length > 0 ? { scopes: scopes as [string, ...string[]] } : undefined
}

/**
 * Audits each refused tool and answers 403 with one step-up challenge: what the caller holds plus
 * every scope the request needs (SEP-2350), so a batch is not refused again for its next call.
 * The JSON-RPC error carries the id of the first refused call.
 */
export async function refuseScopes (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, identity: Identity, { denied, needed }: ScopeShortfall) {
  // One line per tool: a tool called twice lacks the same scopes twice.
  const perTool = [...new Map(denied.map(d => [d.tool.name, d])).values()]
  for (const { tool, missing } of perTool) {
    fastify.audit('scope.denied', { outcome: 'denied', tool: tool.name, required: tool.scopes, missing }, request)
  }
  const tools = perTool.map(d => d.tool)
  const required = union(tools.map(t => t.scopes))
  const missing = union(denied.map(d => d.missing))
  const plural = (word: string, n: number) => n > 1 ? `${word}s` : word
  const description = `The ${plural('tool', tools.length)} ${tools.map(t => t.name).join(', ')} ${tools.length > 1 ? 'need' : 'needs'} the ${plural('scope', missing.length)} ${missing.join(' ')}`
  reply.header('www-authenticate', fastify.bearerChallenge({ error: 'insufficient_scope', description, scope: stepUpScopes(identity, needed) }))
  return await reply.code(403).send(jsonRpcError(SERVER_ERROR, `Forbidden: ${description}`, denied[0].id, { required_scopes: required, missing_scopes: missing }))
}
