// The verification of one bearer token: which issuer could vouch for it (self-issued or Entra),
// its signature and claims, then what the store says of it (revocation, store epoch), and the
// report the `validate_token` tool shows. No Fastify: the plugin wires it to requests.
import type { FastifyRequest } from 'fastify'
import type { EpochRead } from '../store/contract.ts'
import { memoizeBounded } from '../shared/memoize.ts'
import type { Identity } from './identity.ts'
import type { TrustedKeys } from './trusted-keys.ts'
import { revocationKeys } from './revocation.ts'
import {
  TokenRejection, categorizeVerifyError, checkIssuedAt, checkLifetime, checkStoreEpoch, identityFromClaims,
  peekToken, routeIssuer, type EntraTrust, type IssuerRoute, type PeekedToken
} from './rules.ts'

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

/** A token whose signature and claims verified; what the store says of it is checked apart. */
export interface CheckedToken { route: IssuerRoute, peeked: PeekedToken, kid: string, payload: Record<string, unknown>, identity: Identity }

export interface TokenVerifier {
  /** Signature and claims, with no store read (fast-jwt caches a token seen before). */
  check: (token: string) => Promise<CheckedToken>
  /** The store entries a checked token depends on: ours, its revocation entries (read with the store epoch); Entra's, none. */
  stateReads: (checked: CheckedToken) => string[] | undefined
  /** Revocation and the store epoch, for a token of ours (`read` holds what stateReads asked for). */
  checkState: (checked: CheckedToken, read: EpochRead | undefined, request?: FastifyRequest) => VerifiedToken
}

export interface VerifierOptions {
  selfIssuer: string
  entra: EntraTrust
  clockToleranceSeconds: number
  keys: TrustedKeys
  /** Told of every store read made for a token of ours (the plugin notes a store reset). */
  onStoreRead: (read: EpochRead, request?: FastifyRequest) => void
  /** Only tokens this service issued (the admin API): an Entra token is refused before any key lookup. */
  selfOnly?: boolean
}

export function createTokenVerifier (opts: VerifierOptions): TokenVerifier {
  const toleranceMs = opts.clockToleranceSeconds * 1000

  // The token's header and payload as presented (untrusted; they only choose the key and rules),
  // decoded once per distinct token. The result is frozen: it is shared by every request using it.
  const peek = memoizeBounded((token: string) => {
    const peeked = peekToken(token)
    Object.freeze(peeked.header)
    Object.freeze(peeked.payload)
    return Object.freeze(peeked)
  }, 2000)

  async function check (token: string): Promise<CheckedToken> {
    const peeked = peek(token)
    const route = routeIssuer(peeked.payload, opts.selfIssuer, opts.entra)
    if (opts.selfOnly === true && route.kind !== 'self') throw new TokenRejection('wrong_issuer', 'This resource accepts only tokens issued by this service')
    const kid = peeked.kid
    if (kid === undefined) throw new TokenRejection('unknown_key', 'The token header names no signing key (kid)')
    const key = route.kind === 'self' ? opts.keys.self(kid) : await opts.keys.entra(route.tid, kid)
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

  function stateReads (checked: CheckedToken): string[] | undefined {
    return checked.route.kind === 'self' ? revocationKeys(checked.payload.jti as string, checked.payload.sid as string | undefined) : undefined
  }

  function checkState (checked: CheckedToken, read: EpochRead | undefined, request?: FastifyRequest): VerifiedToken {
    const checks = ['signature RS256', 'issuer', 'audience', 'expiry', 'not before', 'issued at', 'lifetime']
    if (checked.route.kind === 'self') {
      if (read === undefined) throw new Error('no store entries were read for a self-issued token')
      opts.onStoreRead(read, request)
      checkStoreEpoch(checked.payload.iat as number, read.epoch)
      if (read.values.some(v => v !== null)) throw new TokenRejection('revoked', 'The token has been revoked')
      checks.push('not revoked', 'issued after the store epoch')
    } else {
      checks.push('tenant allowed')
    }
    return { identity: checked.identity, report: tokenReport(checked, checks) }
  }

  return { check, stateReads, checkState }
}

/** The report of a token that passed `checks` (pure). */
export function tokenReport ({ route, payload, kid, peeked }: CheckedToken, checks: string[]): TokenReport {
  return {
    kind: route.kind,
    issuer: payload.iss as string,
    audience: payload.aud as string | string[],
    kid,
    alg: peeked.alg,
    ...(route.kind === 'entra' ? { version: route.version === 1 ? '1.0' : '2.0', tenant: route.tid } : {}),
    iat: typeof payload.iat === 'number' ? payload.iat : undefined,
    nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
    exp: payload.exp as number,
    checks
  }
}
