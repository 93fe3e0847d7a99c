// The keys a token may be signed with, each with its fast-jwt verifier built once (the PEM is
// parsed here, not per token): ours from signing-keys, and each allowed Entra tenant's.
import { createVerifier } from 'fast-jwt'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config/index.ts'
import { RemoteKeySet } from './jwks-cache.ts'

export type Verify = (token: string) => Record<string, unknown>
export interface TrustedKey { verify: Verify, pem: string }

export interface TrustedKeys {
  /** One of our own keys, by kid. */
  self: (kid: string) => TrustedKey | undefined
  /** An Entra key of tenant `tid` (already checked against the allowlist), fetched if not cached. */
  entra: (tid: string, kid: string) => Promise<TrustedKey | undefined>
}

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
 * `onJwksRefresh`: told after each fetch of an Entra key set, whether it succeeded (metrics).
 * `audience`: the resource our own tokens must name (the MCP resource, or the admin API for its verifier).
 */
export function createTrustedKeys (
  config: Config, selfKeys: ReadonlyArray<{ kid: string, publicPem: string }>, log: FastifyBaseLogger, onJwksRefresh?: (ok: boolean) => void,
  audience: string = config.resource
): TrustedKeys {
  const toleranceMs = config.clockToleranceSeconds * 1000
  // Refusals are not cached (fast-jwt would keep one for the clock tolerance): a token refused as
  // not yet valid must be accepted once its nbf is reached.
  const common = { algorithms: ['RS256' as const], clockTolerance: toleranceMs, ...VERIFY_CACHE, errorCacheTTL: () => -toleranceMs - 1 }
  const entraAudiences = [...new Set([config.entra.clientId, config.entra.identifierUri])]

  const self = new Map<string, TrustedKey>()
  for (const { kid, publicPem } of selfKeys) {
    self.set(kid, {
      pem: publicPem,
      verify: createVerifier({ key: publicPem, allowedIss: config.issuer, allowedAud: audience, requiredClaims: SELF_REQUIRED, checkTyp: 'at+jwt', ...common }) as Verify
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
          verify: createVerifier({ key: pem, allowedIss: issuers, allowedAud: entraAudiences, requiredClaims: ENTRA_REQUIRED, ...common }) as Verify
        }),
        onProblem: (message, detail) => log.warn({ jwks: detail }, `entra signing keys: ${message}`),
        onRefresh: onJwksRefresh
      })
      entraKeySets.set(tid, set)
    }
    return set
  }

  return {
    self: (kid) => self.get(kid),
    async entra (tid, kid) {
      const set = keySetFor(tid)
      return set.peek(kid) ?? await set.get(kid)
    }
  }
}
