import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Static } from 'typebox'
import type { ClientRecord } from '../../../plugins/oauth-proxy/clients/registry.ts'
import type { TokenResponse } from '../../../plugins/oauth-proxy/grants/model.ts'
import { InvalidTargetError } from '../../../plugins/errors/oauth.ts'
import { isThisResource, resolveResource } from '../../../plugins/oauth-proxy/authorize/resource-indicator.ts'
import type { Config } from '../../../config/index.ts'
import type { TokenBody } from './body.ts'

/** One grant type of POST /token: its parameters to model calls and the answer. */
export type GrantHandler = (fastify: FastifyInstance, request: FastifyRequest, client: ClientRecord, body: Static<typeof TokenBody>) => Promise<TokenResponse & { jti: string }>

/** RFC 8707: a `resource` at /token must be this service's. */
export function checkResource (resource: string | undefined, own: string): void {
  if (resource !== undefined && !isThisResource(resource, own)) {
    throw new InvalidTargetError(`Unknown resource; this service's resource is ${own}`)
  }
}

/**
 * RFC 8707 at /token for the code and refresh grants: the canonical resource named (the MCP
 * resource or the admin API), undefined when none is named; the model checks it against the grant.
 */
export function namedResource (resource: string | undefined, config: Pick<Config, 'resource' | 'admin'>): string | undefined {
  if (resource === undefined) return undefined
  const resolved = resolveResource(resource, { mcp: config.resource, admin: config.admin.resource })
  if (resolved === undefined) throw new InvalidTargetError(`Unknown resource; this service's resource is ${config.resource}`)
  return resolved
}
