// The preHandlers of a bearer-protected route: `authenticate` (who is calling) and
// `requireScopes` (may they do this), with their RFC 6750 answers.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { createCountingThrottle } from '../shared/throttle.ts'
import { parseAuthorization } from '../shared/authorization-header.ts'
import { TokenRejection, formatChallenge, missingScopes, stepUpScopes, type RejectionCategory } from './rules.ts'
import type { TokenVerifier, VerifiedToken } from './verifier.ts'

export interface ChallengeOptions {
  error?: 'invalid_token' | 'invalid_request' | 'insufficient_scope'
  description?: string
  /** Scopes to name in the challenge (default: every scope this resource offers). */
  scope?: string | readonly string[]
}
export type BearerChallenge = (opts?: ChallengeOptions) => string

const NO_TOKEN = 'This resource needs a bearer token in the Authorization header'

/** How many Authorization headers the request carried (Node joins none of them; two are refused). */
export function authorizationCount (rawHeaders: readonly string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 13 && rawHeaders[i].toLowerCase() === 'authorization') count++
  }
  return count
}

function answer (reply: FastifyReply, status: number, challenge: string, error: string, description: string) {
  return reply.code(status).header('www-authenticate', challenge).header('cache-control', 'no-store')
    .send({ error, error_description: description })
}

/** The `WWW-Authenticate` challenge of this resource, naming its protected resource metadata (RFC 9728). */
export function createBearerChallenge (baseUrl: string, offeredScopes: readonly string[], resourcePath = '/mcp'): BearerChallenge {
  const resourceMetadata = `${baseUrl}/.well-known/oauth-protected-resource${resourcePath}`
  return function bearerChallenge (opts: ChallengeOptions = {}): string {
    const scope = opts.scope === undefined ? offeredScopes : typeof opts.scope === 'string' ? opts.scope.split(' ') : opts.scope
    return formatChallenge({ resourceMetadata, scope, error: opts.error, description: opts.description })
  }
}

/** The refusals of `authenticate`: audited 401 / 400 (RFC 6750) and a 503 while the store is away. */
function createBearerRefusals (fastify: FastifyInstance, bearerChallenge: BearerChallenge) {
  function refuse (request: FastifyRequest, reply: FastifyReply, category: RejectionCategory, description: string) {
    const text = `${category}: ${description}`
    fastify.audit('token.rejected', { outcome: 'failure', reason: category }, request)
    return answer(reply, 401, bearerChallenge({ error: 'invalid_token', description: text }), 'invalid_token', text)
  }

  function invalidRequest (request: FastifyRequest, reply: FastifyReply, description: string) {
    fastify.audit('token.rejected', { outcome: 'failure', reason: 'malformed' }, request)
    return answer(reply, 400, bearerChallenge({ error: 'invalid_request', description }), 'invalid_request', description)
  }

  // One line per minute while the store is away, with how many requests it concerned.
  const unavailableWarning = createCountingThrottle(60000)
  function unavailable (request: FastifyRequest, reply: FastifyReply, err: unknown) {
    const occurrences = unavailableWarning()
    if (occurrences > 0) {
      request.log.warn({ err: { code: (err as { code?: string }).code, message: (err as Error).message }, occurrences }, 'token verification could not complete')
    }
    return reply.code(503).header('retry-after', '5').header('cache-control', 'no-store')
      .send({ error: 'temporarily_unavailable', error_description: 'Token verification is unavailable; retry shortly' })
  }

  return { refuse, invalidRequest, unavailable }
}

export function createBearerHooks (fastify: FastifyInstance, verifier: TokenVerifier, bearerChallenge: BearerChallenge) {
  const { refuse, invalidRequest, unavailable } = createBearerRefusals(fastify, bearerChallenge)

  /**
   * preHandler for bearer tokens. The token is checked first (signature and claims, microseconds,
   * no I/O): only a verified caller spends a user budget. Then one round trip (`limitBearer`)
   * counts the request and reads the token's revocation entries and the store epoch.
   */
  const authenticate: preHandlerAsyncHookHandler = async function authenticate (request, reply) {
    const parsed = parseAuthorization(request.headers.authorization, authorizationCount(request.raw.rawHeaders))
    if (parsed.kind === 'none' || parsed.kind === 'other_scheme') return answer(reply, 401, bearerChallenge(), 'invalid_token', NO_TOKEN)
    let verified: VerifiedToken
    try {
      if (parsed.kind === 'malformed') throw new TokenRejection('malformed', parsed.description)
      const checked = await verifier.check(parsed.token)
      const read = await fastify.limitBearer(request, reply, checked.identity, verifier.stateReads(checked))
      if (reply.sent) return reply
      verified = verifier.checkState(checked, read, request)
    } catch (err) {
      if (!(err instanceof TokenRejection)) return unavailable(request, reply, err)
      // A token that did not verify names nobody: it spends only its IP's ceiling.
      await fastify.limitBearer(request, reply, null)
      if (reply.sent) return reply
      if (parsed.kind === 'malformed') return invalidRequest(request, reply, parsed.description)
      return refuse(request, reply, err.category, err.message)
    }
    request.identity = verified.identity
    request.tokenReport = verified.report
  }

  function requireScopes (...needed: string[]): preHandlerAsyncHookHandler {
    return async function requireScopes (request, reply) {
      const identity = request.identity
      if (identity === undefined) return answer(reply, 401, bearerChallenge(), 'invalid_token', NO_TOKEN)
      const missing = missingScopes(identity, needed)
      if (missing.length === 0) return
      const description = `This needs the scope${missing.length === 1 ? '' : 's'} ${missing.join(' ')}`
      fastify.audit('scope.denied', { outcome: 'denied', reason: 'insufficient_scope', needed, missing }, request)
      return answer(reply, 403, bearerChallenge({ error: 'insufficient_scope', scope: stepUpScopes(identity, needed), description }), 'insufficient_scope', description)
    }
  }

  return { authenticate, requireScopes }
}
