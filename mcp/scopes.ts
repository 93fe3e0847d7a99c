// The scopes of every `tools/call`, `resources/read` and `prompts/get` in a request, checked before
// the SDK runs anything: a caller missing one gets HTTP 403 `insufficient_scope` with the scopes to
// step up to.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { missingScopes, stepUpScopes } from '../plugins/jwt-verify/rules.ts'
import type { ScopeChallenge } from '@modelcontextprotocol/server'
import type { AnyTool } from './registry.ts'
import type { Catalog } from './catalog.ts'
import { idOf, jsonRpcError, SERVER_ERROR, type JsonRpcId } from './jsonrpc.ts'

/** What a request uses that needs scopes: a tool, a resource (named by its URI) or a prompt. */
export interface Guarded {
  kind: 'tool' | 'resource' | 'prompt'
  name: string
  scopes: readonly string[]
}

export interface DeniedCall {
  target: Guarded
  /** The JSON-RPC id of the call. */
  id: JsonRpcId
  missing: string[]
}

export interface ScopeShortfall {
  /** The calls refused, in the order of the request. */
  denied: DeniedCall[]
  /** The scopes of every tool, resource and prompt the request uses, refused or not: one step-up must cover them all. */
  needed: string[]
}

const union = (lists: ReadonlyArray<readonly string[]>) => [...new Set(lists.flat())]

/** What one message of a body already checked by `checkJsonRpcBody` uses, if it needs scopes. */
function guardedBy (message: Record<string, any>, toolNamed: (name: string) => AnyTool | undefined, catalog: Catalog | undefined): Guarded | undefined {
  const params = message.params
  if (message.method === 'tools/call' && typeof params?.name === 'string') {
    const tool = toolNamed(params.name)
    return tool !== undefined ? { kind: 'tool', name: tool.name, scopes: tool.scopes } : undefined
  }
  if (message.method === 'resources/read' && typeof params?.uri === 'string') {
    const resource = catalog?.resource(params.uri)
    return resource !== undefined ? { kind: 'resource', name: resource.uri, scopes: resource.scopes } : undefined
  }
  if (message.method === 'prompts/get' && typeof params?.name === 'string') {
    const prompt = catalog?.prompt(params.name)
    return prompt !== undefined ? { kind: 'prompt', name: prompt.name, scopes: prompt.scopes } : undefined
  }
  return undefined
}

/**
 * The calls of `body` (tools, resource reads, prompts) needing a scope `identity` lacks, or
 * undefined when there are none (pure). Unknown tools, resources and prompts are the SDK's to answer.
 */
export function scopeShortfall (identity: Identity, body: unknown, toolNamed: (name: string) => AnyTool | undefined, catalog?: Catalog): ScopeShortfall | undefined {
  const denied: DeniedCall[] = []
  const needed: Array<readonly string[]> = []
  for (const message of (Array.isArray(body) ? body : [body]) as Array<Record<string, any>>) {
    const target = guardedBy(message, toolNamed, catalog)
    if (target === undefined) continue
    needed.push(target.scopes)
    const missing = missingScopes(identity, target.scopes)
    if (missing.length > 0) denied.push({ target, id: idOf(message), missing })
  }
  return denied.length > 0 ? { denied, needed: union(needed) } : undefined
}

const plural = (word: string, n: number) => n > 1 ? `${word}s` : word

/** "The tools a, b and the resource x need" / "The prompt p needs". */
function subject (targets: Guarded[]): string {
  const kinds = (['tool', 'resource', 'prompt'] as const).flatMap(kind => {
    const names = targets.filter(t => t.kind === kind).map(t => t.name)
    return names.length > 0 ? [`${plural(kind, names.length)} ${names.join(', ')}`] : []
  })
  return `The ${kinds.join(' and the ')} ${targets.length > 1 ? 'need' : 'needs'}`
}

/**
 * The SDK handler's scope challenge for one tool, resource or prompt (2026-07-28 requests): granted
 * plus needed, as on the legacy leg; undefined when the caller holds every scope it needs.
 */
export function scopeChallenge (identity: Identity, target: { scopes: readonly string[] }): ScopeChallenge | undefined {
  if (missingScopes(identity, target.scopes).length === 0) return undefined
  const scopes = stepUpScopes(identity, target.scopes)
  return scopes.length > 0 ? { scopes: scopes as [string, ...string[]] } : undefined
}

/**
 * Audits each refused tool, resource or prompt and answers 403 with one step-up challenge: what the
 * caller holds plus every scope the request needs (SEP-2350), so a batch is not refused again for
 * its next call. The JSON-RPC error carries the id of the first refused call.
 */
export async function refuseScopes (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply, identity: Identity, { denied, needed }: ScopeShortfall) {
  // One line per target: a tool called twice lacks the same scopes twice.
  const perTarget = [...new Map(denied.map(d => [`${d.target.kind} ${d.target.name}`, d])).values()]
  for (const { target, missing } of perTarget) {
    fastify.audit('scope.denied', { outcome: 'denied', [target.kind]: target.name, required: target.scopes, missing }, request)
  }
  const targets = perTarget.map(d => d.target)
  const required = union(targets.map(t => t.scopes))
  const missing = union(denied.map(d => d.missing))
  const description = `${subject(targets)} the ${plural('scope', missing.length)} ${missing.join(' ')}`
  reply.header('www-authenticate', fastify.bearerChallenge({ error: 'insufficient_scope', description, scope: stepUpScopes(identity, needed) }))
  return await reply.code(403).send(jsonRpcError(SERVER_ERROR, `Forbidden: ${description}`, denied[0].id, { required_scopes: required, missing_scopes: missing }))
}
