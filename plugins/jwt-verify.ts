import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { EpochRead } from './store/contract.ts'
import type { Identity } from './jwt-verify/identity.ts'
import type { EntraTrust } from './jwt-verify/rules.ts'
import { createTrustedKeys } from './jwt-verify/trusted-keys.ts'
import { createTokenVerifier, type TokenReport, type VerifiedToken, type VerifierOptions } from './jwt-verify/verifier.ts'
import { createDenyList, type DenyList } from './jwt-verify/revocation.ts'
import { createBearerChallenge, createBearerHooks, type ChallengeOptions } from './jwt-verify/hooks.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: sets `request.identity` from a valid bearer token, or answers 401 / 400. */
    authenticate: preHandlerAsyncHookHandler
    /**
     * preHandler for the admin API: like `authenticate`, for tokens of this service whose audience is
     * `{MCP_BASE_URL}/admin/api` (an MCP token, or an Entra token, is refused: 401 invalid_token).
     * Sets `request.identity`; whether it holds ADMIN_ROLE is the admin guard's question.
     */
    authenticateAdmin: preHandlerAsyncHookHandler
    /** The `WWW-Authenticate` value of the admin API (its own protected resource metadata). */
    adminBearerChallenge: (opts?: ChallengeOptions) => string
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
    /** Puts one self-issued access token on the deny list until it expires anyway (revocation.ts DenyList). */
    denyAccessToken: DenyList['denyAccessToken']
    /** Puts a grant on the deny list: every self-issued access token of it is refused. */
    denyGrant: (sid: string) => Promise<void>
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

/** The admin API is a resource of its own (RFC 8707): its own audience, our tokens only. */
function adminAuthentication (fastify: FastifyInstance, entra: EntraTrust, onStoreRead: VerifierOptions['onStoreRead']) {
  const { config } = fastify
  const verifier = createTokenVerifier({
    selfIssuer: config.issuer,
    entra,
    clockToleranceSeconds: config.clockToleranceSeconds,
    keys: createTrustedKeys(config, fastify.tokenSigner.verificationKeys, fastify.log, undefined, config.admin.resource),
    onStoreRead,
    selfOnly: true
  })
  const adminBearerChallenge = createBearerChallenge(config.baseUrl, [], '/admin/api')
  return { authenticateAdmin: createBearerHooks(fastify, verifier, adminBearerChallenge).authenticate, adminBearerChallenge }
}

/**
 * Bearer-token verification for this resource (RFC 6750, RFC 9068, MCP authorization).
 * Two issuers are trusted: this service (keys from signing-keys) and Microsoft Entra ID for
 * this API (keys from each allowed tenant's `discovery/v2.0/keys`). RS256 only.
 * The parts: jwt-verify/trusted-keys.ts (keys and fast-jwt verifiers), verifier.ts (one token),
 * hooks.ts (authenticate, requireScopes), revocation.ts (the deny list).
 */
export default fp(async function jwtVerify (fastify) {
  const { config, store } = fastify
  const entra: EntraTrust = {
    authorityHost: config.entra.authorityHost,
    multiTenant: config.entra.multiTenant,
    allowedTenants: config.entra.allowedTenants,
    acceptV1Tokens: config.entra.acceptV1Tokens,
    issuerFor: config.entra.issuerFor
  }
  const keys = createTrustedKeys(config, fastify.tokenSigner.verificationKeys, fastify.log, fastify.metrics?.jwksRefreshed)

  function noteStoreReset (read: EpochRead, detected: 'startup' | 'request' | 'token', request?: FastifyRequest) {
    if (!read.reset) return
    fastify.log.warn({ epoch: read.epoch, detected }, 'the store has no epoch: it is new, or lost its data (Redis restarted without persistence?); tokens this service issued before now are refused, their users sign in again')
    fastify.audit('store.reset', { outcome: 'success', epoch: read.epoch, detected, store: store.kind }, request)
  }

  const verifier = createTokenVerifier({
    selfIssuer: config.issuer,
    entra,
    clockToleranceSeconds: config.clockToleranceSeconds,
    keys,
    onStoreRead: (read, request) => { noteStoreReset(read, 'request', request) }
  })

  const bearerChallenge = createBearerChallenge(config.baseUrl, config.scopes)
  const { authenticate, requireScopes } = createBearerHooks(fastify, verifier, bearerChallenge)
  const { authenticateAdmin, adminBearerChallenge } = adminAuthentication(fastify, entra, (read, request) => { noteStoreReset(read, 'request', request) })
  const denyList = createDenyList(store, { clockToleranceSeconds: config.clockToleranceSeconds, grantTtlSeconds: config.refreshTokenTtl })

  fastify.decorate('authenticate', authenticate)
  fastify.decorate('authenticateAdmin', authenticateAdmin)
  fastify.decorate('adminBearerChallenge', adminBearerChallenge)
  fastify.decorate('requireScopes', requireScopes)
  fastify.decorate('bearerChallenge', bearerChallenge)
  fastify.decorate('verifyAccessToken', async function verifyAccessToken (token: string): Promise<VerifiedToken> {
    const checked = await verifier.check(token)
    const reads = verifier.stateReads(checked)
    return verifier.checkState(checked, reads === undefined ? undefined : await store.getManyWithEpoch(reads))
  })
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
  fastify.decorate('denyAccessToken', denyList.denyAccessToken)
  fastify.decorate('denyGrant', denyList.denyGrant)
  fastify.decorate('entraSigningKey', async function entraSigningKey (tid: string, kid: string) {
    const tenant = tid.toLowerCase()
    if (!config.entra.allowedTenants.includes(tenant)) return undefined
    return (await keys.entra(tenant, kid))?.pem
  })
  fastify.decorateRequest('identity', undefined)
  fastify.decorateRequest('tokenReport', undefined)
}, { name: 'jwt-verify', dependencies: ['config', 'store', 'signing-keys', 'audit-log', 'rate-limit', 'metrics'] })
