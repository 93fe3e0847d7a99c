import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { createVerifier } from 'fast-jwt'
import { createCountingThrottle } from './shared/throttle.ts'
import { memoizeBounded } from './shared/memoize.ts'
import { parseAuthorization } from './shared/authorization-header.ts'
import type { Identity } from './jwt-verify/identity.ts'
import { RemoteKeySet } from './jwt-verify/jwks-cache.ts'
import type { EpochRead } from './store/contract.ts'
import {
  TokenRejection, categorizeVerifyError, checkIssuedAt, checkLifetime, checkStoreEpoch, formatChallenge, identityFromClaims, missingScopes,
  revocationKeys, peekToken, routeIssuer, stepUpScopes, type EntraTrust, type IssuerRoute,
  type PeekedToken, type RejectionCategory
} from './jwt-verify/rules.ts'
import { revokedTokenKey, revokedGrantKey } from './store/keys.ts'

/** What the `validate_token` tool may show about the token of this request; nothing of the raw token. */
// A type alias (not an interface) so it fits a plain `Record<string, unknown>` view.
export type TokenReport = {
  kind: 'self' | 'entra'
  issuer: string
  audience: string | string[]
  kid: string
  alg: string
  /** Entra tokens: '1.0' or '2.0'. */
  version?: string
  tenant?: string
  iat?: number
  nbf?: number
  exp: number
  checks: string[]
}

export interface VerifiedToken {
  identity: Identity
  report: TokenReport
}

export interface ChallengeOptions {
  error?: 'invalid_token' | 'invalid_request' | 'insufficient_scope'
  description?: string
  /** Scopes to name in the challenge (default: every scope this resource offers). */
  scope?: string | readonly string[]
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: sets `request.identity` from a valid bearer token, or answers 401 / 400. */
    authenticate: preHandlerAsyncHookHandler
    /** preHandler factory (after `authenticate`): answers 403 insufficient_scope unless every scope is held. */
    requireScopes: (...scopes: string[]) => preHandlerAsyncHookHandler
    /** The `WWW-Authenticate` value for this resource (with `resource_metadata`). */
    bearerChallenge: (opts?: ChallengeOptions) => string
    /** Verifies a bearer token; throws `TokenRejection` (with a category) when it is refused. */
    verifyAccessToken: (token: string) => Promise<VerifiedToken>
    /**
     * Writes the store epoch if it is missing, before a token of ours is issued: no token is
     * older than the epoch it is checked against (else a sign-in right after a store wipe would
     * give a token refused as soon as a request notices the wipe).
     */
    ensureStoreEpoch: (request?: FastifyRequest) => Promise<void>
    /** Refuses one self-issued access token until it expires anyway (`exp`: epoch seconds). */
    revokeAccessToken: (jti: string, exp: number) => Promise<void>
    /** Refuses every self-issued access token of a grant. */
    revokeGrant: (sid: string) => Promise<void>
    /** PEM public key of an allowed Entra tenant's signing key (cached JWKS), for id tokens. */
    entraSigningKey: (tid: string, kid: string) => Promise<string | undefined>
  }
  interface FastifyRequest {
    /** The verified caller, set by `fastify.authenticate`. */
    identity?: Identity
    /** How the bearer token of this request was checked (for `validate_token`). */
    tokenReport?: TokenReport
  }
}

type Verify = (token: string) => Record<string, unknown>
interface TrustedKey { verify: Verify, pem: string }

/**
 * fast-jwt's verification cache: a token seen again within the cache TTL is not re-verified with
 * RS256. fast-jwt keys it by the token's hash and bounds each hit by the token's own `nbf` and
 * `exp` (with the clock tolerance), so a cached token still expires on time. Only the signature
 * and claim checks are cached: revocation is looked up in the store on every request.
 */
const VERIFY_CACHE = { cache: 2000, cacheTTL: 60_000 }

const SELF_REQUIRED = ['iss', 'aud', 'exp', 'iat', 'sub', 'jti']
const ENTRA_REQUIRED = ['iss', 'aud', 'exp', 'sub']

