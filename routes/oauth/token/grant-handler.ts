import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Static } from 'typebox'
import type { ClientRecord } from '../../../plugins/oauth-proxy/clients/registry.ts'
import type { TokenResponse } from '../../../plugins/oauth-proxy/grants/model.ts'
import { InvalidTargetError } from '../../../plugins/errors/oauth.ts'
import { isThisResource } from '../../../plugins/oauth-proxy/authorize/resource-indicator.ts'
import type { TokenBody } from './body.ts'

/** One grant type of POST /token: its parameters to model calls and the answer. */
export type GrantHandler = (fastify: FastifyInstance, request: FastifyRequest, client: ClientRecord, body: Static<typeof TokenBody>) => Promise<TokenResponse & { jti: string }>

/** RFC 8707: a `resource` at /token must be this service's. */
export function checkResource (resource: string | undefined, own: string): void {
  if (resource !== undefined && !isThisResource(resource, own)) {
    throw new InvalidTargetError(`Unknown resource; this service's resource is ${own}`)
  }
}
