// Which counters a request spends, and when: the onRequest and preValidation hooks of the
// rate-limit plugin (registered on the root by plugins/rate-limit.ts).
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preValidationAsyncHookHandler } from 'fastify'
import type { Config } from '../../config/index.ts'
import type { EpochRead } from '../store/contract.ts'
import { basicClientId, formClientId, type CallerClaims } from './keys.ts'
import { bearerBuckets, onRequestBuckets, tokenClientBucket } from './buckets.ts'
import type { Check } from './check.ts'
import { namesBearerScheme } from '../shared/authorization-header.ts'

export interface RateLimitHooks {
  rateLimitOnRequest: onRequestAsyncHookHandler
  rateLimitLater: preValidationAsyncHookHandler
}

export function createRateLimitHooks (
  { check, refuseKnown }: Check,
  limitBearer: (request: FastifyRequest, reply: FastifyReply, caller: CallerClaims | null) => Promise<EpochRead | undefined>,
  settings: Config['rateLimit']
): RateLimitHooks {
  // /mcp with a bearer token: only a ceiling already known to be exceeded here (no I/O).
  async function rateLimitOnRequest (request: FastifyRequest, reply: FastifyReply) {
    const family = request.routeOptions.config?.rateLimitFamily
    if (family === undefined) return
    if (family === 'mcp' && namesBearerScheme(request.headers.authorization)) {
      request.bearerUncounted = true
      return await refuseKnown(reply, family, bearerBuckets(request.ip, null, settings)) ? reply : undefined
    }
    await check(request, reply, family, onRequestBuckets(family, request.ip, false, settings), null)
    return reply.sent ? reply : undefined
  }

  async function rateLimitLater (request: FastifyRequest, reply: FastifyReply) {
    if (request.routeOptions.config?.rateLimitFamily === 'token') {
      const clientId = basicClientId(request.headers.authorization) ?? formClientId(request.body)
      await check(request, reply, 'token', [tokenClientBucket(request.ip, clientId, settings.token)], null)
    } else if (request.bearerUncounted) {
      // A bearer request that no `authenticate` counted (a route in the mcp family without it)
      // still spends the IP ceiling.
      await limitBearer(request, reply, null)
    }
    return reply.sent ? reply : undefined
  }

  return { rateLimitOnRequest, rateLimitLater }
}