/**
 * Bearer-token verification for this resource (RFC 6750, RFC 9068, MCP authorization).
 * Two issuers are trusted: this service (keys from signing-keys) and Microsoft Entra ID for
 * this API (keys from each allowed tenant's `discovery/v2.0/keys`). RS256 only.
 */
export default fp(async function jwtVerify (fastify) {
  const { config, store } = fastify
  const toleranceMs = config.clockToleranceSeconds * 1000
  // Refusals are not cached (fast-jwt would keep one for the clock tolerance): a token refused as
  // not yet valid must be accepted once its nbf is reached.
  const noErrorCache = () => -toleranceMs - 1
  const resourceMetadata = `${config.baseUrl}/.well-known/oauth-protected-resource/mcp`
  const entra: EntraTrust = {
    authorityHost: config.entra.authorityHost,
    multiTenant: config.entra.multiTenant,
    allowedTenants: config.entra.allowedTenants,
    acceptV1Tokens: config.entra.acceptV1Tokens,
    issuerFor: config.entra.issuerFor
  }
  const entraAudiences = [...new Set([config.entra.clientId, config.entra.identifierUri])]

  // Our own keys: one verifier per kid, built once (the PEM is parsed here, not per token).
  const selfKeys = new Map<string, TrustedKey>()
  for (const { kid, publicPem } of fastify.tokenSigner.verificationKeys) {
    selfKeys.set(kid, {
      pem: publicPem,
      verify: createVerifier({
        key: publicPem,
        algorithms: ['RS256'],
        allowedIss: config.issuer,
        allowedAud: config.resource,
        requiredClaims: SELF_REQUIRED,
        checkTyp: 'at+jwt',
        clockTolerance: toleranceMs,
        ...VERIFY_CACHE,
        errorCacheTTL: noErrorCache
      }) as Verify
    })
  }

  // Entra: one key set per allowed tenant, made on first use; the URL never contains token input
  // other than a tid already checked against the allowlist.
  const entraKeySets = new Map<string, RemoteKeySet<TrustedKey>>()
  function keySetFor (tid: string): RemoteKeySet<TrustedKey> {
    let set = entraKeySets.get(tid)
    if (set === undefined) {
      const issuers = [config.entra.issuerFor(tid), ...(config.entra.acceptV1Tokens ? [`https://sts.windows.net/${tid}/`] : [])]
      set = new RemoteKeySet<TrustedKey>({
        url: config.entra.multiTenant ? `${config.entra.authorityHost}/${tid}/discovery/v2.0/keys` : config.entra.jwksUrl,
        convert: (_jwk, pem) => ({
          pem,
          verify: createVerifier({
            key: pem,
            algorithms: ['RS256'],
            allowedIss: issuers,
            allowedAud: entraAudiences,
            requiredClaims: ENTRA_REQUIRED,
            clockTolerance: toleranceMs,
            ...VERIFY_CACHE,
            errorCacheTTL: noErrorCache
          }) as Verify
        }),
        onProblem: (message, detail) => fastify.log.warn({ jwks: detail }, `entra signing keys: ${message}`)
      })
      entraKeySets.set(tid, set)
    }
    return set
  }

  // The token's header and payload as presented (untrusted; they only choose the key and rules),
  // decoded once per distinct token. The result is frozen: it is shared by every request using it.
  const peek = memoizeBounded((token: string) => {
    const peeked = peekToken(token)
    Object.freeze(peeked.header)
    Object.freeze(peeked.payload)
    return Object.freeze(peeked)
  }, 2000)

  /** A token whose signature and claims verified; what the store says of it is checked apart. */
  interface CheckedToken { route: IssuerRoute, peeked: PeekedToken, kid: string, payload: Record<string, unknown>, identity: Identity }

  /** Signature and claims, with no store read (fast-jwt caches a token seen before). */
  async function checkToken (token: string): Promise<CheckedToken> {
    const peeked = peek(token)
    const route = routeIssuer(peeked.payload, config.issuer, entra)
    const kid = peeked.kid
    if (kid === undefined) throw new TokenRejection('unknown_key', 'The token header names no signing key (kid)')
    let key: TrustedKey | undefined
    if (route.kind === 'self') {
      key = selfKeys.get(kid)
    } else {
      const set = keySetFor(route.tid)
      key = set.peek(kid) ?? await set.get(kid)
    }
    if (key === undefined) throw new TokenRejection('unknown_key', 'The token is signed with a key this resource does not know')

    let payload: Record<string, unknown>
    try {
      payload = key.verify(token)
    } catch (err) {
      throw categorizeVerifyError(err)
    }
    const now = Date.now()
    checkIssuedAt(payload, now, toleranceMs)
    checkLifetime(payload, now, toleranceMs)
    if (route.kind === 'self' && (typeof payload.jti !== 'string' || (payload.sid !== undefined && typeof payload.sid !== 'string'))) {
      throw new TokenRejection('malformed', 'The token jti or sid claim is not a string')
    }
    return { route, peeked, kid, payload, identity: identityFromClaims(route.kind, payload) }
  }

  /** The store entries a checked token depends on: ours, its revocation entries (read with the store epoch); Entra's, none. */
  function stateReads (checked: CheckedToken): string[] | undefined {
    return checked.route.kind === 'self' ? revocationKeys(checked.payload.jti as string, checked.payload.sid as string | undefined) : undefined
  }

  function noteStoreReset (read: EpochRead, detected: 'startup' | 'request' | 'token', request?: FastifyRequest) {
    if (!read.reset) return
    fastify.log.warn({ epoch: read.epoch, detected }, 'the store has no epoch: it is new, or lost its data (Redis restarted without persistence?); tokens this service issued before now are refused, their users sign in again')
    fastify.audit('store.reset', { outcome: 'success', epoch: read.epoch, detected, store: store.kind }, request)
  }

  /** Revocation and the store epoch, for a token of ours (`read` holds what stateReads asked for). */
  function checkState (checked: CheckedToken, read: EpochRead | undefined, request?: FastifyRequest): VerifiedToken {
    const { route, payload, identity } = checked
    const checks = ['signature RS256', 'issuer', 'audience', 'expiry', 'not before', 'issued at', 'lifetime']
    if (route.kind === 'self') {
      if (read === undefined) throw new Error('no store entries were read for a self-issued token')
      noteStoreReset(read, 'request', request)
      checkStoreEpoch(payload.iat as number, read.epoch)
      if (read.values.some(v => v !== null)) throw new TokenRejection('revoked', 'The token has been revoked')
      checks.push('not revoked', 'issued after the store epoch')
    } else {
      checks.push('tenant allowed')
    }

    const report: TokenReport = {
      kind: route.kind,
      issuer: payload.iss as string,
      audience: payload.aud as string | string[],
      kid: checked.kid,
      alg: checked.peeked.alg,
      ...(route.kind === 'entra' ? { version: route.version === 1 ? '1.0' : '2.0', tenant: route.tid } : {}),
      iat: typeof payload.iat === 'number' ? payload.iat : undefined,
      nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
      exp: payload.exp as number,
      checks
    }
    return { identity, report }
  }

  async function verifyAccessToken (token: string): Promise<VerifiedToken> {
    const checked = await checkToken(token)
    const reads = stateReads(checked)
    return checkState(checked, reads === undefined ? undefined : await store.getManyWithEpoch(reads))
  }

  const allScopes = config.scopes
  function bearerChallenge (opts: ChallengeOptions = {}): string {
    const scope = opts.scope === undefined ? allScopes : typeof opts.scope === 'string' ? opts.scope.split(' ') : opts.scope
    return formatChallenge({ resourceMetadata, scope, error: opts.error, description: opts.description })
  }

  function refuse (request: FastifyRequest, reply: FastifyReply, category: RejectionCategory, description: string) {
    const text = `${category}: ${description}`
    fastify.audit('token.rejected', { outcome: 'failure', reason: category }, request)
    return reply.code(401)
      .header('www-authenticate', bearerChallenge({ error: 'invalid_token', description: text }))
      .header('cache-control', 'no-store')
      .send({ error: 'invalid_token', error_description: text })
  }

  function invalidRequest (request: FastifyRequest, reply: FastifyReply, description: string) {
    fastify.audit('token.rejected', { outcome: 'failure', reason: 'malformed' }, request)
    return reply.code(400)
      .header('www-authenticate', bearerChallenge({ error: 'invalid_request', description }))
      .header('cache-control', 'no-store')
      .send({ error: 'invalid_request', error_description: description })
  }

  function authorizationCount (request: FastifyRequest): number {
    const raw = request.raw.rawHeaders
    let count = 0
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].length === 13 && raw[i].toLowerCase() === 'authorization') count++
    }
    return count
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

  /**
   * preHandler for bearer tokens. The token is checked first (signature and claims, microseconds,
   * no I/O): only a verified caller spends a user budget. Then one round trip (`limitBearer`)
   * counts the request and reads the token's revocation entries and the store epoch.
   */
  const authenticate: preHandlerAsyncHookHandler = async function authenticate (request, reply) {
    const header = request.headers.authorization
    const parsed = parseAuthorization(header, authorizationCount(request))
    if (parsed.kind === 'none' || parsed.kind === 'other_scheme') {
      return reply.code(401)
        .header('www-authenticate', bearerChallenge())
        .header('cache-control', 'no-store')
        .send({ error: 'invalid_token', error_description: 'This resource needs a bearer token in the Authorization header' })
    }
    let verified: VerifiedToken
    try {
      if (parsed.kind === 'malformed') throw new TokenRejection('malformed', parsed.description)
      const checked = await checkToken(parsed.token)
      const read = await fastify.limitBearer(request, reply, checked.identity, stateReads(checked))
      if (reply.sent) return reply
      verified = checkState(checked, read, request)
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
      if (identity === undefined) {
        return reply.code(401).header('www-authenticate', bearerChallenge()).header('cache-control', 'no-store')
          .send({ error: 'invalid_token', error_description: 'This resource needs a bearer token in the Authorization header' })
      }
      const missing = missingScopes(identity, needed)
      if (missing.length === 0) return
      const description = `This needs the scope${missing.length === 1 ? '' : 's'} ${missing.join(' ')}`
      fastify.audit('scope.denied', { outcome: 'denied', reason: 'insufficient_scope', needed, missing }, request)
      return reply.code(403)
        .header('www-authenticate', bearerChallenge({ error: 'insufficient_scope', scope: stepUpScopes(identity, needed), description }))
        .header('cache-control', 'no-store')
        .send({ error: 'insufficient_scope', error_description: description })
    }
  }

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorate('bearerChallenge', bearerChallenge)
  fastify.decorate('verifyAccessToken', verifyAccessToken)
  fastify.decorate('ensureStoreEpoch', async function ensureStoreEpoch (request?: FastifyRequest) {
    noteStoreReset(await store.getManyWithEpoch([]), 'token', request)
  })
  // The first use of the store, for a new deployment: written now, before any token is issued.
  // With Redis away at startup, the first request that reaches it writes it instead.
  fastify.addHook('onReady', async () => {
    try {
      noteStoreReset(await store.getManyWithEpoch([]), 'startup')
    } catch {}
  })
  fastify.decorate('revokeAccessToken', async function revokeAccessToken (jti: string, exp: number) {
    // Kept until the token would be refused anyway (its exp plus the clock tolerance).
    const ttl = Math.max(1, Math.ceil(exp - Date.now() / 1000) + config.clockToleranceSeconds)
    await store.set(revokedTokenKey(jti), '1', ttl)
  })
  fastify.decorate('revokeGrant', async function revokeGrant (sid: string) {
    await store.set(revokedGrantKey(sid), '1', config.refreshTokenTtl)
  })
  fastify.decorate('entraSigningKey', async function entraSigningKey (tid: string, kid: string) {
    const tenant = tid.toLowerCase()
    if (!config.entra.allowedTenants.includes(tenant)) return undefined
    const set = keySetFor(tenant)
    return (set.peek(kid) ?? await set.get(kid))?.pem
  })
  fastify.decorateRequest('identity', undefined)
  fastify.decorateRequest('tokenReport', undefined)
}, { name: 'jwt-verify', dependencies: ['config', 'store', 'signing-keys', 'audit-log', 'rate-limit'] })
